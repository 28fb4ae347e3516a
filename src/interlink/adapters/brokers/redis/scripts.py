"""The key layout of the Redis broker and the Lua scripts that keep each operation atomic.

Keys, all under ``<namespace>:``:

- ``stream:<channel>``: a stream per channel (a producing domain's events, or a domain's commands); each
  entry holds ``message_id``, ``type``, ``channel`` and ``body``;
- ``seen:<message id>``: set with a TTL of the dedupe window, written with the entry by one script;
- ``subscriptions``: the names of every declared subscription;
- ``sub:<name>:channels``, ``sub:<name>:types``: a subscription's filter (sets only ever widened); its
  consumer group, named after it, exists on the stream of each of its channels;
- ``sub:<name>:delayed``: sorted set of retried entries (``"<entry id> <stream key>"``) by due time (ms).

An entry lacking ``message_id``, ``type`` or ``body`` is handed out like any other, marked defective with
the reason, so the consumer parks it in the store's dead letters (earlier versions moved it to a
``sub:<name>:dead`` stream of Redis's own, which nothing listed).

A retried entry stays pending in its group (the group keeps its delivery count, which is the attempt) and
is handed out again by ``XCLAIM`` once due. Scripts read the server's clock (``TIME``), so the clocks of
the clients never matter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from interlink.ports.broker import OutgoingMessage, Subscription

__all__ = [
    "CLEANUP",
    "FETCH",
    "FILTER",
    "PUBLISH",
    "RETRY",
    "SCRIPTS",
    "SUBSCRIBE",
    "TRIM",
    "Fetched",
    "Keys",
    "New",
    "publish_chunks",
]


@dataclass(frozen=True)
class Keys:
    """Key names of one namespace."""

    namespace: str

    def stream(self, channel: str) -> str:
        """The stream of ``channel``."""
        return f"{self.namespace}:stream:{channel}"

    def seen(self, message_id: str) -> str:
        """The dedupe marker of ``message_id``."""
        return f"{self.namespace}:seen:{message_id}"

    @property
    def subscriptions(self) -> str:
        """The set of declared subscription names."""
        return f"{self.namespace}:subscriptions"

    def sub(self, name: str, part: str) -> str:
        """``channels``, ``types`` or ``delayed`` of subscription ``name``."""
        return f"{self.namespace}:sub:{name}:{part}"

    def publish(self, messages: Sequence[OutgoingMessage], window_ms: int) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of :data:`PUBLISH`."""
        keys: list[str] = []
        args: list[Any] = [window_ms]
        for m in messages:
            keys += (self.seen(m.message_id), self.stream(m.channel))
            args += (m.message_id, m.type, m.channel, m.body)
        return keys, args

    def subscribe(self, subscription: Subscription, start: str) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of :data:`SUBSCRIBE`."""
        name, channels = subscription.name, sorted(subscription.channels)
        keys = [self.subscriptions, self.sub(name, "channels"), self.sub(name, "types")]
        keys += [self.stream(c) for c in channels]
        return keys, [name, start, len(channels), *channels, *sorted(subscription.types)]


@dataclass(frozen=True)
class Fetched:
    """What :data:`FETCH` returned: ``status`` is ``ok``, or ``unknown`` / ``nogroup`` when the server lost
    the subscription's state (and nothing else is set)."""

    status: str
    due_in: float = -1.0  # seconds until the next delayed entry is due; -1 when none waits
    cursors: tuple[bytes, ...] = ()
    #: stream index, entry id, message id, body, attempt, defect ('' for a well-formed entry)
    entries: tuple[tuple[int, bytes, str, bytes, int, str], ...] = ()
    last: tuple[bytes, ...] = ()

    @classmethod
    def parse(cls, reply: list[Any]) -> Fetched:
        """Decode the script's raw reply."""
        status = reply[0].decode()
        if status != "ok":
            return cls(status)
        _, due_ms, cursors, flat, last = reply
        entries = tuple(
            (int(flat[i]) - 1, flat[i + 1], flat[i + 2].decode(), _raw(flat[i + 3]), int(flat[i + 4]),
             flat[i + 5].decode())
            for i in range(0, len(flat), 6)
        )  # fmt: skip
        return cls(status, due_ms / 1000 if due_ms >= 0 else -1.0, tuple(cursors), entries, tuple(last))


@dataclass(frozen=True)
class New:
    """Entries that a blocking ``XREADGROUP`` handed to this consumer (attempt 1), checked as :data:`FETCH`
    checks them: ``entries`` as in :class:`Fetched`; ``unsure``, the positions in ``entries`` of those whose
    type was not known to be wanted, for :data:`FILTER` to decide."""

    entries: tuple[tuple[int, bytes, str, bytes, int, str], ...]
    unsure: tuple[int, ...]
    types: tuple[bytes, ...]  # the type of each unsure entry

    @classmethod
    def parse(cls, reply: list[Any] | None, index: dict[str, int], wanted: frozenset[bytes]) -> New:
        """Decode redis-py's reply (``[[stream, [(entry id, fields), ...]], ...]``)."""
        entries: list[tuple[int, bytes, str, bytes, int, str]] = []
        unsure: list[int] = []
        types: list[bytes] = []
        for stream, items in reply or ():
            key = stream.decode() if isinstance(stream, bytes) else str(stream)
            for entry, fields in items:
                message_id, kind, body = fields.get(b"message_id"), fields.get(b"type"), fields.get(b"body")
                if message_id is None or kind is None or body is None:
                    flat = [part for pair in fields.items() for part in pair]
                    reason = f"Redis entry {entry.decode()} on {key} lacks message_id, type or body"
                    entries.append((index[key], entry, "", _raw(flat), 1, reason))
                    continue
                if kind not in wanted:
                    unsure.append(len(entries))
                    types.append(kind)
                entries.append((index[key], entry, message_id.decode(), body, 1, ""))
        return cls(tuple(entries), tuple(unsure), tuple(types))


def _raw(body: bytes | list[bytes]) -> bytes:
    """A body, or a defective entry's fields (a flat list) as JSON text: what it held, for the dead letter."""
    if isinstance(body, bytes):
        return body
    fields = {body[j].decode(errors="replace"): body[j + 1].decode(errors="replace") for j in range(0, len(body), 2)}
    return json.dumps(fields, ensure_ascii=False).encode()


_NOW = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: per message its seen key, then its stream key. ARGV: window (ms), then per message: id, type,
# channel, body. SET NX and XADD in one script, so a re-sent id can never be added twice.
PUBLISH = """
local added = 0
for i = 1, #KEYS, 2 do
  local a = 2 * i - 1
  if redis.call('SET', KEYS[i], '1', 'NX', 'PX', ARGV[1]) then
    redis.call('XADD', KEYS[i + 1], '*', 'message_id', ARGV[a + 1], 'type', ARGV[a + 2],
      'channel', ARGV[a + 3], 'body', ARGV[a + 4])
    added = added + 1
  end
end
return added
"""

# KEYS: subscriptions, channels set, types set, then the streams to make sure of. ARGV: name, start id
# of new groups ('$' when declaring; '0' when recreating lost ones), channel count, channels, types.
SUBSCRIBE = """
local name, start, nchannels = ARGV[1], ARGV[2], tonumber(ARGV[3])
redis.call('SADD', KEYS[1], name)
for i = 4, 3 + nchannels do redis.call('SADD', KEYS[2], ARGV[i]) end
for i = 4 + nchannels, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
for i = 4, #KEYS do
  local r = redis.pcall('XGROUP', 'CREATE', KEYS[i], name, start, 'MKSTREAM')
  if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP', 1, true) then
    return redis.error_reply(r.err)
  end
end
return 1
"""

# KEYS: types, delayed, then the subscription's streams. ARGV: group, consumer, room, visibility
# timeout (ms), scan (1 to look for timed-out entries), first stream to read (rotates for fairness), then
# one XAUTOCLAIM cursor per stream. Returns {'ok', ms until the next delayed entry is due (-1: none),
# cursors, deliveries as (stream number, entry id, message id, body, attempt, defect)..., last entry id per
# stream} or {'unknown'} / {'nogroup'} when the subscription's state is gone from the server.
FETCH = (
    _NOW
    + """
local group, me, room, vt = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local n = #KEYS - 2
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end
local index, out, wanted = {}, {}, {}
for i = 1, n do index[KEYS[2 + i]] = i end

-- Hand an entry out, or ack it silently (a type this subscription does not take: Redis cannot filter).
-- An entry lacking a field is handed out too, with its raw fields and the reason, for the consumer to park.
local function consider(i, id, flat, attempt)
  local key, f = KEYS[2 + i], {}
  for j = 1, #flat, 2 do f[flat[j]] = flat[j + 1] end
  if not (f.message_id and f.type and f.body) then
    local reason = 'Redis entry ' .. id .. ' on ' .. key .. ' lacks message_id, type or body'
    for _, v in ipairs({i, id, '', flat, attempt, reason}) do out[#out + 1] = v end
    room = room - 1
    return
  end
  if wanted[f.type] == nil then wanted[f.type] = redis.call('SISMEMBER', KEYS[1], f.type) == 1 end
  if not wanted[f.type] then
    redis.call('XACK', key, group, id)
    return
  end
  for _, v in ipairs({i, id, f.message_id, f.body, attempt, ''}) do out[#out + 1] = v end
  room = room - 1
end

-- Take over a pending entry; XCLAIM raises its delivery count, which is the attempt.
local function claim(i, id)
  local key = KEYS[2 + i]
  local entry = redis.call('XCLAIM', key, group, me, 0, id)[1]
  if not entry or not entry[2] then return end  -- deleted meanwhile: nothing to deliver
  consider(i, id, entry[2], redis.call('XPENDING', key, group, id, id, 1)[1][4])
end

local function main()
  local now = now_ms()
  -- 1. Retried entries whose delay is over.
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, room)) do
    local sp = string.find(member, ' ', 1, true)
    local id, key = string.sub(member, 1, sp - 1), string.sub(member, sp + 1)
    if index[key] then
      redis.call('ZREM', KEYS[2], member)
      if #redis.call('XPENDING', key, group, id, id, 1) > 0 then claim(index[key], id) end
    end
  end
  -- 2. Entries left pending past the visibility timeout (a consumer died, or forgot them).
  local cursors = {}
  for i = 1, n do
    cursors[i] = ARGV[6 + i]
    if ARGV[5] == '1' and room > 0 then
      local r = redis.call('XAUTOCLAIM', KEYS[2 + i], group, me, vt, cursors[i], 'COUNT', room, 'JUSTID')
      cursors[i] = r[1]
      for _, id in ipairs(r[2]) do
        -- JUSTID leaves the count alone: a delayed entry taken here only had its idle time reset.
        if not redis.call('ZSCORE', KEYS[2], id .. ' ' .. KEYS[2 + i]) then claim(i, id) end
      end
    end
  end
  -- 3. New entries, stream after stream, skipping over runs of foreign types.
  for k = 0, n - 1 do
    local i = (tonumber(ARGV[6]) + k) % n + 1
    for _ = 1, 10 do
      if room <= 0 then break end
      local asked = room
      local r = redis.call('XREADGROUP', 'GROUP', group, me, 'COUNT', asked, 'STREAMS', KEYS[2 + i], '>')
      if not r then break end
      for _, e in ipairs(r[1][2]) do consider(i, e[1], e[2], 1) end
      if #r[1][2] < asked then break end
    end
  end
  local hint, last = -1, {}
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if first[2] then hint = math.max(0, tonumber(first[2]) - now) end
  if #out == 0 then
    -- Where a blocking XREAD must start so that nothing added after this script is missed.
    for i = 1, n do
      local e = redis.call('XREVRANGE', KEYS[2 + i], '+', '-', 'COUNT', 1)[1]
      last[i] = e and e[1] or '0-0'
    end
  end
  return {'ok', hint, cursors, out, last}
end

local ok, result = pcall(main)
if ok then return result end
local message = type(result) == 'table' and result.err or tostring(result)
if string.find(message, 'NOGROUP', 1, true) then return {'nogroup'} end
return redis.error_reply(message)
"""
)

# KEYS: types, then the stream of each entry. ARGV: group, then per entry its type and id. Acks each entry
# of a type the subscription does not take (as FETCH does); returns 1 per entry to hand out, 0 per acked one.
FILTER = """
local out = {}
for i = 2, #KEYS do
  if redis.call('SISMEMBER', KEYS[1], ARGV[2 * i - 2]) == 1 then
    out[i - 1] = 1
  else
    redis.call('XACK', KEYS[i], ARGV[1], ARGV[2 * i - 1])
    out[i - 1] = 0
  end
end
return out
"""

# KEYS: stream, delayed. ARGV: group, entry id, attempt, delay (ms). Only the current delivery may move
# the entry: a stale one (acked, or claimed again since, so its count moved on) changes nothing.
RETRY = (
    _NOW
    + """
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)[1]
if not p or tonumber(p[4]) ~= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[2], now_ms() + tonumber(ARGV[4]), ARGV[2] .. ' ' .. KEYS[1])
return 1
"""
)

# KEYS: one stream. ARGV: dedupe window (ms), idle time (ms) after which a consumer holding nothing is
# forgotten. Drops the entries every group is done with: those before each group's oldest pending entry,
# or up to its last delivered one. A stream with no group keeps one dedupe window, so groups recreated
# after a loss of server state still find recent entries. Consumers of crashed processes go once idle:
# a live one that holds nothing loses nothing, and XREADGROUP brings it back.
TRIM = (
    _NOW
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local function map(flat)
  local t = {}
  for j = 1, #flat, 2 do t[flat[j]] = flat[j + 1] end
  return t
end
local function before(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local floor = nil
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = map(g)
  local bound = info['last-delivered-id']
  if info['pending'] > 0 then bound = redis.call('XPENDING', KEYS[1], info['name'])[2] end
  if floor == nil or before(bound, floor) then floor = bound end
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], info['name'])) do
    local consumer = map(c)
    if consumer['pending'] == 0 and consumer['idle'] > tonumber(ARGV[2]) then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], info['name'], consumer['name'])
    end
  end
end
if floor == nil then floor = tostring(now_ms() - tonumber(ARGV[1])) .. '-0' end
return redis.call('XTRIM', KEYS[1], 'MINID', floor)
"""
)

# KEYS: streams. ARGV: group, consumer. Forgets a closing consumer where it holds nothing pending, so
# groups do not collect one consumer per process ever started; what it still holds stays claimable.
CLEANUP = """
for _, key in ipairs(KEYS) do
  local p = redis.pcall('XPENDING', key, ARGV[1], '-', '+', 1, ARGV[2])
  if type(p) == 'table' and not p.err and #p == 0 then
    redis.pcall('XGROUP', 'DELCONSUMER', key, ARGV[1], ARGV[2])
  end
end
return 1
"""

SCRIPTS = {
    "PUBLISH": PUBLISH, "SUBSCRIBE": SUBSCRIBE, "FETCH": FETCH, "FILTER": FILTER, "RETRY": RETRY, "TRIM": TRIM,
    "CLEANUP": CLEANUP,
}  # fmt: skip


_PUBLISH_CHUNK = 500  # messages per script call, so one huge batch never stalls the server for long
# Bytes of bodies per script call, well under the server's client-query-buffer-limit (1 GB by default).
_PUBLISH_BYTES = 64 * 1024 * 1024


def publish_chunks(messages: Sequence[OutgoingMessage]) -> list[Sequence[OutgoingMessage]]:
    """The batch cut into script calls of at most _PUBLISH_CHUNK messages and about _PUBLISH_BYTES."""
    chunks: list[Sequence[OutgoingMessage]] = []
    first, size = 0, 0
    for i, message in enumerate(messages):
        if i > first and (i - first == _PUBLISH_CHUNK or size + len(message.body) > _PUBLISH_BYTES):
            chunks.append(messages[first:i])
            first, size = i, 0
        size += len(message.body)
    if first < len(messages):
        chunks.append(messages[first:])
    return chunks
