"""One message at a time: a steady trickle of events, consumer batch 1, beside a hand-written raw-client loop.

For each broker (``--broker``: nats, redis, rabbitmq) two sides run alternately, each as two processes (producer and
consumer) on PostgreSQL:

- ``interlink``: the ``minimal`` landscape of ``landscape.py``, the producer domain in one process and the
  consumer domain in another with ``consumer_batch=1``. The producer runs ``place_order`` at a steady
  ``--rate`` (default 100 per second), each command at its own tick; the consumer's handler runs
  ``open_shipment`` (one aggregate write and one inbox mark per message, acked after the commit).
- ``raw``: the loop one would write by hand with the same clients: the producer inserts the order row
  (asyncpg, one transaction) and then publishes (nats-py JetStream publish with its ack / redis-py XADD /
  aio-pika persistent message into a durable quorum queue, its publisher confirm awaited); the consumer fetches
  one message (JetStream pull ``fetch(1)`` / ``XREADGROUP COUNT 1`` / a consumer with prefetch 1), decodes its JSON
  body, inserts the inbox mark (``ON CONFLICT DO NOTHING``) and the shipment row in one transaction,
  commits, then acks. No outbox: an event is lost if the producer dies between its commit and its publish.

Printed per side (medians of ``--repeat`` alternated rounds): the end-to-end latency from the command
committed (the producer's ``execute`` returned / its transaction committed) to the effect committed (the
consumer's transaction holding the shipment returned), p50 and p99 over all messages of a run; and CPU per
message of the consumer's Python process, of its PostgreSQL backend(s) and of the producer's Python
process, over the whole trickle (the idle waits between messages included, as a deployment pays them).

    .venv/bin/python bench/trickle.py                          # nats redis, 1,000 events at 100/s, 3 rounds
    .venv/bin/python bench/trickle.py --broker nats --events 300 --repeat 1
    .venv/bin/python bench/trickle.py --broker rabbitmq
    .venv/bin/python bench/trickle.py --loop uvloop            # the Interlink processes on uvloop
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT / "bench", ROOT / "src", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from brokers import BROKERS, CLEANUP, PG, _drop_schemas, _fresh, _verify_sql  # noqa: E402
from brokers_split import Child, _line, _say, backends, cpu_seconds, server_pid, spent  # noqa: E402
from landscape import LANDSCAPES  # noqa: E402
from trickle_raw import _raw_tables, _tick, raw_consumer, raw_producer  # noqa: E402

# -- Interlink processes ----------------------------------------------------------------------------


async def interlink_producer(cfg: dict[str, Any]) -> None:
    from interlink.runtime import Runtime, Settings

    land = LANDSCAPES["minimal"]()
    settings = Settings(store_url=f"{cfg['store']}&application_name={cfg['ns']}_p", broker_url=cfg["broker"])
    async with Runtime([land.producer], settings) as rt:
        domain, sent = rt[land.producer.name], {}
        _say(ready=True)
        await _line()
        cpu, started = time.process_time(), time.perf_counter()
        for i in range(cfg["events"]):
            await _tick(started, i, cfg["rate"])
            data = land.input(i)
            await domain.execute(land.command, data)
            sent[data["id"]] = time.time()
        while (await domain.store.outbox_status()).pending:  # noqa: ASYNC110 - the relay's progress
            await asyncio.sleep(0.01)
        _say(cpu=time.process_time() - cpu, sent=sent)


async def interlink_consumer(cfg: dict[str, Any]) -> None:
    from interlink.runtime import Runtime, Settings

    land = LANDSCAPES["minimal"]()
    app = f"{cfg['ns']}_c"
    settings = Settings(store_url=f"{cfg['store']}&application_name={app}", broker_url=cfg["broker"], consumer_batch=1)
    kind, done = land.effect.aggregate_name(), asyncio.Event()
    committed: dict[str, float] = {}
    async with Runtime([land.consumer], settings) as rt:
        domain = rt[land.consumer.name]
        store, commit = domain.store, domain.store.commit

        async def timed(changes: Any) -> None:  # the effect's commit time: when the store's commit returned
            await commit(changes)
            now = time.time()
            for change in changes:
                committed.update((w.id, now) for w in change.writes if w.kind == kind)
            if len(committed) >= cfg["events"]:
                done.set()

        store.commit = timed  # type: ignore[method-assign]
        names = {
            "subscriptions": [c.subscription.name for c in domain.consumers],
            "channels": sorted({ch for c in domain.consumers for ch in c.subscription.channels}),
        }
        _say(ready=True, names=names)
        await _line()
        db, cpu = await backends(app), time.process_time()
        await asyncio.wait_for(done.wait(), cfg["patience"])
        cpu = time.process_time() - cpu
        errors = sum(sum(c.stats.errors.values()) + c.stats.dead_lettered for c in domain.consumers)
        _say(cpu=cpu, db=spent(db, await backends(app)), committed=committed, errors=errors)


ROLES = {
    "interlink-producer": interlink_producer,
    "interlink-consumer": interlink_consumer,
    "raw-producer": raw_producer,
    "raw-consumer": raw_consumer,
}


# -- the parent -------------------------------------------------------------------------------------


def run_side(args: argparse.Namespace, broker: str, side: str, events: int) -> dict[str, float]:
    """One run of one side; its figures. Verified (N effects, none twice), then its names removed."""
    land, ns = LANDSCAPES["minimal"](), _fresh()
    schemas = [f"{ns}_{d.name}".replace("-", "_").lower() for d in (land.producer, land.consumer)]
    raw_schema = f"{ns}_raw"
    cfg = {
        "kind": broker, "ns": ns, "events": events, "rate": args.rate, "patience": events / args.rate + 60,
        "store": f"{PG}?schema={ns}_{{domain}}", "broker": BROKERS[broker].format(ns=ns), "schema": raw_schema,
        "loop": args.loop,
    }  # fmt: skip
    names: dict[str, set[str]] = {"subscriptions": set(), "channels": set()}
    children: list[Child] = []
    try:
        if side == "raw":
            asyncio.run(_raw_tables(raw_schema))
        cons = Child(f"{side}-consumer", cfg, __file__)
        children.append(cons)
        for key, values in cons.read().get("names", {}).items():
            names[key].update(values)
        prod = Child(f"{side}-producer", cfg, __file__)
        children.append(prod)
        prod.read()
        server = server_pid(broker)
        broker_cpu = cpu_seconds(server) if server else 0.0
        cons.send("go")
        prod.send("go")
        p, c = prod.read(), cons.read()
        broker_cpu = (cpu_seconds(server) - broker_cpu) if server else 0.0
        sent, committed = p["sent"], c["committed"]
        if len(committed) != events or set(committed) != set(sent) or c["errors"]:
            raise RuntimeError(f"{side} on {broker}: {len(committed)} effects of {events}, {c['errors']} errors")
        if side == "interlink" and (problems := asyncio.run(_verify_sql(schemas, events, land))):
            raise RuntimeError(f"{side} on {broker}: " + "; ".join(problems))
        latencies = sorted((committed[k] - sent[k]) * 1000 for k in sent)
        return {
            "p50": latencies[len(latencies) // 2],
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "consumer": c["cpu"] / events * 1e6,
            "consumer db": c["db"] / events * 1e6,
            "producer": p["cpu"] / events * 1e6,
            "broker": broker_cpu / events * 1e6,
        }
    finally:
        for child in children:
            child.finish()
        asyncio.run(_cleanup(broker, [*schemas, raw_schema], ns, names))


async def _cleanup(broker: str, schemas: list[str], ns: str, names: dict[str, set[str]]) -> None:
    await _drop_schemas(schemas)
    await CLEANUP[broker](ns, names)


FIGURES = ("p50", "p99", "consumer", "consumer db", "producer", "broker")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--broker", action="append", choices=("nats", "redis", "rabbitmq"), help="repeatable (default: nats redis)"
    )
    parser.add_argument("--events", type=int, default=1000, help="events per run (default 1000)")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second (default 100)")
    parser.add_argument("--repeat", type=int, default=3, help="alternated rounds (default 3)")
    parser.add_argument("--warmup", type=int, default=100, help="events of one untimed run per side (default 100)")
    parser.add_argument(
        "--loop", choices=("asyncio", "uvloop"), default="asyncio", help="the Interlink processes' event loop"
    )
    args = parser.parse_args(argv)
    brokers = list(dict.fromkeys(args.broker or ["nats", "redis"]))
    results: dict[tuple[str, str], list[dict[str, float]]] = {(b, s): [] for b in brokers for s in ("interlink", "raw")}
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, load average {os.getloadavg()[0]:.2f}")
    try:
        if args.warmup:
            for broker, side in results:
                run_side(args, broker, side, args.warmup)
        for round_ in range(args.repeat):
            for broker in brokers:
                order = ["interlink", "raw"] if round_ % 2 == 0 else ["raw", "interlink"]
                for side in order:
                    figures = run_side(args, broker, side, args.events)
                    results[broker, side].append(figures)
                    print(f"run {round_ + 1}/{args.repeat} {broker:6} {side:9} " + _row(figures), flush=True)
    except RuntimeError as exc:
        print(f"\nVERIFICATION FAILED: {exc}", file=sys.stderr)
        return 1
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\n{args.events:,} events at {args.rate:g}/s, consumer batch 1, PostgreSQL, medians of {args.repeat} "
        f"alternated round(s); Interlink on {args.loop}; {dt.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} "
        f"cores, Python {platform.python_version()}, load average {load}"
    )
    header = (
        f"{'':24}{'p50 ms':>9}{'p99 ms':>9}   CPU us/msg: {'consumer':>9}{'cons. db':>9}{'producer':>9}{'broker':>9}"
    )
    print(header)
    print("-" * len(header))
    for (broker, side), runs in results.items():
        med = {f: statistics.median(r[f] for r in runs) for f in FIGURES}
        print(f"{broker + ' ' + side:24}" + _row(med))
    print(
        "latency: command committed -> effect committed; CPU per message over the whole trickle (idle waits\n"
        "included): the consumer's Python process, its PostgreSQL backend(s), the producer's Python process,\n"
        "the broker server"
    )
    return 0


def _row(f: dict[str, float]) -> str:
    return (
        f"{f['p50']:>9.1f}{f['p99']:>9.1f}   {'':12}{f['consumer']:>9,.0f}{f['consumer db']:>9,.0f}"
        f"{f['producer']:>9,.0f}{f['broker']:>9,.0f}"
    )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] in ROLES:
        from interlink.runtime.loop import run

        config = json.loads(sys.argv[2])
        choice = config["loop"] if sys.argv[1].startswith("interlink") else "asyncio"
        run(ROLES[sys.argv[1]](config), choice=choice)
    else:
        sys.exit(main())
