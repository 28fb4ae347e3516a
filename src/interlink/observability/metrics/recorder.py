"""The recorder: OpenTelemetry instruments behind small hook functions the delivery code calls.

Nothing is recorded until :func:`~interlink.observability.metrics.enable_metrics` installs a recorder:
before that every hook returns at its first line, so a process without the SDK (or with metrics off) pays
one global lookup per call. Gauges are not measured on the hot path: :class:`Readings` holds the values
sampled from the stores (by the runtime) and read by the observable gauges at collection time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from interlink.observability.metrics.instruments import INSTRUMENTS, Instrument

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, Observation

__all__ = ["Readings", "Recorder"]

Attributes = dict[str, str | int]


class Readings:
    """The latest sampled value of each gauge, per attribute set; written by samplers, read by collection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # collection may run on the metrics server's thread
        self._values: dict[str, dict[tuple[tuple[str, str | int], ...], float]] = {}
        self._sources: list[Callable[[], Iterable[tuple[str, Attributes, float]]]] = []

    def set(self, name: str, attributes: Mapping[str, str | int], value: float) -> None:
        """Record the current value of gauge ``name`` for ``attributes``."""
        with self._lock:
            self._values.setdefault(name, {})[tuple(sorted(attributes.items()))] = value

    def add_source(self, source: Callable[[], Iterable[tuple[str, Attributes, float]]]) -> None:
        """A cheap in-memory reading (name, attributes, value), taken at every collection."""
        self._sources.append(source)

    def observe(self, name: str) -> list[tuple[Attributes, float]]:
        """Every value of gauge ``name``: the sampled ones and those of the live sources."""
        with self._lock:
            found = [(dict(k), v) for k, v in self._values.get(name, {}).items()]
        for source in list(self._sources):
            found += [(attributes, value) for n, attributes, value in source() if n == name]
        return found


class Recorder:
    """The instruments of :data:`INSTRUMENTS`, created on one OpenTelemetry meter.

    Counters are asynchronous (observable) counters over totals kept here: adding to a dict entry costs
    about a hundredth of a synchronous counter's ``add`` in the SDK, and a counter is added to for every
    message. The SDK reads the cumulative totals at each collection, which is what it exports either way.
    Histograms are the SDK's own: a distribution cannot be handed over pre-aggregated.
    """

    def __init__(self, meter: Meter) -> None:
        self.readings = Readings()
        self._instruments: dict[str, Any] = {}
        self._totals: dict[str, dict[tuple[tuple[str, str | int], ...], int]] = {
            spec.name: {} for spec in INSTRUMENTS if spec.kind == "counter"
        }
        for spec in INSTRUMENTS:
            self._instruments[spec.name] = self._create(meter, spec)

    def _create(self, meter: Meter, spec: Instrument) -> Any:
        if spec.kind == "counter":
            return meter.create_observable_counter(
                spec.name, callbacks=[self._counted(spec.name)], unit=spec.unit, description=spec.description
            )
        if spec.kind == "histogram":
            return meter.create_histogram(
                spec.name,
                unit=spec.unit,
                description=spec.description,
                explicit_bucket_boundaries_advisory=list(spec.buckets),
            )
        return meter.create_observable_gauge(
            spec.name, callbacks=[self._callback(spec.name)], unit=spec.unit, description=spec.description
        )

    def _callback(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        from opentelemetry.metrics import Observation

        def observe(_: CallbackOptions) -> Iterable[Observation]:
            return [Observation(value, attributes) for attributes, value in self.readings.observe(name)]

        return observe

    def _counted(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        from opentelemetry.metrics import Observation

        totals = self._totals[name]

        def observe(_: CallbackOptions) -> Iterable[Observation]:
            # A copy taken in one C call: the event loop may add a series while a scrape thread reads.
            return [Observation(value, dict(key)) for key, value in list(totals.items())]

        return observe

    def add(self, name: str, amount: int, attributes: Attributes) -> None:
        """Add to counter ``name``."""
        totals = self._totals[name]
        key = tuple(attributes.items())
        totals[key] = totals.get(key, 0) + amount

    def record(self, name: str, value: float, attributes: Attributes) -> None:
        """Record one value of histogram ``name``."""
        self._instruments[name].record(value, attributes)
