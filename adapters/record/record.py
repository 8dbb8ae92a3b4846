"""The legal record: one `eventsourcing` application over one event store.

Every aggregate (entente, crisis case, consent…) is stored here, in one
notification log, so that the audit trail can order and chain every fact of
the store. SQLite by default, PostgreSQL in production: the choice is the
environment's ``PERSISTENCE_MODULE`` (``adapters.record.environment`` builds it
from the settings), naming one of our persistence modules, each a `Backend`:
``adapters.record.sqlite``, ``adapters.record.postgres``, ``adapters.record.popo``.
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from functools import cached_property
from operator import itemgetter
from types import FunctionType
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent, Repository
from eventsourcing.domain import (
    BaseAggregate,
    CanInitAggregate,
    CanMutateAggregate,
    CanSnapshotAggregate,
    DecoratedFuncCaller,
    DomainEventProtocol,
    HasOriginatorIDVersion,
    MutableOrImmutableAggregate,
    OriginatorIDError,
    OriginatorVersionError,
    decorated_funcs,
)
from eventsourcing.persistence import (
    ApplicationRecorder,
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    RecordConflictError,
    Recording,
    StoredEvent,
    Transcoder,
    Transcoding,
    find_id_convertor,
    pass_through_convertor,
)
from eventsourcing.utils import Environment, EnvType, get_topic, resolve_topic

from adapters.record.group_commit import GroupCommit
from adapters.record.keys import DEV_SUBJECT_KEKS, KeyRing, ring_or_default
from adapters.record.sealing import PersonalDataMapper, SubjectKeyStore
from adapters.record.state_copy import fresh, memory_size
from adapters.record.transcoder import RecordTranscoder
from adapters.telemetry import metrics, spans
from domain.audit.entente_reads import EntenteReads
from domain.audit.erasure import SubjectErasure
from domain.audit.record_reads import RecordReadEntry
from domain.crisis.aggregate import CrisisCase
from domain.delivery.aggregate import DeliveryLog, Endpoint
from domain.directory.aggregate import Directory
from domain.disclosure.consent import Consent
from domain.disclosure.facts import PersonFacts
from domain.disclosure.register import DisclosureRegister
from domain.ententes.aggregate import Entente
from domain.episodes.aggregate import ServiceEpisode
from domain.errors import UnreadableRecord
from domain.fhir.subscriptions import Subscription, SubscriptionIndex
from domain.principals.aggregate import Account, ApiKey
from domain.principals.oidc import SubjectLink

if TYPE_CHECKING:
    from collections.abc import Hashable

    from adapters.record.sql import AuditStore
    from adapters.record.tree import TreeStore

D = TypeVar("D")

# (module now, module it had) for aggregates whose module moved: their stored topics are never
# rewritten, so reads by topic ask for both (`resolve_topic` maps the old ones: see the modules).
MOVED_MODULES = [("domain.ententes.aggregate", "domain.agreements.aggregate")]

# The library's persistence modules, as environments written before ours existed name them
# (tests, old .env files): each opens the same store through our module for that backend.
PERSISTENCE_MODULES = {
    "eventsourcing.sqlite": "adapters.record.sqlite",
    "eventsourcing.postgres": "adapters.record.postgres",
    "eventsourcing.popo": "adapters.record.popo",
}
PERSISTENCE_MODULE = "PERSISTENCE_MODULE"


class Backend(Protocol):
    """What our persistence modules' factories give the record, beside the library's factory methods
    (whose `application_recorder()` is the chaining recorder)."""

    def subject_key_store(self, kek: KeyRing) -> SubjectKeyStore:
        """The per-person keys, wrapped by `kek`."""

    def audit_store(self, page: int = 10_000) -> AuditStore:
        """The audit reader: snapshots of the chain, its head, the checkpoint copies."""


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class NoRecord(Exception):
    """A read found no record where the settings point: nothing was created, nothing can be read."""

    SQLITE_HINT = "run from the folder where `arrimage up` runs, or set ARRIMAGE_DATA_DIR / ARRIMAGE_SQLITE_PATH"
    POSTGRES_HINT = (
        "check ARRIMAGE_POSTGRES_DBNAME / ARRIMAGE_POSTGRES_SCHEMA, or start `arrimage up` or `arrimage worker` "
        "once to create it"
    )

    def __init__(self, where: str, hint: str = SQLITE_HINT) -> None:
        self.where = where
        self.message = f"no record at {where}: {hint}"
        super().__init__(self.message)


class ForeignTopic(UnreadableRecord, ValueError):
    """A stored row names a class that is not one of the record's own: refused before anything is imported."""


# The record's aggregates: the only classes (with their events) a stored row may name.
AGGREGATES: tuple[type[Any], ...] = (
    Entente, CrisisCase, Consent, DisclosureRegister, SubjectErasure, EntenteReads, RecordReadEntry,
    PersonFacts,  # the facts a disclosure decision rests on, per person (domain.disclosure.facts)
    Account, ApiKey,  # the gateway's principals and their API keys (domain.principals)
    SubjectLink,  # a person's subject at the identity provider, bound to a user (domain.principals.oidc)
    Endpoint, DeliveryLog,  # partners' webhook endpoints and what was delivered to them (domain.delivery)
    Subscription, SubscriptionIndex,  # FHIR Task subscriptions and each organisation's (domain.fhir.subscriptions)
    Directory,  # the directory of services of the local network (domain.directory)
    ServiceEpisode,  # épisodes de services: AAOR and consultations (domain.episodes)
)


class Topics:
    """The allow-list of stored topics: each aggregate's topic and those of the event classes defined with it
    (in its module: the library's generic `Snapshot` is not one, so only ententes' snapshots have a topic), under
    their module now and the ones they had (`MOVED_MODULES`).

    The library resolves a topic by importing the module it names, whatever it is; a row with a topic outside
    this list is refused (`ForeignTopic`) before the library sees it, so reading imports nothing. Every class
    here is already imported (this module imports them), so resolving an allowed topic imports nothing either.
    """

    def __init__(self) -> None:
        self.events: set[str] = set()
        self.aggregates: set[str] = set()
        self.naming: dict[type, str | None] = {}  # event class: the attribute naming its aggregate's class

    def allow(self, *aggregates: type[Any]) -> None:
        """Allow these aggregates and their events (the record's own at import; tests add their stand-ins)."""
        for aggregate in aggregates:
            self.aggregates.update(_named(get_topic(aggregate)))
            for name in dir(aggregate):
                member = getattr(aggregate, name)
                if (isinstance(member, type) and issubclass(member, HasOriginatorIDVersion)
                        and member.__module__ == aggregate.__module__):
                    self.events.update(_named(get_topic(member)))

    def check(self, stored: StoredEvent) -> None:
        if stored.topic not in self.events:
            raise ForeignTopic(_refusal(stored, "its topic", stored.topic))

    def check_named(self, stored: StoredEvent, event: object) -> None:
        """The class a created event or a snapshot names for its aggregate, which the library resolves when
        the aggregate is rebuilt."""
        cls = type(event)
        try:
            key = self.naming[cls]
        except KeyError:  # once per event class: which attribute names a class, if any
            key = self.naming[cls] = (
                "topic" if issubclass(cls, CanSnapshotAggregate)
                else "originator_topic" if issubclass(cls, CanInitAggregate) else None
            )
        if key is not None:
            named = event.__dict__.get(key)
            if named not in self.aggregates:
                raise ForeignTopic(_refusal(stored, f"its {key}", str(named)))


def _named(topic: str) -> list[str]:
    """A topic, and the ones it had before its module moved."""
    return [topic, *(old + topic[len(new):] for new, old in MOVED_MODULES if topic.startswith(new + ":"))]


def _refusal(stored: StoredEvent, what: str, topic: str) -> str:
    return (
        f"event {stored.originator_id} v{stored.originator_version}: {what} {topic!r} is not a class of the "
        "record; refused, nothing imported (`arrimage audit verify` names rows altered or inserted)"
    )


TOPICS = Topics()
TOPICS.allow(*AGGREGATES)


CLASS_VERSIONS: dict[type, int] = {}  # event class: its `class_version` (1 when it has none), for `RecordMapper`


def _plain_stored_event() -> bool:
    """Whether `StoredEvent` is what eventsourcing 9.5.6 makes it: a dataclass whose instances hold its four fields
    in their `__dict__` and nothing else (no slots, no `__post_init__`)."""
    names = [f.name for f in dataclasses.fields(StoredEvent)]
    return (names == ["originator_id", "originator_version", "topic", "state"] and "__slots__" not in vars(StoredEvent)
            and not hasattr(StoredEvent, "__post_init__") and StoredEvent.__new__ is object.__new__)


if not _plain_stored_event():  # pragma: no cover - eventsourcing is pinned (pyproject.toml)
    raise ImportError("eventsourcing's StoredEvent is no longer the plain dataclass the recorders' reads assume")

new_stored_event = object.__new__
"""How the recorders' `select_events` make a `StoredEvent` from a row: ``new_stored_event(StoredEvent)``, then its
four fields put in its `__dict__` (``event.__dict__.update(originator_id=…, originator_version=…, topic=…,
state=…)``): the object its frozen dataclass `__init__` makes, equal to it, without that `__init__`'s four
`object.__setattr__` (checked at import: `_plain_stored_event`). Half of making 10,000 rows."""


class _Reading(NamedTuple):
    """What `RecordMapper` needs of one stored topic and one type of stored id, looked up once per process."""

    cls: type[Any]  # the event class the topic resolves to
    convert: Any  # the library's id convertor for this class and this type of stored id (None: it passes it through)
    class_version: int
    names_a_class: bool  # a created event or a snapshot: `Topics.check_named` has a class to check


_READINGS: dict[tuple[str, type], _Reading] = {}  # (topic, type of the stored id): its `_Reading`


def _reading(topic: str, id_type: type) -> _Reading:
    """The class the allowed `topic` resolves to, its id convertor and class version (`resolve_topic`,
    `find_id_convertor`, `class_version`: each answer the same for every event of the topic)."""
    cls = resolve_topic(topic)
    try:
        class_version = CLASS_VERSIONS[cls]
    except KeyError:  # a class attribute missing is costly to look up every time
        class_version = CLASS_VERSIONS[cls] = getattr(cls, "class_version", 1)
    names_a_class = issubclass(cls, CanSnapshotAggregate | CanInitAggregate)  # what `Topics.check_named` checks
    convert = find_id_convertor(cls, cast("Hashable", id_type))
    # The library's pass-through convertor returns its argument: not called (None), one call fewer per event.
    reading = _Reading(cls, None if convert is pass_through_convertor else convert, class_version, names_a_class)
    _READINGS[topic, id_type] = reading
    return reading


_new = object.__new__
_set = object.__setattr__


class RecordMapper(PersonalDataMapper):
    """The record's mapper: topics resolved from the allow-list (`TOPICS`) only, then personal content opened."""

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """The library's `Mapper.to_domain_event` (eventsourcing 9.5.6: decrypt, decompress, decode, the id
        converted, upcasts, the event made without its `__init__`, errors of reading raised as
        `MapperDeserialisationError`) in one frame with the record's checks around it, in the same order as
        before: the topic on the allow-list before anything is resolved, the sealed parts opened
        (`PersonalDataMapper.opened`), then the class a created event or a snapshot names. One frame instead of
        four per event: about a fifth of loading an aggregate (`benchmarks.replay`). What depends on the topic
        alone (its class, id convertor, class version) is looked up once per topic (`_reading`); the allow-list
        is still asked for every event, first."""
        topic = stored_event.topic
        if topic not in TOPICS.events:
            raise ForeignTopic(_refusal(stored_event, "its topic", topic))
        originator_id = stored_event.originator_id
        try:
            cls, convert, class_version, names_a_class = _READINGS[topic, type(originator_id)]
        except KeyError:
            cls, convert, class_version, names_a_class = _reading(topic, type(originator_id))
        stored_state = stored_event.state
        try:
            if self.cipher:
                stored_state = self.cipher.decrypt(stored_state)
            if self.compressor:
                stored_state = self.compressor.decompress(stored_state)
            event_state: dict[str, Any] = self.transcoder.decode(stored_state)
        except Exception as e:
            msg = (
                f"Failed to deserialise state of stored event with topic '{topic}', originator_id "
                f"'{originator_id}' and originator_version {stored_event.originator_version}: {e}"
            )
            raise MapperDeserialisationError(msg) from e
        event_state["originator_id"] = originator_id if convert is None else convert(originator_id)
        event_state["originator_version"] = stored_event.originator_version
        from_version = event_state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
            from_version += 1
        domain_event = _new(cls)
        _set(domain_event, "__dict__", event_state)
        if event_state.get("subject_id") is not None:  # `opened` returns any other event as it is
            domain_event = self.opened(stored_event, domain_event)
        if names_a_class:  # any other event names no class: `check_named` has nothing to check
            TOPICS.check_named(stored_event, domain_event)
        return domain_event


def project_events(aggregate: Any, domain_events: Iterable[Any], about_a_person: list[Any] | None = None) -> Any:
    """The library's `project_aggregate` without its `assert isinstance(event, CanMutateProtocol)`: a
    `runtime_checkable` Protocol check, half the time of rebuilding an aggregate from its events on Python
    3.11 (`benchmarks.replay`). Nothing it guarded is lost: every event comes through `RecordMapper` (its
    topic on the allow-list, a class of the record's aggregates, each with `mutate`), and an object without
    `mutate` still fails here, with AttributeError.

    An event of an ``@event`` method whose class keeps the library's generic `mutate` and `apply` (`_applier`:
    every event of the record's aggregates but their created events) is applied here as that `mutate` applies
    it, in the same order, without its three frames per event: the event's aggregate id checked, its version
    checked to be the next, the decorated method's body called with the event's attributes it names, then the
    aggregate's version and modified time set. Any other event (a created event, a hand-written `mutate` or
    `apply`, a first event with no aggregate yet) goes through its own `mutate`.

    `about_a_person`, when given, receives the first event with a `subject_id` (`CommittedStates`).

    Where the aggregate's class keeps the library's `id`, `version` and `modified_on` properties and attribute
    access (`_plain_attributes`), the attributes behind them are read and set in its `__dict__`, as those
    properties do, four property calls fewer per event; the event's attributes the body names are taken at once
    (`operator.itemgetter`), a missing one sending the event to the library's filter by keyword."""
    appliers = _APPLIERS
    held: Any = None  # the aggregate `attrs` was looked up for
    attrs: dict[str, Any] | None = None  # its `__dict__`, when `_plain_attributes`
    for domain_event in domain_events:
        state = domain_event.__dict__
        if about_a_person is not None and not about_a_person and state.get("subject_id") is not None:
            about_a_person.append(domain_event)
        cls = type(domain_event)
        try:
            applier = appliers[cls]
        except KeyError:
            applier = appliers[cls] = _applier(cls)
        if applier is None or aggregate is None:
            aggregate = domain_event.mutate(aggregate)
            continue
        if aggregate is not held:
            held, attrs = aggregate, _plain_attributes(aggregate)
        # `CanMutateAggregate.mutate` then `DecoratedFuncCaller.apply`, inlined (eventsourcing 9.5).
        if attrs is not None:
            aggregate_id, version = attrs["_id"], attrs["_version"]
        else:
            aggregate_id, version = aggregate.id, aggregate.version
        originator_id = state["originator_id"]
        if originator_id is not aggregate_id and originator_id != aggregate_id:  # an id is equal to itself
            raise OriginatorIDError(originator_id, aggregate_id)
        next_version = version + 1
        originator_version = state["originator_version"]
        if originator_version != next_version:
            raise OriginatorVersionError(originator_version, next_version)
        body, names, take, first = applier
        if take is not None and first not in state:
            try:
                values = take(state)
            except KeyError:  # an attribute the body names is not the event's: the library's filter decides
                values = None
        else:
            values = None
        if values is not None:
            # Every parameter the body names is an attribute of the event: the same binding, by position.
            body(aggregate, *values)
        else:
            body(aggregate, **{k: v for k, v in state.items() if k in names})
        if attrs is not None:
            attrs["_version"] = originator_version
            attrs["_modified_on"] = state["timestamp"]
        else:
            aggregate.version = originator_version
            aggregate.modified_on = state["timestamp"]
    return aggregate


_PLAIN: dict[type, bool] = {}  # aggregate class: whether `_plain_attributes` may read its instances' `__dict__`
_BASE_PROPERTIES = {name: BaseAggregate.__dict__[name] for name in ("id", "version", "modified_on")}


def _plain_attributes(aggregate: Any) -> dict[str, Any] | None:
    """The aggregate's `__dict__` when its class keeps the library's `id`, `version` and `modified_on` (properties
    over `_id`, `_version`, `_modified_on`) and plain attribute access (no `__getattribute__` or `__setattr__` of
    its own), and it holds those three: reading and setting them there is what the properties do. Else None."""
    cls = type(aggregate)
    try:
        plain = _PLAIN[cls]
    except KeyError:
        plain = _PLAIN[cls] = (
            all(getattr(cls, name, None) is prop for name, prop in _BASE_PROPERTIES.items())
            and cls.__getattribute__ is object.__getattribute__
            and cls.__setattr__ is object.__setattr__
        )
    attrs = getattr(aggregate, "__dict__", None) if plain else None
    if attrs is None or "_id" not in attrs or "_version" not in attrs or "_modified_on" not in attrs:
        return None
    return cast("dict[str, Any]", attrs)


class _Applier(NamedTuple):
    """How `project_events` applies an event of one class (`_applier`)."""

    body: FunctionType  # the ``@event`` method's body
    names: frozenset[str]  # its parameters' names, `self` included (the library's filter)
    take: Callable[[dict[str, Any]], tuple[Any, ...]] | None
    """The event's values of the parameters after `self`, in order (KeyError if one is missing), when all are
    positional-or-keyword (else None)."""
    first: str  # the name of its first parameter (`self`)


_APPLIERS: dict[type, _Applier | None] = {}  # event class: `_applier(cls)`


def _taker(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """The values of `names` in a dict, as a tuple, in order (KeyError if one is missing)."""
    if len(names) > 1:
        return itemgetter(*names)
    if names:
        (name,) = names
        return lambda state: (state[name],)
    return lambda state: ()


def _applier(cls: type) -> _Applier | None:
    """How to apply an event of `cls` when that is exactly the library's generic way: `mutate` is
    `CanMutateAggregate.mutate`, `apply` is `DecoratedFuncCaller.apply`, what that `apply`'s ``super().apply``
    reaches is the base's no-op, `_as_dict` is `vars`, and the body is a plain function (bound to the aggregate,
    called with the event's attributes its signature names: the library's `filter_kwargs_for_method_params`;
    by position when the event has every one of them, which binds them alike). None otherwise: the event's
    own `mutate` runs."""
    if not (isinstance(cls, type) and issubclass(cls, DecoratedFuncCaller) and not issubclass(cls, CanInitAggregate)):
        return None
    if (
        getattr(cls, "mutate", None) is not CanMutateAggregate.mutate
        or getattr(cls, "apply", None) is not DecoratedFuncCaller.apply
        or getattr(cls, "_as_dict", None) is not CanMutateAggregate._as_dict
    ):
        return None
    mro = cls.__mro__
    after = mro[mro.index(DecoratedFuncCaller) + 1:]
    if next((k.__dict__["apply"] for k in after if "apply" in k.__dict__), None) is not CanMutateAggregate.apply:
        return None
    body = decorated_funcs.get(cls)
    if type(body) is not FunctionType:
        return None
    parameters = list(inspect.signature(body).parameters.values())
    if not parameters:
        return None
    rest = parameters[1:]
    by_position = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in rest)
    return _Applier(
        body,
        frozenset(p.name for p in parameters),
        _taker(tuple(p.name for p in rest)) if by_position else None,
        parameters[0].name,
    )


def _about_a_person(event: Any) -> bool:
    """An event with a `subject_id`: what it holds of the person opens with their key at each read."""
    return event.__dict__.get("subject_id") is not None


class CommittedStates:
    """Aggregates' states as committed to the store, for the record's repository: a load starts from the state
    kept here and reads only the events stored after it (one select, empty unless another writer moved the
    aggregate on), instead of decoding and replaying every event.

    Never ahead of the store: a state enters only as rebuilt from the store's events (a load), or once a save's
    commit is acknowledged, as the state kept at the version just before moved on by the events that save
    committed (`committed`), never from the caller's object; a save that fails evicts every aggregate it held.
    What is kept is a copy that nobody else holds, and every load gets a copy of it (`state_copy.fresh`: the
    containers copied, the values shared, a few µs), so whatever a caller does to its aggregate or to the events
    it saved cannot reach it. An aggregate holding anything `fresh` does not know to be a value is kept pickled
    instead (a pickled copy each way, ~50 µs each for an entente). Pickling both ways was the rule until
    stop 23: ~19 % of the CPU of a command on PostgreSQL under 8 threads.

    Each `Record` has its own, in its process: another writer's events are read by the next load (the select
    after the kept version; a command, `Record.deciding`, skips it and is decided again if the store had moved
    on), and a save decided on a state another writer has moved past fails on the store's unique (aggregate,
    version) and evicts. Aggregates about a person (any event with a `subject_id`) are never
    kept: their content is opened with the person's key at every read, so a shred, in any process, hides it
    at the next read. Bounded by the bytes kept in memory, least recently used first out: a state's bytes are the
    mean size of its class's object graphs (`_size`; an entente's is ~5.8x its pickle), so that keeping a state
    seldom costs measuring it."""

    SAMPLES = 32
    """States of one aggregate class measured first to learn its mean size."""
    RESAMPLE = 256
    """After those, one state in this many is measured to move the mean (states grow as aggregates live)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        # aggregate id: (version, the state (an aggregate nobody else holds, or its pickled bytes), bytes).
        self._states: OrderedDict[UUID, tuple[int, Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._sizes: dict[type, tuple[float, int]] = {}  # class: mean graph bytes of its samples, states seen
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.stale = 0.0
        """Moving share of the kept states found behind the store when used (`found`): another writer's share."""

    STALE_WEIGHT = 1 / 32
    """Weight of each use in `stale` (about the last 32 uses)."""
    TRUST_BELOW = 0.1
    """`trusted` while fewer than this share of the kept states used were behind the store."""

    def found(self, behind: bool) -> None:
        """A kept state was used and was (`behind`) or was not behind the store. Not locked: two threads may
        lose one of their updates of this moving share, which only weighs one use less."""
        self.stale += ((1.0 if behind else 0.0) - self.stale) * self.STALE_WEIGHT

    @property
    def trusted(self) -> bool:
        """Whether a command may start from a kept state without asking the store first (`Record.deciding`):
        only while another writer seldom moves the aggregates this process keeps. With several worker processes
        on one task queue, an entente's next command often runs in another process: there the question is
        cheaper asked first (one select) than answered by a refused insert (which takes its group commit's
        other saves back to one transaction each) and a second decision."""
        return self.stale < self.TRUST_BELOW

    def __contains__(self, aggregate_id: object) -> bool:
        return aggregate_id in self._states

    def version(self, aggregate_id: UUID) -> int | None:
        """The version kept (None: none kept)."""
        kept = self._states.get(aggregate_id)
        return kept[0] if kept is not None else None

    def get(self, aggregate_id: UUID) -> tuple[int, Any] | None:
        """(version, a fresh copy of the state kept), or None."""
        with self._lock:
            kept = self._states.get(aggregate_id)
            if kept is None:
                self.misses += 1
                return None
            self._states.move_to_end(aggregate_id)
            self.hits += 1
        version, state, _ = kept
        if type(state) is bytes:
            return version, pickle.loads(state)
        return version, fresh(state)  # checked when kept: only values and containers

    def keep(self, aggregate: Any, events: Iterable[Any] = ()) -> None:
        """Keep a copy of `aggregate`, the store's state at its version; `events`, those it was just moved on by,
        are looked at for a person (then nothing of it is kept). An older state never replaces a newer one."""
        if any(_about_a_person(e) for e in events):
            self.evict(aggregate.id)
            return
        try:
            state: Any = fresh(aggregate)
        except Exception:  # `Unsafe`, or anything else a copy met: pickled, as before
            try:
                state = pickle.dumps(aggregate, pickle.HIGHEST_PROTOCOL)
            except Exception:  # an aggregate that does not pickle is rebuilt from the store each time
                self.evict(aggregate.id)
                return
        self._put(aggregate.id, aggregate.version, state)

    def _size(self, state: Any) -> int:
        """The state's bytes in memory: a pickle's length, or its class's mean graph size (`memory_size`),
        learnt from its first `SAMPLES` states and then from one in `RESAMPLE` (a moving mean), so that keeping
        a state seldom costs the walk."""
        if type(state) is bytes:
            return len(state)
        cls = type(state)
        mean, seen = self._sizes.get(cls, (0.0, 0))
        if seen >= self.SAMPLES and seen % self.RESAMPLE:
            self._sizes[cls] = (mean, seen + 1)
            return int(mean)
        size = memory_size(state)
        weight = 1 / (seen + 1) if seen < self.SAMPLES else 0.1
        self._sizes[cls] = (mean + (size - mean) * weight, seen + 1)
        return size

    def _put(self, aggregate_id: UUID, version: int, state: Any, replacing: tuple[int, Any, int] | None = None) -> None:
        """Keep `state` at `version`; with `replacing`, only in place of that very entry (else nothing: another
        thread moved it meanwhile); without, only over an older version."""
        size = self._size(state)
        with self._lock:
            kept = self._states.get(aggregate_id)
            if replacing is not None:
                if kept is not replacing:
                    return
            elif kept is not None and kept[0] >= version:
                return
            if kept is not None:
                self._bytes -= kept[2]
            self._states[aggregate_id] = (version, state, size)
            self._states.move_to_end(aggregate_id)
            self._bytes += size
            while self._bytes > self.max_bytes and self._states:
                _, dropped = self._states.popitem(last=False)
                self._bytes -= dropped[2]

    def committed(self, events: Iterable[Any]) -> None:
        """After a save's commit: each aggregate's state moved on by the events that save committed, from the
        state kept at the version before them (none kept at that version: nothing kept, the next load reads):
        the events applied to a copy of the kept state, and the result copied again (so that nothing the
        caller's events hold is shared with what is kept). A created aggregate is made from its events."""
        by_aggregate: dict[UUID, list[Any]] = {}
        for e in events:
            by_aggregate.setdefault(e.originator_id, []).append(e)
        for aggregate_id, saved in by_aggregate.items():
            try:
                if isinstance(saved[0], CanInitAggregate):
                    self.keep(project_events(None, saved), saved)
                    continue
                with self._lock:
                    kept = self._states.get(aggregate_id)
                first = saved[0].originator_version
                if kept is None or kept[0] != first - 1:
                    continue
                if any(_about_a_person(e) for e in saved) or type(kept[1]) is bytes:
                    self.evict(aggregate_id)  # a pickled state: the next load reads from the store
                    continue
                moved = project_events(fresh(kept[1]), saved)  # each event checked to be the next version
                self._put(aggregate_id, moved.version, fresh(moved), kept)
            except Exception:  # the save is committed: what cannot be kept is read from the store next time
                self.evict(aggregate_id)

    def evict(self, *aggregate_ids: UUID) -> None:
        with self._lock:
            for aggregate_id in aggregate_ids:
                kept = self._states.pop(aggregate_id, None)
                if kept is not None:
                    self._bytes -= kept[2]
                    self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self.evictions += len(self._states)
            self._states.clear()
            self._bytes = 0


@contextmanager
def _uncollected() -> Iterator[None]:
    """No cyclic garbage collection during one aggregate's load (`ChainedRepository.get`), when it was on.

    A load of 10,000 events makes some 100,000 container objects: the stored rows, kept until the last event is
    applied, each event's state and the aggregate's successive values. None is in a reference cycle (each is
    freed by its count, most as soon as applied, the rows at the end of the load), but while they live the
    collector passes over them every 700 allocations (~10 % of the load's CPU), moves the rows to its oldest
    generation, and every other load or so then walks the whole heap (+40 ms for a process of ~130,000
    objects; more in a worker). With it off for the load, none of that: the collector finds the heap as the
    load found it, the load's objects freed. Nothing is read or checked differently. Process-wide while it
    lasts, so other threads' cyclic garbage waits as long (one load); turned back on only by the load that
    turned it off (not if it was off already: a caller's `gc.disable()` stays), concurrent loads alike."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class ChainedRepository(Repository[UUID]):
    """The library's repository, projecting with `project_events` unless told otherwise; with `committed`, the
    latest version of an aggregate starts from the state kept there (`CommittedStates`)."""

    def __init__(
        self, event_store: Any, *, committed: CommittedStates | None = None, **kwargs: Any
    ) -> None:
        super().__init__(event_store, **kwargs)
        self.committed = committed

    def get(
        self, aggregate_id: UUID, *, version: int | None = None, projector_func: Any = project_events, **kwargs: Any
    ) -> Any:
        with _uncollected():
            return self._get(aggregate_id, version=version, projector_func=projector_func, **kwargs)

    def _get(self, aggregate_id: UUID, *, version: int | None, projector_func: Any, **kwargs: Any) -> Any:
        committed = self.committed
        if committed is None or version is not None or projector_func is not project_events:
            return super().get(aggregate_id, version=version, projector_func=projector_func, **kwargs)
        kept = committed.get(aggregate_id)
        if kept is None:
            seen: list[Any] = []
            aggregate = project_events(None, self.event_store.get(aggregate_id), seen)
            if aggregate is None:
                raise AggregateNotFoundError(f"Aggregate {aggregate_id!r} version None not found.")
            committed.keep(aggregate, seen)
            return aggregate
        at, aggregate = kept
        newer = list(self.event_store.get(aggregate_id, gt=at))
        committed.found(bool(newer))
        if newer:  # another writer's events (another record, another process)
            aggregate = project_events(aggregate, newer)
            committed.keep(aggregate, newer)
        return aggregate

    def kept(self, aggregate_id: UUID) -> Any | None:
        """A copy of the state kept for `aggregate_id`, the store not asked whether another writer moved it on
        since (`Record.deciding` alone may start from it); None when none is kept or while kept states are
        often found behind the store (`CommittedStates.trusted`)."""
        committed = self.committed
        if committed is None or not committed.trusted:
            return None
        kept = committed.get(aggregate_id)
        return None if kept is None else kept[1]

    def moved_on(self, aggregate_id: UUID, version: int) -> bool:
        """Has the store an event of `aggregate_id` after `version`, the kept one? (A select of at most one row,
        not mapped; the answer counted by `found`.)"""
        moved = bool(self.event_store.recorder.select_events(aggregate_id, gt=version, limit=1))
        self.found(moved)
        return moved

    def found(self, behind: bool) -> None:
        """A kept state was used and was (`behind`) or was not behind the store (`CommittedStates.found`)."""
        if self.committed is not None:
            self.committed.found(behind)

    def __contains__(self, item: UUID) -> bool:
        # Kept: committed, so stored (events are never removed).
        return (self.committed is not None and item in self.committed) or super().__contains__(item)


class Record(Application[UUID]):
    """The store. Two seams are ours (see `adapters.record.sql` and `adapters.record.sealing`):

    - the recorder chains every event by hash in the insert's own transaction
      (SQLite and PostgreSQL; the in-memory store of unit tests is not chained);
    - the mapper seals each event's `personal` dict with its `subject_id`'s key,
      so erasure is the destruction of that key (env `SUBJECT_KEKS`, i.e.
      `ARRIMAGE_SUBJECT_KEKS`, wraps those keys; a public dev default otherwise).
    """

    name = "arrimage"
    subject_keys: SubjectKeyStore
    group_commit: GroupCommit
    committed: CommittedStates | None
    """The states the repository starts from (`CommittedStates`); env ``RECORD_CACHE_BYTES`` bounds it
    (default 64 MiB; 0: none, every load replays from the store)."""
    RECORD_CACHE_BYTES = "RECORD_CACHE_BYTES"
    # Ententes only: they carry no personal content (crisis cases and registers do, sealed
    # per person in their events, and are never snapshotted). Snapshots are not chained and
    # `audit verify` does not read them, so nothing that decides reads them: `repository`
    # rebuilds every aggregate from its chained events (see `construct_repository`).
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[UUID]], int]] = {Entente: 100}

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env=dict(env) if env is not None else None)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's save inside a `record.append` span (in the activity's trace), counted by the engine's
        metrics (`adapters.telemetry.metrics`): kinds and counts only, never an id or a text."""
        with spans.appending() as span:
            recordings = self._save(objs, kwargs)
            if recordings and span.is_recording():
                kinds = sorted({type(r.domain_event).__qualname__.rpartition(".")[0] for r in recordings})
                span.set_attribute("arrimage.events", len(recordings))
                span.set_attribute("arrimage.aggregates", kinds)
        metrics.engine().observe_saved(objs, (r.domain_event for r in recordings))
        return recordings

    def deciding(self, aggregate_id: UUID, decide: Callable[[Any], D], load: Callable[[], Any]) -> D:
        """A command: the aggregate loaded, `decide` (the domain's decision, then `save` if it made events) run on
        it, its result returned. Loaded from the state kept after the last commit (`CommittedStates`) without the
        select every other load makes to read another writer's events since: a save decided on a state the store
        has moved past fails on the store's unique (aggregate, version), its transaction rolled back (nothing of
        it stored, the state evicted), and the decision is taken again on the stored state. A decision that
        saved nothing (a refusal, a retry answered from the state, nothing due) asks the store then, and is taken
        again on the stored state if the store had moved on. So no decision stands on a stale state, and a
        command that records costs one round trip fewer (~15 % of a command's CPU on PostgreSQL under 8
        threads). Nothing kept (or no committed states at all): `load`, the caller's load of the stored state
        (`repository.get`, its not-found error the caller's)."""
        repository = cast(ChainedRepository, self.repository)
        aggregate = repository.kept(aggregate_id)
        if aggregate is None:
            return decide(load())
        loaded = aggregate.version
        try:
            result = decide(aggregate)
        except RecordConflictError:  # the store had moved on: nothing of this save stored
            repository.found(True)
            return decide(load())
        except Exception:
            if aggregate.version != loaded or not repository.moved_on(aggregate_id, loaded):
                raise  # the domain refused on the stored state (or failed after deciding: not taken again)
            return decide(load())
        if aggregate.version == loaded and repository.moved_on(aggregate_id, loaded):
            return decide(load())
        if aggregate.version != loaded:
            repository.found(False)  # saved at the next version: the kept state was the store's
        return result

    def _save(self, objs: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Recording[UUID]]:
        """The library's `Application.save` (eventsourcing 9.5.6: collect, record, snapshots, notify), collecting
        an aggregate of the library's kind without its two `runtime_checkable` Protocol checks (~12 µs a save on
        Python 3.11): an instance of `BaseAggregate` is collected by its `collect_events` exactly as the library's
        `ProcessingEvent.collect_events` does once it has found it no `DomainEventProtocol` (which needs an
        `originator_id` and an `originator_version`: an aggregate having both goes the library's way) and a
        `CollectEventsProtocol` (every `BaseAggregate` is). Anything else goes the library's way."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        events, aggregates = processing_event.events, processing_event.aggregates
        for obj in objs:
            if isinstance(obj, BaseAggregate) and not (
                    hasattr(obj, "originator_id") and hasattr(obj, "originator_version")):
                events.extend(obj.collect_events())
                aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # the library's deprecated hook, called as its `save` calls it
        return recordings

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """The library's: the events put in the store, in one transaction; then (the commit acknowledged) the
        committed states moved on by them. Any failure evicts every aggregate of the save (`CommittedStates`)."""
        committed = self.committed
        try:
            recordings = super()._record(processing_event)
        except BaseException:
            if committed is not None:
                committed.evict(*processing_event.aggregates, *(e.originator_id for e in processing_event.events))
            raise
        if committed is not None:
            committed.committed(r.domain_event for r in recordings)
        return recordings

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """The library's environment, with the library's persistence modules read as ours (the one place)."""
        environment = super().construct_env(name, env)
        keys = [key for key in environment.create_keys(PERSISTENCE_MODULE) if key in environment]
        for key in keys:
            environment[key] = PERSISTENCE_MODULES.get(environment[key], environment[key])
        if not keys:  # the library's default store, with our subject keys
            environment[PERSISTENCE_MODULE] = PERSISTENCE_MODULES["eventsourcing.popo"]
        return environment

    @property
    def backend(self) -> Backend:
        return cast(Backend, self.factory)

    def construct_mapper(self) -> Mapper[UUID]:
        kek = ring_or_default(self.env.get("SUBJECT_KEKS"), DEV_SUBJECT_KEKS)
        self.subject_keys = self.backend.subject_key_store(kek)
        return RecordMapper(
            transcoder=self.construct_transcoder(),
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
            keys=self.subject_keys,
        )

    def construct_recorder(self) -> ApplicationRecorder:
        recorder = super().construct_recorder()  # the backend's chaining recorder
        # Concurrent saves (activity threads) share a transaction: see `adapters.record.group_commit`.
        self.group_commit = GroupCommit.install(recorder)
        return recorder

    def audit_store(self, page: int = 10_000) -> AuditStore:
        """The audit reader of this record's store (`AuditUnsupported` in memory)."""
        return self.backend.audit_store(page)

    def audit_tree(self, batch: int = 10_000) -> TreeStore:
        """The Merkle tree over this record's chain (`adapters.record.tree`), `AuditUnsupported` in memory."""
        from adapters.record.tree import TreeStore

        return TreeStore(self.audit_store().dialect, batch)

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON transcoder, read with orjson (`adapters.record.transcoder`: the same bytes written, the
        same values read), unless the environment names another (`TRANSCODER_TOPIC`)."""
        if self.env.get(self.factory.TRANSCODER_TOPIC):
            return super().construct_transcoder()
        transcoder = RecordTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_repository(self) -> Repository[UUID]:
        """The repository every use case loads with, and so every decision (disclosure, routing, rules):
        from the hash-chained events alone, never from a snapshot. A snapshot row is not chained: one
        inserted in the database would otherwise be believed (a withdrawn consent brought back, an entente
        put in force) while `audit verify` says ok. The cost: an entente of 10,000 events rebuilds in about
        0.3 s (`benchmarks.replay`); ententes of a few hundred events, in a few milliseconds.

        The latest version of an aggregate starts from its committed state (`CommittedStates`: kept from those
        events, never ahead of the store) and reads only the events stored after it. The library's own cache
        (``AGGREGATE_CACHE_*``) is not used: it keeps the caller's object, which a failed save leaves ahead."""
        limit = int(self.env.get(self.RECORD_CACHE_BYTES) or 64 << 20)
        self.committed = CommittedStates(limit) if limit > 0 else None
        return ChainedRepository(event_store=self.events, committed=self.committed)

    @cached_property
    def events_only(self) -> Repository[UUID]:
        """A repository that rebuilds from the hash-chained events alone, never from a snapshot, and keeps
        no cache: what an auditor's replay must rely on."""
        return ChainedRepository(event_store=self.events)

    @cached_property
    def from_snapshots(self) -> Repository[UUID]:
        """The library's repository, which starts from an entente's latest snapshot. Not for anything that
        decides or is shown: a snapshot is not chained, so a stale or forged one would be believed. Kept
        for measuring (`benchmarks.replay`) and for checking snapshots against the events."""
        return Repository(event_store=self.events, snapshot_store=self.snapshots)

    def events_of(self, event_class: type[Any], *, sealed: bool = False) -> Iterator[Any]:
        """Every event of one class across the store, in notification order, read from the
        notification log by topic (no aggregate is loaded), under its topic and the ones it had.
        With `sealed`, each event's `personal` part stays as stored: nobody's content is opened."""
        mapper = self.mapper
        decode = mapper.to_domain_event_sealed if sealed and isinstance(mapper, PersonalDataMapper) else (
            mapper.to_domain_event)
        topics = _named(get_topic(event_class))
        start = 1
        while True:
            batch = self.recorder.select_notifications(start=start, limit=500, topics=topics)
            if not batch:
                return
            for n in batch:
                yield decode(StoredEvent(
                    originator_id=n.originator_id, originator_version=n.originator_version, topic=n.topic,
                    state=n.state,
                ))
            start = batch[-1].id + 1

    def stream(self, originator_id: UUID, *, lte: int | None = None) -> Iterator[DomainEventProtocol[UUID]]:
        """The events of one aggregate in order (up to version `lte`)."""
        return iter(self.events.get(originator_id, lte=lte))


def event_payload(ev: DomainEventProtocol[UUID]) -> dict[str, Any]:
    """An event's own attributes, without the envelope."""
    skip = {"originator_id", "originator_version", "timestamp", "originator_topic"}
    return {k: v for k, v in ev.__dict__.items() if k not in skip}


def event_name(ev: DomainEventProtocol[UUID]) -> str:
    return type(ev).__qualname__.split(".")[-1]
