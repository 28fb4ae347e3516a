"""What tracing costs: bench/e2e.py's path with tracing off (no SDK) and on (the SDK batching every span to
an exporter that drops them, so the figure is the instrumentation's and the SDK's, not a network's), and on
with a sampler keeping a share of the traces (``--sample``, as OTEL_TRACES_SAMPLER=parentbased_traceidratio
would), runs alternated; then the cost of one hook while tracing is off, against doing nothing.

Run from the repository root (needs the otel extra)::

    .venv/bin/python bench/tracing.py                   # 5,000 events, 3 alternated runs per side
    .venv/bin/python bench/tracing.py --events 20000 --repeat 5 --sample 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import timeit
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT / "bench", ROOT / "src", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from e2e import RunResult, Side, run_interlink  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased  # noqa: E402

from interlink.observability import messaging, tracing  # noqa: E402


class Dropping(SpanExporter):
    """Takes every span and keeps none; counts them."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def run(args: argparse.Namespace, on: float) -> tuple[RunResult, int]:
    """One e2e run with tracing off (``on`` 0) or on, keeping the share ``on`` of the traces; the result
    and how many spans were exported."""
    exporter = Dropping()
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(on)))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=65536))
    if on:
        tracing.enable(provider)
    gc.collect()
    try:
        with tempfile.TemporaryDirectory(prefix="interlink-bench-") as tmp:
            side = Side(args.landscape, args.broker)
            result = asyncio.run(run_interlink(Path(tmp), args.events, args.concurrency, side, 300.0))
    finally:
        tracing.disable()
        provider.shutdown()
    return result, exporter.spans


def hooks_off() -> None:
    """Nanoseconds per call of the hooks while tracing is off, against an empty ``with``."""
    import contextlib

    empty = contextlib.nullcontext()
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    cases = {
        "empty with (reference)": lambda: empty.__enter__() or empty.__exit__(None, None, None),
        "with tracing.command(...)": lambda: tracing.command("d", "c", None).__exit__(None, None, None),
        "messaging.message_created(...)": lambda: messaging.message_created(
            parent, destination="d.events", message_id="m", message_type="t", conversation_id="c"
        ),
        "tracing.child_traceparent (before)": lambda: tracing.child_traceparent(parent),
    }
    print("\nhooks with tracing off, ns per call (best of 5 x 200,000):")
    for name, call in cases.items():
        best = min(timeit.repeat(call, number=200_000, repeat=5)) / 200_000 * 1e9
        print(f"  {name:38} {best:6.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--landscape", default="minimal")
    parser.add_argument("--broker", default="sqlite")
    parser.add_argument("--sample", type=float, default=0.01, help="share of traces kept on the third side")
    args = parser.parse_args()
    sides = (0.0, 1.0, args.sample)
    results: dict[float, list[RunResult]] = {on: [] for on in sides}
    spans: dict[float, int] = dict.fromkeys(sides, 0)
    for _ in range(args.repeat):
        for on in sides:
            result, exported = run(args, on)
            results[on].append(result)
            spans[on] = max(spans[on], exported)
    print(f"\n{args.events:,} events, {args.landscape} landscape, {args.broker} broker, medians of {args.repeat}")
    print(f"{'':30} {'events/s':>9} {'cpu us/ev':>9} {'spans/ev':>8}")
    for on, runs in results.items():
        rate = statistics.median(r.events_per_second for r in runs)
        cpu = statistics.median(r.cpu_seconds / r.events for r in runs) * 1e6
        label = "tracing off" if not on else f"tracing on, {on:.0%} of traces kept"
        print(f"{label:30} {rate:>9,.0f} {cpu:>9,.0f} {spans[on] / args.events:>8.2f}")
    hooks_off()


if __name__ == "__main__":
    main()
