"""The hand-written side of ``trickle.py``: a producer and a consumer written with the raw clients alone.

The producer inserts the order row (asyncpg, one transaction), then publishes (nats-py JetStream publish
with its ack / redis-py ``XADD`` / aio-pika persistent message into a durable quorum queue, its publisher
confirm awaited). The consumer fetches one message (``fetch(1)`` / ``XREADGROUP COUNT 1`` / prefetch 1),
writes the inbox mark and the shipment row in one transaction (:func:`raw_effect`), then acks. No outbox: an
event is lost if the producer dies between its commit and its publish. ``trickle_floor.py`` times the parts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from brokers import NATS, PG, RABBIT, REDIS, _pg
from brokers_split import _line, _say, backends, spent
from landscape import LANDSCAPES

SUBJECT = "{ns}.orders"


async def _tick(started: float, i: int, rate: float) -> None:
    delay = started + i / rate - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def _raw_pg(app: str) -> Any:
    import asyncpg

    return await asyncpg.connect(PG, server_settings={"application_name": app})


async def raw_producer(cfg: dict[str, Any]) -> None:
    land, ns, sch = LANDSCAPES["minimal"](), cfg["ns"], cfg["schema"]
    conn, sent = await _raw_pg(f"{ns}_p"), {}
    publish, close = await _raw_publisher(cfg["kind"], ns)
    _say(ready=True)
    await _line()
    cpu, started = time.process_time(), time.perf_counter()
    for i in range(cfg["events"]):
        await _tick(started, i, cfg["rate"])
        data = land.input(i)
        body = json.dumps({"order_id": data["id"], "customer": data["customer"], "amount": data["amount"]})
        async with conn.transaction():
            await conn.execute(f'INSERT INTO "{sch}".orders (id, data) VALUES ($1, $2)', data["id"], body)
        sent[data["id"]] = time.time()
        await publish(data["id"], body.encode())
    _say(cpu=time.process_time() - cpu, sent=sent)
    await close()
    await conn.close()


async def _raw_publisher(kind: str, ns: str) -> Any:
    if kind == "nats":
        import nats

        nc = await nats.connect(NATS)
        js = nc.jetstream()

        async def publish_nats(mid: str, body: bytes) -> None:
            await js.publish(SUBJECT.format(ns=ns), body, headers={"Nats-Msg-Id": mid})

        return publish_nats, nc.close
    if kind == "rabbitmq":
        import aio_pika

        connection = await aio_pika.connect(RABBIT)
        exchange = (await connection.channel(publisher_confirms=True)).default_exchange

        async def publish_rabbitmq(mid: str, body: bytes) -> None:
            message = aio_pika.Message(body, message_id=mid, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await exchange.publish(message, SUBJECT.format(ns=ns))  # returns once the broker confirmed it

        return publish_rabbitmq, connection.close
    import redis.asyncio as redis

    client = redis.Redis.from_url(REDIS)

    async def publish_redis(mid: str, body: bytes) -> None:
        await client.xadd(f"{ns}:orders", {"id": mid, "body": body})

    return publish_redis, client.aclose


def raw_effect(conn: Any, sch: str) -> Callable[[str, bytes], Awaitable[str]]:
    """The raw consumer's transaction: the inbox mark and, the first time, the shipment row, one commit.
    The function it returns takes a message (id, JSON body) and returns its order id."""
    insert_mark = f'INSERT INTO "{sch}".inbox (message_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1'
    insert_effect = f'INSERT INTO "{sch}".shipments (id, data) VALUES ($1, $2)'

    async def write(mid: str, body: bytes) -> str:
        event = json.loads(body)
        async with conn.transaction():
            if await conn.fetchval(insert_mark, mid):
                shipment = {"id": event["order_id"], "order_id": event["order_id"], "customer": event["customer"]}
                await conn.execute(insert_effect, event["order_id"], json.dumps(shipment))
        return str(event["order_id"])

    return write


async def raw_consumer(cfg: dict[str, Any]) -> None:
    ns, sch, app = cfg["ns"], cfg["schema"], f"{cfg['ns']}_c"
    conn, committed = await _raw_pg(app), {}
    write = raw_effect(conn, sch)

    async def handle(mid: str, body: bytes) -> None:
        committed[await write(mid, body)] = time.time()

    fetch_one, ack, close = await _raw_fetcher(cfg["kind"], ns)
    _say(ready=True, names={"subscriptions": [], "channels": []})
    await _line()
    db, cpu = await backends(app), time.process_time()
    deadline = time.perf_counter() + cfg["patience"]
    while len(committed) < cfg["events"] and time.perf_counter() < deadline:
        got = await fetch_one()
        if got is not None:
            await handle(got[0], got[1])
            await ack(got[2])
    cpu = time.process_time() - cpu
    _say(cpu=cpu, db=spent(db, await backends(app)), committed=committed, errors=0)
    await close()
    await conn.close()


async def _raw_fetcher(kind: str, ns: str) -> Any:
    if kind == "nats":
        import nats
        from nats.errors import TimeoutError as NatsTimeout

        nc = await nats.connect(NATS)
        js = nc.jetstream()
        await js.add_stream(name=ns, subjects=[SUBJECT.format(ns=ns)])
        sub = await js.pull_subscribe(SUBJECT.format(ns=ns), durable="c", stream=ns)

        async def fetch_nats() -> tuple[str, bytes, Any] | None:
            try:
                (msg,) = await sub.fetch(1, timeout=1)
            except NatsTimeout:
                return None
            return (msg.headers or {}).get("Nats-Msg-Id", ""), msg.data, msg

        async def ack_nats(msg: Any) -> None:
            await msg.ack()

        return fetch_nats, ack_nats, nc.close
    if kind == "rabbitmq":
        return await _raw_rabbitmq_fetcher(ns)
    import redis.asyncio as redis

    client, key = redis.Redis.from_url(REDIS), f"{ns}:orders"
    await client.xgroup_create(key, "g", id="0", mkstream=True)

    async def fetch_redis() -> tuple[str, bytes, Any] | None:
        reply = await client.xreadgroup("g", "c", {key: ">"}, count=1, block=1000)
        for _, entries in reply:
            for entry_id, fields in entries:
                return fields[b"id"].decode(), fields[b"body"], entry_id
        return None

    async def ack_redis(entry_id: Any) -> None:
        await client.xack(key, "g", entry_id)

    return fetch_redis, ack_redis, client.aclose


async def _raw_rabbitmq_fetcher(ns: str) -> Any:
    import aio_pika

    connection = await aio_pika.connect(RABBIT)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=1)
    queue = await channel.declare_queue(SUBJECT.format(ns=ns), durable=True, arguments={"x-queue-type": "quorum"})
    arrived: asyncio.Queue[Any] = asyncio.Queue()
    tag = await queue.consume(arrived.put)

    async def fetch_rabbitmq() -> tuple[str, bytes, Any] | None:
        try:
            message = await asyncio.wait_for(arrived.get(), 1)
        except TimeoutError:
            return None
        return message.message_id or "", message.body, message

    async def ack_rabbitmq(message: Any) -> None:
        await message.ack()

    async def close() -> None:
        await queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
        await connection.close()

    return fetch_rabbitmq, ack_rabbitmq, close


async def _raw_tables(sch: str) -> None:
    conn = await _pg()
    try:
        await conn.execute(f'CREATE SCHEMA "{sch}"')
        for table, columns in {
            "orders": "id text PRIMARY KEY, data jsonb NOT NULL",
            "shipments": "id text PRIMARY KEY, data jsonb NOT NULL",
            "inbox": "message_id text PRIMARY KEY",
        }.items():
            await conn.execute(f'CREATE TABLE "{sch}".{table} ({columns})')
    finally:
        await conn.close()
