"""The one exception tree of Interlink.

::

    InterlinkError
    ├── ConfigurationError          bad URL, missing driver extra, bad declaration
    │   └── MissingDriverError      names the extra to install
    ├── DomainError                 raised by business code; the API layer maps these to 4xx
    │   ├── NotFoundError
    │   ├── ConcurrencyError        optimistic concurrency: the aggregate version moved on
    │   ├── RuleViolation           a rule of the method was broken (a query tried to persist, ...)
    │   ├── BusinessRuleError       a command refused its input for a business reason
    │   ├── InvalidInput            input that is well-formed but unusable (a foreign cursor, ...)
    │   │   └── MessageTooLarge     a command would emit a message larger than the broker accepts
    │   ├── PreconditionFailed      If-Match named a version that is not the current one
    │   └── AccessDenied            not authenticated (401) or not allowed (403)
    ├── MessageError                a message that can never be processed (goes to dead letters at once)
    │   ├── MalformedMessage        not a valid CloudEvents envelope, with the reason
    │   ├── UnknownMessageType      no handler and no declaration for its type
    │   └── InvalidPayload          the data does not validate against the declared model
    └── AdapterError                infrastructure; translated from the driver's errors at the edge
        ├── BrokerError
        │   ├── BrokerUnavailable   transient
        │   └── MessageRefused      the broker refuses this one message for good (too large, bad address)
        ├── ExternalServiceError    another domain's API failed: status, URL and a short reason
        │                           (transient when retryable: no answer, a timeout, 429, 5xx, circuit open)
        └── StoreError
            ├── StoreUnavailable    transient
            ├── DuplicateMessage    the inbox already holds this message id
            └── RecordSchemaError   a framework record of a schema this release cannot read

An adapter error whose ``transient`` is true is an outage, not the message's fault: consumers retry it on
a time budget without using up the message's attempts, waiting at least its ``retry_after`` seconds when
it knows them (an open circuit's remaining time, a Retry-After). See :mod:`interlink.delivery.retry`.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AdapterError",
    "BrokerError",
    "BrokerUnavailable",
    "BusinessRuleError",
    "ConcurrencyError",
    "ConfigurationError",
    "DomainError",
    "DuplicateMessage",
    "ExternalServiceError",
    "InterlinkError",
    "InvalidInput",
    "InvalidPayload",
    "MalformedMessage",
    "MessageError",
    "MessageRefused",
    "MessageTooLarge",
    "MissingDriverError",
    "NotFoundError",
    "PreconditionFailed",
    "RecordSchemaError",
    "RuleViolation",
    "StoreError",
    "StoreUnavailable",
    "UnknownMessageType",
]


class InterlinkError(Exception):
    """Base of every error Interlink raises on purpose."""


class ConfigurationError(InterlinkError):
    """The configuration or a declaration is wrong; the message says what and how to fix it."""


class MissingDriverError(ConfigurationError):
    """A backend was chosen whose driver is not installed."""

    def __init__(self, scheme: str, extra: str) -> None:
        super().__init__(f"the {scheme}:// backend needs an optional dependency: pip install 'interlink[{extra}]'")
        self.scheme = scheme
        self.extra = extra


class DomainError(InterlinkError):
    """Raised by domain logic; carries no infrastructure detail."""


class NotFoundError(DomainError):
    """The aggregate (or resource) asked for does not exist."""

    def __init__(self, kind: str, id: str) -> None:
        super().__init__(f"{kind} {id!r} not found")
        self.kind = kind
        self.id = id


class ConcurrencyError(DomainError):
    """Someone else changed the aggregate since it was read (optimistic concurrency on ``version``)."""


class RuleViolation(DomainError):
    """A rule of the method was broken, e.g. a query tried to persist."""


class BusinessRuleError(DomainError):
    """A command refused to run for a business reason; the caller can read ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidInput(DomainError):
    """Input that is well-formed but cannot be used (a cursor from elsewhere, an unknown filter)."""


class MessageTooLarge(InvalidInput):
    """A command would emit a message larger than the broker accepts: nothing is committed.

    ``message_type`` names the message, ``size`` its encoded size and ``limit`` the broker's, in bytes.
    """

    def __init__(self, message_type: str, size: int, limit: int) -> None:
        super().__init__(
            f"the {message_type} message would be {size} bytes, over the broker's limit of {limit} bytes: "
            "nothing was committed"
        )
        self.message_type = message_type
        self.size = size
        self.limit = limit


class PreconditionFailed(DomainError):
    """The request's If-Match names a version that is not the resource's current one."""


class AccessDenied(DomainError):
    """The caller is not authenticated (``authenticated`` False: 401) or lacks a scope (403)."""

    def __init__(self, reason: str, *, authenticated: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.authenticated = authenticated


class MessageError(InterlinkError):
    """A message that can never be processed, whatever the number of attempts."""


class MalformedMessage(MessageError):
    """The bytes are not a valid CloudEvents 1.0 structured JSON envelope."""


class UnknownMessageType(MessageError):
    """No declaration in this domain matches the message's type."""


class InvalidPayload(MessageError):
    """The message's data does not validate against the declared model."""


class AdapterError(InterlinkError):
    """An infrastructure failure, translated from the driver's own exception."""

    #: Seconds before trying again makes sense, when the failure says so (an open circuit, a Retry-After).
    retry_after: float | None = None

    @property
    def transient(self) -> bool:
        """True when the infrastructure is unavailable for now and trying later may succeed."""
        return False


class BrokerError(AdapterError):
    """The broker refused or failed an operation."""


class BrokerUnavailable(BrokerError):
    """The broker cannot be reached; retrying later may succeed."""

    @property
    def transient(self) -> bool:
        """Always: an unreachable broker may come back."""
        return True


class MessageRefused(BrokerError):
    """The broker refused one message for good (too large, an address it cannot take): trying it again as
    it is will never succeed, unlike an outage. ``message_id`` names the message, ``reason`` says why, and
    ``limit`` is the broker's size limit in bytes when size was the reason."""

    def __init__(self, message_id: str, reason: str, *, limit: int | None = None) -> None:
        super().__init__(f"message {message_id} refused: {reason}")
        self.message_id = message_id
        self.reason = reason
        self.limit = limit


class ExternalServiceError(AdapterError):
    """Another domain's API failed or could not be reached.

    ``status`` is the HTTP status (None when no response came), ``url`` the URL called (without query
    credentials), ``reason`` a short text; ``retryable`` says whether trying later may succeed, and
    ``retry_after`` when (seconds), if the source or the circuit breaker said so.
    """

    def __init__(
        self, service: str, url: str, reason: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        where = f"{status} from {url}" if status is not None else url
        super().__init__(f"external service {service!r}: {reason} ({where})")
        self.service = service
        self.url = url
        self.reason = reason
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """No answer, a timeout, 429 or a 5xx: the source may answer later."""
        return self.status is None or self.status == 429 or self.status >= 500

    @property
    def transient(self) -> bool:
        """The same as ``retryable``: the source is unavailable for now, not refusing the request."""
        return self.retryable

    @property
    def gone(self) -> bool:
        """404 or 410: the resource does not exist (any more)."""
        return self.status in (404, 410)


class StoreError(AdapterError):
    """The store refused or failed an operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached; retrying later may succeed."""

    @property
    def transient(self) -> bool:
        """Always: an unreachable store may come back."""
        return True


class DuplicateMessage(StoreError):
    """The inbox already records this message for this subscription: its effects exist."""


class RecordSchemaError(StoreError):
    """A framework record in the store is of a schema this release cannot read (a newer release wrote it);
    the message names its kind, its id and both schema versions."""
