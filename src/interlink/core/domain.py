"""The service domain: a name and the registry of everything declared on it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar, overload

from pydantic import BaseModel

from interlink.core.aggregate import Aggregate
from interlink.core.context import Context
from interlink.core.declarations import (
    AsyncFn,
    CommandSpec,
    HandlerSpec,
    QuerySpec,
    ServiceSpec,
    inspect_function,
)
from interlink.core.external import ExternalService
from interlink.core.indexed import indexed_fields
from interlink.core.messages import Command, Event, Message
from interlink.core.retry import RetryPolicy
from interlink.core.versions import Upcaster, Upcasters
from interlink.exceptions import ConfigurationError

__all__ = ["Domain"]

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
F = TypeVar("F", bound=AsyncFn)
A = TypeVar("A", bound=type[Aggregate])
M = TypeVar("M", bound=type[Message])
U = TypeVar("U", bound=Upcaster)
T = TypeVar("T")


class Domain:
    """A service domain: one business responsibility, its own data, integrated only through APIs and events.

    This class holds what every pattern shares (aggregates, events, commands, queries, services, event
    handlers, external services); :class:`interlink.Domain` adds the verbs of each pattern (``inbound_file``,
    ``on_notification``, ``deferred``, ``replica``, ``handles``, ``on_reply``, ``saga``), which keep their
    declarations in :attr:`declarations`.

    Declarations are decorators that return the function or class unchanged, so domain code stays plain
    Python and can be unit-tested by calling it with a context::

        loans = Domain("loan-request")

        @loans.command
        async def submit(ctx: Context, data: SubmitLoan) -> LoanRequest: ...
    """

    #: The class of the contexts handed to this domain's code; :class:`interlink.Domain` names the one with
    #: every pattern's verbs (``ctx.send``, ``ctx.replica``, ``ctx.fresh``...).
    context_type: ClassVar[type[Context]] = Context

    def __init__(
        self,
        name: str,
        *,
        description: str = "",
        generic_routes: bool = False,
        version: str = "1.0.0",
        contact: dict[str, str] | None = None,
        license: dict[str, str] | None = None,
        ordered_dead_letters: bool = False,
    ) -> None:
        if not _NAME.match(name):
            raise ConfigurationError(
                f"domain name {name!r} must be lowercase letters, digits and '-', starting with a letter"
            )
        self.name = name
        self.description = description
        #: The version of the domain's interface (its OpenAPI and AsyncAPI documents): semantic versioning, a
        #: breaking change needs a new major version (``interlink spec diff`` says when).
        self.version = version
        #: Who answers for the domain's interface (``name``, ``email``, ``url``) and under which license
        #: (``name``, ``url`` or an SPDX ``identifier``): the documents' ``info.contact`` and ``info.license``.
        self.contact = dict(contact or {})
        self.license = dict(license or {})
        #: Serve commands and queries declared without ``http=`` at ``POST /commands/<name>`` and
        #: ``GET /queries/<name>`` (commands run internally, by handlers, notifications, files or sagas, never).
        self.generic_routes = generic_routes
        #: Order-preserving dead letters for the domain's subscription: while a message about an aggregate is
        #: parked, the later ones about it wait behind it in the store (docs/resilience.md).
        self.ordered_dead_letters = ordered_dead_letters
        self.aggregates: dict[str, type[Aggregate]] = {}
        self.events: dict[str, type[Event]] = {}
        self.command_messages: dict[str, type[Command]] = {}
        self.commands: dict[str, CommandSpec] = {}
        self.queries: dict[str, QuerySpec] = {}
        self.services: dict[str, ServiceSpec] = {}
        self.handlers: list[HandlerSpec] = []
        self.external_services: dict[str, ExternalService[Any]] = {}
        #: The domain behind an external service, when a declaration says so (a notification fetches from
        #: its event's producer, a replica is rebuilt from it): the landscape links the call to that domain.
        self.service_providers: dict[str, str] = {}
        self.upcasters = Upcasters(name)
        #: The retry policy declared for a message type (``retry=``); the runtime's default covers the rest.
        self.retry_policies: dict[type[Message], RetryPolicy] = {}
        #: What a pattern declares on this domain by its own verbs (functions of its package rather than
        #: methods here), by the pattern's name: a new pattern needs no change to Domain.
        self.declarations: dict[str, Any] = {}
        self._stored_kinds: dict[type[Aggregate], str] = {}
        #: Models other than the aggregates whose records the store keeps for this domain (a replica's copies),
        #: with the kind each is filed under: their ``Indexed()`` fields get indexes, ``ctx.list`` may page
        #: through them. The kind lives here, not on the class: the user's model stays as it was written.
        #: Read-only: a pattern files a model under its kind with :meth:`store_kind`.
        self.stored_kinds: Mapping[type[Aggregate], str] = MappingProxyType(self._stored_kinds)
        # kind_of's answers: it runs on every load and save (twice per save). Cleared when a kind is stored.
        self._kinds: dict[type[Aggregate], str] = {}
        #: Commands the domain runs itself (a notification's update, a file's records, a saga's end): they
        #: trust their caller, so no generic route ever serves them (see the API Exposure pattern).
        self.internal_commands: set[str] = set()
        #: Functions the framework calls with other domains' messages (command and reply handlers, besides
        #: :attr:`handlers`): a command they run is internal too.
        self.runners: list[Callable[..., Any]] = []
        self._by_func: dict[Callable[..., Any], CommandSpec | QuerySpec | ServiceSpec] = {}

    def __repr__(self) -> str:
        return f"Domain({self.name!r})"

    def kind_of(self, cls: type[Aggregate]) -> str:
        """The kind the store files records of ``cls`` under in this domain: the one a pattern stored it
        under (a replica's ``~replica:<name>``), else the aggregate's name."""
        kind = self._kinds.get(cls)
        if kind is None:
            kind = self._kinds[cls] = self._stored_kinds.get(cls) or cls.aggregate_name()
        return kind

    def store_kind(self, cls: type[Aggregate], kind: str) -> None:
        """File the records of ``cls``, a model other than the aggregates, under ``kind`` in this domain (a
        pattern's declaration: a replica's copies); see :attr:`stored_kinds`."""
        self._stored_kinds[cls] = kind
        self._kinds.clear()

    # -- data and messages -------------------------------------------------------------------------

    def aggregate(self, cls: A) -> A:
        """Declare a root entity of this domain; its ``Indexed()`` fields are the ones it may be listed by."""
        indexed_fields(cls)  # a field declared Indexed() that no store can index is refused here
        if cls.aggregate_name().startswith("~"):
            raise ConfigurationError(
                f"@{self.name}.aggregate: {cls.__qualname__} is named {cls.aggregate_name()!r}; names starting "
                f"with '~' are the framework's own records"
            )
        self._unique(self.aggregates, cls.aggregate_name(), cls, "aggregate")
        self.aggregates[cls.aggregate_name()] = cls
        return cls

    def event(self, cls: M) -> M:
        """Declare a domain event this domain emits (public unless it subclasses PrivateEvent)."""
        if not issubclass(cls, Event):
            raise ConfigurationError(f"@{self.name}.event: {cls.__name__} is not an Event")
        _no_shadowing(cls)
        self._unique(self.events, cls.message_name(), cls, "event")
        self._claim(cls)
        self.events[cls.message_name()] = cls
        return cls

    def command_message(self, cls: M) -> M:
        """Declare a command event this domain accepts from other domains."""
        if not issubclass(cls, Command):
            raise ConfigurationError(f"@{self.name}.command_message: {cls.__name__} is not a Command")
        _no_shadowing(cls)
        self._unique(self.command_messages, cls.message_name(), cls, "command message")
        self._claim(cls)
        self.command_messages[cls.message_name()] = cls
        return cls

    def _unique(self, table: dict[str, Any], name: str, cls: type, what: str) -> None:
        if table.get(name, cls) is not cls:
            raise ConfigurationError(
                f"domain {self.name!r} already has an {what} named {name!r} ({table[name].__qualname__}); "
                f"{cls.__qualname__} needs another name"
            )

    def _claim(self, cls: type[Message]) -> None:
        owner = cls.__dict__.get("__owner__")
        if owner and owner != self.name:
            raise ConfigurationError(f"{cls.__name__} is already declared by domain {owner!r}")
        cls.__owner__ = self.name

    def external_service(
        self,
        name: str,
        *,
        resource: str,
        translate: Callable[[Any], T],
        base_url: str | None = None,
        timeout: float = 5.0,
        retries: int = 2,
        headers: dict[str, str] | None = None,
    ) -> ExternalService[T]:
        """Declare another domain's API resource this domain reads, and how to translate its payload.

        ``base_url`` is only a default: configuration (``INTERLINK_SERVICE_<NAME>_URL`` or the runtime's
        settings) decides where the service is at run time.
        """
        if name in self.external_services:
            raise ConfigurationError(f"domain {self.name!r} already declares external service {name!r}")
        service = ExternalService(name, resource, translate, base_url, timeout, retries, headers or {})
        self.external_services[name] = service
        return service

    def upcaster(self, event: type[Event], *, from_version: int) -> Callable[[U], U]:
        """Declare the function that turns ``event``'s data at ``from_version`` into ``from_version + 1``
        before this domain's handlers (or replicas) see it (see :mod:`interlink.core.versions`)."""

        def register(func: U) -> U:
            self.upcasters.add(event, from_version, func)
            return func

        return register

    # -- behaviour ---------------------------------------------------------------------------------

    @overload
    def command(self, func: F, /) -> F: ...
    @overload
    def command(
        self,
        func: None = None,
        /,
        *,
        http: str | None = None,
        name: str | None = None,
        scopes: Sequence[str] = (),
    ) -> Callable[[F], F]: ...
    def command(
        self,
        func: F | None = None,
        /,
        *,
        http: str | None = None,
        name: str | None = None,
        scopes: Sequence[str] = (),
    ) -> F | Callable[[F], F]:
        """Declare a command: ``async def f(ctx, data: Model) -> Result``; runs in one transaction."""

        def register(f: F) -> F:
            params, result = inspect_function(f, "command")
            if len(params) > 1:
                raise ConfigurationError(
                    f"command {f.__qualname__} takes one input model, got parameters {list(params)}"
                )
            input_type = next(iter(params.values()), None)
            if input_type is not None and not (isinstance(input_type, type) and issubclass(input_type, BaseModel)):
                raise ConfigurationError(
                    f"command {f.__qualname__}: its input must be a pydantic model, got {input_type!r}"
                )
            spec = CommandSpec(name or f.__name__, f, input_type, result, _route(http, f), tuple(scopes))
            self._add(self.commands, spec)
            return f

        return register(func) if func is not None else register

    @overload
    def query(self, func: F, /) -> F: ...
    @overload
    def query(
        self, func: None = None, /, *, http: str | None = None, name: str | None = None, scopes: Sequence[str] = ()
    ) -> Callable[[F], F]: ...
    def query(
        self,
        func: F | None = None,
        /,
        *,
        http: str | None = None,
        name: str | None = None,
        scopes: Sequence[str] = (),
    ) -> F | Callable[[F], F]:
        """Declare a query: ``async def f(ctx, ...) -> Result``; reads only."""

        def register(f: F) -> F:
            params, result = inspect_function(f, "query")
            self._add(self.queries, QuerySpec(name or f.__name__, f, params, result, _route(http, f), tuple(scopes)))
            return f

        return register(func) if func is not None else register

    def service(self, func: F) -> F:
        """Declare a domain service: logic shared by commands; it may run commands, never persist."""
        inspect_function(func, "service")
        self._add(self.services, ServiceSpec(func.__name__, func))
        return func

    def on(self, event_type: type[Event], *, retry: RetryPolicy | None = None) -> Callable[[F], F]:
        """Declare an event handler for ``event_type`` (this domain's or another domain's public event);
        ``retry`` overrides the runtime's retry policy for it (handlers of one event share one)."""
        owner = event_type.owner()
        if not event_type.public and owner != self.name:
            raise ConfigurationError(
                f"{event_type.__name__} is private to domain {owner!r}; {self.name!r} cannot subscribe to it"
            )

        def register(f: F) -> F:
            params, _ = inspect_function(f, "event handler")
            if len(params) != 1 or next(iter(params.values())) is not event_type:
                raise ConfigurationError(
                    f"event handler {f.__qualname__} must take (ctx, event: {event_type.__name__})"
                )
            if any(h.name == f.__name__ for h in self.handlers):
                raise ConfigurationError(f"domain {self.name!r} already has a handler named {f.__name__!r}")
            self._retry(event_type, retry)
            self.handlers.append(HandlerSpec(f.__name__, f, event_type))
            return f

        return register

    def _declaring(self, register: Callable[[Callable[..., Any]], object]) -> Callable[[F], F]:
        """A decorator that declares the function as a command of this domain (unless it is one already),
        then registers it with ``register``; returns the function unchanged."""

        def decorate(func: F) -> F:
            if self.spec_of(func) is None:
                self.command(func)
            register(func)
            return func

        return decorate

    def _retry(self, message_type: type[Message], retry: RetryPolicy | None) -> None:
        """Record ``retry=`` of a declaration; two declarations of one message type may not disagree."""
        if retry is None:
            return
        if not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry= for {message_type.__name__} must be a RetryPolicy, got {retry!r}")
        if self.retry_policies.setdefault(message_type, retry) != retry:
            raise ConfigurationError(f"{message_type.__name__} is given two different retry policies in {self}")

    def _add(self, table: dict[str, Any], spec: CommandSpec | QuerySpec | ServiceSpec) -> None:
        if spec.name in table:
            raise ConfigurationError(f"domain {self.name!r} already declares {spec.name!r}")
        table[spec.name] = spec
        self._by_func[spec.func] = spec

    # -- lookups -----------------------------------------------------------------------------------

    def spec_of(self, func: Callable[..., Any]) -> CommandSpec | QuerySpec | ServiceSpec | None:
        """The declaration behind a decorated function, if it is declared on this domain."""
        return self._by_func.get(func)

    def handlers_for(self, message_type: str) -> list[HandlerSpec]:
        """The event handlers that capture messages of this CloudEvents type."""
        return [h for h in self.handlers if h.event_type.message_type() == message_type]

    def subscribed_types(self) -> dict[str, type[Event]]:
        """Every event type this domain handles, by CloudEvents type."""
        return {h.event_type.message_type(): h.event_type for h in self.handlers}


def _no_shadowing(cls: type[Message]) -> None:
    taken = sorted(set(cls.model_fields) & {n for n in dir(Message) if not n.startswith("_")})
    if taken:
        raise ConfigurationError(f"{cls.__name__}: field(s) {taken} would hide Message's own methods; rename them")


_ROUTE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/[A-Za-z0-9_{}/.-]*)$")


def _route(http: str | None, func: Callable[..., Any]) -> str | None:
    if http is None:
        return None
    if not _ROUTE.match(http):
        raise ConfigurationError(
            f"{func.__qualname__}: http={http!r} must be 'METHOD /path' (GET, POST, PUT, PATCH or DELETE)"
        )
    return http
