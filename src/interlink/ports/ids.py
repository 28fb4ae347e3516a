"""Random identifiers without a system call per id.

Message ids, span ids and correlation ids are drawn from a buffer of ``os.urandom`` bytes refilled 4 KiB
at a time; the buffer is dropped in a forked child so parent and child never hand out the same bytes.
"""

from __future__ import annotations

import os

__all__ = ["random_hex"]

_pool = bytearray()


def _reset() -> None:
    _pool.clear()


os.register_at_fork(after_in_child=_reset)


def random_hex(nbytes: int = 16) -> str:
    """``nbytes`` random bytes as hex (32 characters by default, like ``uuid4().hex``)."""
    if len(_pool) < nbytes:
        _pool.extend(os.urandom(4096))
    chunk = _pool[-nbytes:]
    del _pool[-nbytes:]
    return chunk.hex()
