"""The operations console: status, dead letters, sagas and the audit log of the domains, in a browser.

Served by the runtime (``interlink run ... --console``) or by a process that only watches
(``interlink console``); see docs/console.md.
"""

from interlink.console.access import OPERATE, PAYLOADS, READ
from interlink.console.app import ConsoleSettings, build_console
from interlink.console.backend import ConsoleDomain, OperationsPort

__all__ = ["OPERATE", "PAYLOADS", "READ", "ConsoleDomain", "ConsoleSettings", "OperationsPort", "build_console"]
