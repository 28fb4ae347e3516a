"""What an operator sees of a running landscape: structured logs (and, as they come, spans and metrics)."""

from interlink.observability.logs import JsonFormatter, bound, configure_logging, current_fields

__all__ = ["JsonFormatter", "bound", "configure_logging", "current_fields"]
