"""End to end per network broker, PostgreSQL store, beside the raw client library alone.

For each broker (``--broker``: rabbitmq, nats, redis) the sides run alternately:

- ``split`` (``--layout split``, the default): the same landscape with the producer domain and the consumer
  domain each in its own process, as a deployment runs them (``brokers_split.py``); CPU per event printed
  per process: the two Python processes, each one's PostgreSQL backends, and the broker server.
- ``consume`` (``--consume``): the consume side alone, N events published beforehand by the producer
  process, then the consumer domain alone in its own process, timed from its start to its N-th commit.
- ``interlink`` (``--layout one``): the ``minimal`` landscape of ``landscape.py`` (two domains in one
  Runtime), each domain on its own fresh PostgreSQL schema, the broker under a fresh namespace. Timed from
  the first command until the consumer committed the N-th effect (command -> outbox -> relay -> broker ->
  handler commit). Then the schemas are counted with SQL (all sides of Interlink): N orders, N shipments,
  N inbox marks, no outbox row, no dead letter, or the script exits with 1. Schemas, queues, streams and
  keys are removed afterwards.
- ``raw``: the client library alone, no database, N messages of the size of the Interlink event body,
  producer and consumer running concurrently, timed from the first publish to the last ack:
  aio-pika with publisher confirms (batches of ``--batch`` published, then their confirms awaited) into a
  durable quorum queue and a consumer acking each message; nats-py JetStream ``publish_async`` (batches,
  then their acks awaited) into a file stream and a durable pull consumer fetching 500 and acking each;
  redis-py pipelined XADD and XREADGROUP (500) + XACK.

Run from the repository root::

    .venv/bin/python bench/brokers.py                        # rabbitmq nats redis, 10,000 events, 3 rounds
    .venv/bin/python bench/brokers.py --broker redis --events 2000 --repeat 1
    .venv/bin/python bench/brokers.py --broker nats --broker redis --consume   # + the consume side alone
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT / "bench", ROOT / "src", ROOT):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from brokers_split import run_split  # noqa: E402
from landscape import LANDSCAPES  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432/test"
CONSUMERS = 1  # --consumers
BROKERS = {
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/?namespace={ns}",
    "nats": "nats://127.0.0.1:4222?namespace={ns}",
    "redis": "redis://127.0.0.1:6379/0?namespace={ns}",
}
RABBIT = "amqp://guest:guest@127.0.0.1:5672/"
NATS = "nats://127.0.0.1:4222"
REDIS = "redis://127.0.0.1:6379/0"


class VerificationFailed(Exception):
    """A run did not leave (or receive) exactly one effect per command."""


@dataclass(frozen=True)
class Run:
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    cpu: dict[str, float] = field(default_factory=dict)  # not measured on one-process sides


def _fresh() -> str:
    return f"bench_{uuid.uuid4().hex[:10]}"


# -- interlink ---------------------------------------------------------------------------------------


async def run_interlink(broker: str, events: int, concurrency: int, patience: float, sizes: list[int]) -> Run:
    """The minimal landscape on PostgreSQL + ``broker``; verified by SQL; schemas and broker names removed."""
    from interlink.runtime import Runtime, Settings

    land = LANDSCAPES["minimal"]()
    ns = _fresh()
    schemas = [f"{ns}_{d.name}".replace("-", "_").lower() for d in (land.producer, land.consumer)]
    settings = Settings(
        store_url=f"{PG}?schema={ns}_{{domain}}",
        broker_url=BROKERS[broker].format(ns=ns),
        consumers_per_domain=CONSUMERS,
    )
    names: dict[str, set[str]] = {"subscriptions": set(), "channels": set()}
    try:
        async with Runtime([land.producer, land.consumer], settings) as rt:
            producer, consumer = rt[land.producer.name], rt[land.consumer.name]
            for c in consumer.consumers:
                names["subscriptions"].add(c.subscription.name)
                names["channels"].update(c.subscription.channels)
            _record_sizes(producer.broker, sizes)
            numbers = iter(range(events))

            async def drive() -> None:
                for i in numbers:  # shared iterator: every worker takes the next number
                    await producer.execute(land.command, land.input(i))

            started = time.perf_counter()
            await asyncio.gather(*(drive() for _ in range(concurrency)))
            deadline = time.perf_counter() + patience
            while (done := sum(c.stats.processed for c in consumer.consumers)) < events:
                if time.perf_counter() > deadline:
                    raise VerificationFailed(f"{broker}: only {done} of {events} effects after {patience:.0f}s")
                await asyncio.sleep(0.002)
            finished = time.perf_counter()
            stats = [c.stats for c in consumer.consumers]
        problems = [f"consumer errors {s.errors}" for s in stats if s.errors or s.dead_lettered]
        problems += await _verify_sql(schemas, events, land)
        if problems:
            raise VerificationFailed(f"interlink on {broker}: " + "; ".join(problems))
        return Run(events, finished - started)
    finally:
        await _drop_schemas(schemas)
        await CLEANUP[broker](ns, names)


def run_processes(
    broker: str, layout: str, events: int, concurrency: int, patience: float, loop: str = "asyncio"
) -> Run:
    """The minimal landscape, a process per domain (``brokers_split``); verified by SQL, then removed."""
    land = LANDSCAPES["minimal"]()
    ns = _fresh()
    schemas = [f"{ns}_{d.name}".replace("-", "_").lower() for d in (land.producer, land.consumer)]
    config = {
        "kind": broker,
        "ns": ns,
        "store": f"{PG}?schema={ns}_{{domain}}",
        "broker": BROKERS[broker].format(ns=ns),
        "events": events,
        "concurrency": concurrency,
        "consumers": CONSUMERS,
        "patience": patience,
        "loop": loop,
    }
    names: dict[str, set[str]] = {"subscriptions": set(), "channels": set()}
    try:
        try:
            run, errors = run_split(config, layout, names)
        except RuntimeError as exc:
            raise VerificationFailed(f"{layout} on {broker}: {exc}") from exc
        problems = [f"consumer errors {errors}"] if errors else []
        problems += asyncio.run(_verify_sql(schemas, events, land))
        if problems:
            raise VerificationFailed(f"{layout} on {broker}: " + "; ".join(problems))
        return Run(run.events, run.seconds, run.cpu)
    finally:
        asyncio.run(_cleanup(broker, schemas, ns, names))


async def _cleanup(broker: str, schemas: list[str], ns: str, names: dict[str, set[str]]) -> None:
    await _drop_schemas(schemas)
    await CLEANUP[broker](ns, names)


def _record_sizes(broker: Any, sizes: list[int]) -> None:
    """Note the body size of published messages (for the raw side), by wrapping this instance's publish."""
    publish = broker.publish

    async def recording(messages: Any) -> None:
        if messages and len(sizes) < 100:
            sizes.extend(len(m.body) for m in messages[:10])
        await publish(messages)

    broker.publish = recording


async def _pg() -> Any:
    import asyncpg

    return await asyncpg.connect(user="postgres", host="127.0.0.1", port=5432, database="test")


async def _verify_sql(schemas: list[str], events: int, land: Any) -> list[str]:
    from interlink.adapters.stores import schema

    prod, cons = schemas
    of_kind = f"SELECT count(*) FROM {{}}.{schema.aggregates.name} WHERE kind = $1"
    expected = [
        (f"{land.produced.__name__} aggregates", prod, of_kind, land.produced.aggregate_name()),
        (f"{land.effect.__name__} aggregates", cons, of_kind, land.effect.aggregate_name()),
        ("inbox marks", cons, f"SELECT count(*) FROM {{}}.{schema.inbox.name}"),
    ]
    empty = [
        ("unsent outbox rows", prod, f"SELECT count(*) FROM {{}}.{schema.outbox.name}"),
        ("dead letters", cons, f"SELECT count(*) FROM {{}}.{schema.dead_letters.name}"),
    ]
    problems = []
    conn = await _pg()
    try:
        for what, sch, sql, *params in expected:
            if (n := await conn.fetchval(sql.format(f'"{sch}"'), *params)) != events:
                problems.append(f"{n} {what} for {events} commands")
        for what, sch, sql in empty:
            if n := await conn.fetchval(sql.format(f'"{sch}"')):
                problems.append(f"{n} {what} left")
    finally:
        await conn.close()
    return problems


async def _drop_schemas(schemas: list[str]) -> None:
    conn = await _pg()
    try:
        for sch in schemas:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{sch}" CASCADE')
    finally:
        await conn.close()


async def _clean_rabbitmq(ns: str, names: dict[str, set[str]]) -> None:
    import aio_pika

    from interlink.adapters.brokers.rabbitmq.config import RETRY_DELAYS, parse_url

    s = parse_url(BROKERS["rabbitmq"].format(ns=ns))
    queues = [q for sub in names["subscriptions"] for q in (s.queue(sub), s.dead_letter_queue(sub))]
    retries = [s.retry_queue(b) for b in RETRY_DELAYS]
    connection = await aio_pika.connect(RABBIT)
    async with connection:
        for name in [*queues, *retries]:
            channel = await connection.channel()  # a failed delete closes its channel
            with contextlib.suppress(Exception):  # best effort: it may never have been declared
                await channel.queue_delete(name)
        for name in [*(s.exchange(c) for c in names["channels"]), *retries]:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.exchange_delete(name)


async def _clean_nats(ns: str, names: dict[str, set[str]]) -> None:
    import nats

    nc = await nats.connect(NATS)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name.startswith(f"{ns}_") or info.config.name == ns:
                await js.delete_stream(info.config.name)
    finally:
        await nc.close()


async def _clean_redis(ns: str, names: dict[str, set[str]]) -> None:
    import redis.asyncio as redis

    client = redis.Redis.from_url(REDIS)
    try:
        keys = [key async for key in client.scan_iter(match=f"{ns}:*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i : i + 500])
    finally:
        await client.aclose()


CLEANUP: dict[str, Callable[[str, dict[str, set[str]]], Awaitable[None]]] = {
    "rabbitmq": _clean_rabbitmq,
    "nats": _clean_nats,
    "redis": _clean_redis,
}


# -- raw clients -------------------------------------------------------------------------------------


async def raw_rabbitmq(events: int, size: int, batch: int, patience: float) -> Run:
    """aio-pika: durable quorum queue, persistent messages, confirms per batch; consumer acks each."""
    import aio_pika

    name, body = f"{_fresh()}.raw", os.urandom(size // 2).hex().encode()[:size]
    connection = await aio_pika.connect(RABBIT)
    async with connection:
        pub = await connection.channel(publisher_confirms=True)
        sub = await connection.channel()
        await sub.set_qos(prefetch_count=400)
        queue = await sub.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        try:
            done = asyncio.get_running_loop().create_future()
            acked = 0

            async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                nonlocal acked
                await message.ack()
                acked += 1
                if acked == events and not done.done():
                    done.set_result(time.perf_counter())

            tag = await queue.consume(on_message)

            async def produce() -> None:
                exchange = pub.default_exchange
                for start in range(0, events, batch):
                    await asyncio.gather(
                        *(
                            exchange.publish(
                                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), name
                            )
                            for _ in range(min(batch, events - start))
                        )
                    )

            started = time.perf_counter()
            await produce()
            finished = await _wait(done, patience, f"raw rabbitmq: {acked} of {events} acked")
            await queue.cancel(tag)
            return Run(events, finished - started)
        finally:
            await pub.queue_delete(name)


async def raw_nats(events: int, size: int, batch: int, patience: float) -> Run:
    """nats-py: file stream, publish_async per batch then await its acks; durable pull consumer, fetch + ack."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

    ns, body = _fresh(), os.urandom(size // 2).hex().encode()[:size]
    nc = await nats.connect(NATS)
    try:
        js = nc.jetstream(publish_async_max_pending=max(4000, batch * 2))
        await js.add_stream(StreamConfig(name=ns, subjects=[f"{ns}.>"], storage=StorageType.FILE))
        psub = await js.pull_subscribe(
            f"{ns}.>",
            durable="raw",
            stream=ns,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=20_000),
        )
        try:

            async def produce() -> None:
                for start in range(0, events, batch):
                    for _ in range(min(batch, events - start)):
                        await js.publish_async(f"{ns}.bench.OrderPlaced", body)
                    await js.publish_async_completed()

            async def consume() -> float:
                acked, deadline = 0, time.perf_counter() + patience
                while acked < events:
                    if time.perf_counter() > deadline:
                        raise VerificationFailed(f"raw nats: {acked} of {events} acked")
                    try:
                        msgs = await psub.fetch(500, timeout=1.0)
                    except nats.errors.TimeoutError:
                        continue
                    for msg in msgs:
                        await msg.ack()
                    acked += len(msgs)
                await nc.flush()
                return time.perf_counter()

            started = time.perf_counter()
            _, finished = await asyncio.gather(produce(), consume())
            return Run(events, finished - started)
        finally:
            await psub.unsubscribe()
            await js.delete_stream(ns)
    finally:
        await nc.close()


async def raw_redis(events: int, size: int, batch: int, patience: float) -> Run:
    """redis-py: pipelined XADD per batch; XREADGROUP 500 + one XACK per read."""
    import redis.asyncio as redis

    key, body = f"{_fresh()}:raw", os.urandom(size // 2).hex().encode()[:size]
    producer, consumer = redis.Redis.from_url(REDIS), redis.Redis.from_url(REDIS)
    try:
        await consumer.xgroup_create(key, "g", id="0", mkstream=True)

        async def produce() -> None:
            for start in range(0, events, batch):
                async with producer.pipeline(transaction=False) as pipe:
                    for _ in range(min(batch, events - start)):
                        pipe.xadd(key, {"body": body})
                    await pipe.execute()

        async def consume() -> float:
            acked, deadline = 0, time.perf_counter() + patience
            while acked < events:
                if time.perf_counter() > deadline:
                    raise VerificationFailed(f"raw redis: {acked} of {events} acked")
                reply = await consumer.xreadgroup("g", "c", {key: ">"}, count=500, block=1000)
                ids = [mid for _, entries in reply for mid, _ in entries]
                if ids:
                    acked += await consumer.xack(key, "g", *ids)
            return time.perf_counter()

        started = time.perf_counter()
        _, finished = await asyncio.gather(produce(), consume())
        return Run(events, finished - started)
    finally:
        await producer.delete(key)
        await producer.aclose()
        await consumer.aclose()


async def _wait(done: asyncio.Future[float], patience: float, what: str) -> float:
    try:
        return await asyncio.wait_for(asyncio.shield(done), patience)
    except TimeoutError:
        raise VerificationFailed(what) from None


RAW: dict[str, Callable[[int, int, int, float], Awaitable[Run]]] = {
    "rabbitmq": raw_rabbitmq,
    "nats": raw_nats,
    "redis": raw_redis,
}


# -- running and reporting ---------------------------------------------------------------------------


def run_once(args: argparse.Namespace, broker: str, kind: str, events: int, sizes: list[int]) -> Run:
    gc.collect()
    if kind == "interlink":
        return asyncio.run(run_interlink(broker, events, args.concurrency, args.timeout, sizes))
    layout, _, loop = kind.partition("@")
    if layout in ("split", "consume"):
        return run_processes(broker, layout, events, args.concurrency, args.timeout, loop or "asyncio")
    size = round(statistics.median(sizes)) if sizes else 200
    return asyncio.run(RAW[broker](events, size, args.batch, args.timeout))


LABELS = {
    "interlink": "interlink + postgres, 1 process",
    "split": "interlink + postgres, 2 processes",
    "consume": "consume side alone",
    "raw": "raw client",
}
CPU = ("producer", "producer db", "consumer", "consumer db", "broker")


def sides(args: argparse.Namespace, broker: str) -> list[str]:
    """The sides of one broker, in the order of the first round (``KIND@uvloop``: its processes on uvloop)."""
    found = [args.layout, "raw", *(["consume"] if args.consume else [])]
    if args.loop == "uvloop":
        return [f"{k}@uvloop" if k in ("split", "consume") else k for k in found]
    if args.loop == "both":
        return [k for kind in found for k in ([kind, f"{kind}@uvloop"] if kind in ("split", "consume") else [kind])]
    return found


def print_table(args: argparse.Namespace, results: dict[tuple[str, str], list[Run]], size: int) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"\n{args.events:,} events, {args.concurrency} commands in flight, medians of {args.repeat} alternated "
        f"round(s), messages of {size} bytes; {dt.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} cores "
        f"{platform.machine()}, Python {platform.python_version()}, load average {load}"
    )
    cpu = " ".join(f"{c:>11}" for c in (*CPU, "sum"))
    header = f"{'':44} {'events/s':>9} {'(min-max)':>17} {'seconds':>7} {'x raw':>6}  CPU us/event: {cpu}"
    print(header)
    print("-" * len(header))
    for broker in args.broker:
        raw = statistics.median(r.rate for r in results[broker, "raw"])
        for kind in sides(args, broker):
            runs = results[broker, kind]
            rates = [r.rate for r in runs]
            rate = statistics.median(rates)
            layout, _, loop = kind.partition("@")
            label = f"{broker} {LABELS[layout]}" + (f", {loop}" if loop else "")
            line = (
                f"{label:44} {rate:>9,.0f} {f'({min(rates):,.0f}-{max(rates):,.0f})':>17} "
                f"{statistics.median(r.seconds for r in runs):>7.2f} {rate / raw:>5.2f}x"
            )
            if runs[0].cpu:
                per = [statistics.median(r.cpu.get(c, 0.0) / r.events * 1e6 for r in runs) for c in CPU]
                total = statistics.median(sum(r.cpu.values()) / r.events * 1e6 for r in runs)
                line += "  " + " " * 14 + " ".join(f"{x:>11,.0f}" for x in (*per, total))
            print(line)
    print(
        "interlink: first command to N-th effect committed (minimal landscape, PostgreSQL store);\n"
        "consume side alone: N events published beforehand, consumer process start to N-th effect committed;\n"
        "raw client: first publish to last ack, producer and consumer concurrent, no database;\n"
        "CPU: user + system over the timed interval of each Python process, its store's PostgreSQL backends\n"
        "and the broker server (0: not measured there, or not on this side)"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Interlink end to end per network broker (PostgreSQL store) beside the raw client "
        "library alone (publish with confirms, consume with acks, no database), run alternately.",
    )
    parser.add_argument(
        "--broker", action="append", choices=sorted(BROKERS), help="repeatable (default: rabbitmq nats redis)"
    )
    parser.add_argument("--events", type=int, default=10_000, help="events per run (default 10000)")
    parser.add_argument("--repeat", type=int, default=3, help="alternated rounds (default 3)")
    parser.add_argument("--concurrency", type=int, default=500, help="commands in flight (default 500)")
    parser.add_argument("--batch", type=int, default=500, help="raw side: messages per publish batch (default 500)")
    parser.add_argument("--warmup", type=int, default=1000, help="events of one untimed run per side (default 1000)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the last one (default 300)")
    parser.add_argument(
        "--consumers", type=int, default=1, help="interlink side: competing consumers per domain (default 1)"
    )
    parser.add_argument(
        "--layout",
        choices=("split", "one"),
        default="split",
        help="interlink side: a process per domain (split, default) or both domains in this process (one)",
    )
    parser.add_argument(
        "--consume", action="store_true", help="also the consume side alone (N events published beforehand)"
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop", "both"),
        default="asyncio",
        help="interlink processes (split, consume) on asyncio's loop (default), on uvloop, or both side by side",
    )
    args = parser.parse_args(argv)
    if args.loop != "asyncio" and args.layout != "split":
        parser.error("--loop uvloop/both needs --layout split (the processes of the Interlink side)")
    args.layout = "split" if args.layout == "split" else "interlink"
    global CONSUMERS
    CONSUMERS = args.consumers
    args.broker = list(dict.fromkeys(args.broker or ["rabbitmq", "nats", "redis"]))
    if min(args.events, args.repeat, args.concurrency, args.batch) < 1 or args.warmup < 0:
        parser.error("--events, --repeat, --concurrency, --batch must be >= 1, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    every = [(broker, kind) for broker in args.broker for kind in sides(args, broker)]
    results: dict[tuple[str, str], list[Run]] = {side: [] for side in every}
    sizes: list[int] = []
    print(f"{dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, load average {os.getloadavg()[0]:.2f}")
    try:
        if args.warmup:
            for broker, kind in every:
                run_once(args, broker, kind, args.warmup, sizes)
        for round_ in range(args.repeat):
            for broker in args.broker:
                order = sides(args, broker)
                for kind in order if round_ % 2 == 0 else order[::-1]:
                    result = run_once(args, broker, kind, args.events, sizes)
                    results[broker, kind].append(result)
                    # Each run's CPU sum too: an aim on it holds for every run, not only for the median.
                    cpu = sum(result.cpu.values()) / result.events * 1e6 if result.cpu else None
                    print(
                        f"run {round_ + 1}/{args.repeat} {broker:8} {kind:9} {result.rate:>8,.0f} events/s "
                        f"{result.seconds:>6.2f} s" + (f"  CPU {cpu:,.0f} us/event, all processes" if cpu else ""),
                        flush=True,
                    )
        print_table(args, results, round(statistics.median(sizes)) if sizes else 200)
    except VerificationFailed as exc:
        print(f"\nVERIFICATION FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
