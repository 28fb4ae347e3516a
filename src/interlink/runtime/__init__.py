"""Wiring domains to a store, a broker, relays and consumers; lifecycle."""

from interlink.runtime.domain_runtime import DomainRuntime
from interlink.runtime.host import Runtime
from interlink.runtime.settings import Settings

__all__ = ["DomainRuntime", "Runtime", "Settings"]
