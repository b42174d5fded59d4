"""The catalog as typed, frozen models. Loading, line numbers and cross-checks live elsewhere
(``loading.py``, ``checks.py``); these classes only describe shape and single-field rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, PrivateAttr, create_model, field_validator, model_validator

from probes import KINDS as REGISTRY
from probes import Duration, Kind, Percent, SpecBase, StrictModel, check_kinds

Slug = Annotated[
    str,
    Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$", description="lower-case id: a-z 0-9 . _ -"),
]
Level = Literal["federal", "regional", "municipal"]
Spec = SpecBase  # any registered kind's spec (probes.KINDS)


class Standard(StrictModel):
    """The 24/7 standard. Every service inherits it and may only tighten it."""

    availability: Percent = 0.995
    window: Duration = 30 * 86400.0
    offhours_availability: Percent = 0.995
    max_outage: Duration = 3600.0
    latency_p95: Duration = 2.0
    maintenance_counts: bool = True


class StandardOverride(StrictModel):
    """A service's tightening of the standard; the window is national and cannot change."""

    availability: Percent | None = None
    offhours_availability: Percent | None = None
    max_outage: Duration | None = None
    latency_p95: Duration | None = None
    maintenance_counts: bool | None = None


class Defaults(StrictModel):
    interval: Duration = 60.0
    timeout: Duration = 10.0


class Region(StrictModel):
    code: str = Field(description="ISO 3166-2:RU code, e.g. RU-SMO")
    name: str = Field(min_length=1)
    timezone: str = Field(description="IANA time zone, e.g. Europe/Moscow")


PublicCuratorField = Literal["photo", "email", "phone", "telegram"]


class Curator(StrictModel):
    id: Slug
    name: str = Field(min_length=1)
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    telegram: str | None = Field(
        None, pattern=r"^-?[0-9]+$",
        description="numeric Telegram chat id (Alertmanager needs the number, not @name)")
    webhook: str | None = Field(None, pattern=r"^https?://")
    deputy: Slug | None = None
    phone: str | None = Field(None, pattern=r"^\+?[0-9][0-9 ()-]{4,24}$")
    photo: str | None = Field(
        None, pattern=r"^https://",
        description="an https:// URL of the curator's photo, for the status page")
    # The status page shows a curator's name always (citizens are promised who answers for
    # a service) and any other field only when listed here: contacts are private by default.
    public: tuple[PublicCuratorField, ...] = Field(
        (), description="fields shown on the public status page besides the name")


class LifeSituation(StrictModel):
    id: Slug
    name: str = Field(min_length=1)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Maintenance(StrictModel):
    """A maintenance window in the service region's local time. Exactly one form:
    one-off (``start``, ``end``), weekly (``weekdays``, ``from``, ``to``; no weekdays means
    every day; may cross midnight) or ``cron`` (five fields) with a ``duration``."""

    reason: str = ""
    announced: bool = Field(True, description="announced in advance to citizens")
    start: dt.datetime | None = Field(None, description="one-off start, local time")
    end: dt.datetime | None = Field(None, description="one-off end, local time")
    weekdays: tuple[Weekday, ...] = ()
    from_: dt.time | None = Field(None, alias="from", description="weekly start, HH:MM")
    to: dt.time | None = Field(None, description="weekly end, HH:MM")
    cron: str | None = Field(None, description="e.g. '0 2 * * sun'")
    duration: Duration | None = None

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a five-field cron expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Maintenance:
        one_off = self.start is not None or self.end is not None
        weekly = self.from_ is not None or self.to is not None or bool(self.weekdays)
        cron = self.cron is not None or self.duration is not None
        if sum((one_off, weekly, cron)) != 1:
            raise ValueError("a maintenance window needs exactly one form: start+end, "
                             "weekdays+from+to, or cron+duration")
        if one_off and (self.start is None or self.end is None or self.start >= self.end):
            raise ValueError("a one-off window needs start before end")
        if self.start is not None and self.start.tzinfo is not None:
            raise ValueError("write start/end in the region's local time, without an offset")
        if weekly and (self.from_ is None or self.to is None or self.from_ == self.to):
            raise ValueError("a weekly window needs different 'from' and 'to' times")
        if cron and (self.cron is None or self.duration is None):
            raise ValueError("a cron window needs both cron and duration")
        return self


class ProbeBase(StrictModel):
    """What every probe is, whatever its kind. The concrete ``Probe`` model adds one optional
    field per registered kind (``probe_model``); exactly one of them must be given."""

    kind_names: ClassVar[tuple[str, ...]] = ()  # the model's kind keys, in registry order

    if TYPE_CHECKING:  # the fields, for type checkers; the model itself is built below
        name: str
        interval: float | None
        timeout: float | None
        retries: int
        failure_threshold: int
        success_threshold: int
        depends_on: tuple[str, ...]

        def __getattr__(self, kind: str) -> Any: ...  # one optional spec per kind

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> ProbeBase:
        kinds = self.kind_names
        given = [k for k in kinds if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a probe needs exactly one kind key ({', '.join(kinds)}); "
                f"found {', '.join(given) if given else 'none'}"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in self.kind_names if getattr(self, k) is not None)

    @property
    def spec(self) -> Spec:
        spec: Spec = getattr(self, self.kind)
        return spec


def probe_model(kinds: Iterable[Kind]) -> type[ProbeBase]:
    """The catalog's probe model for a kind registry (checked first: TypeError if broken).
    Field order is the catalog's: name, interval, timeout, the kinds, confirmation, then
    dependencies."""
    kinds = check_kinds(kinds)
    fields: dict[str, Any] = {
        "name": (Slug, ...),
        "interval": (Duration | None, None),
        "timeout": (Duration | None, None),
        **{kind.name: (kind.spec | None, None) for kind in kinds},
        # Confirmation (see README "Confirmation"): immediate re-probes on failure, the last
        # attempt decides; and how many consecutive verdicts flip the up/down state.
        "retries": (int, Field(0, ge=0, le=5)),
        "failure_threshold": (int, Field(1, ge=1, le=20)),
        "success_threshold": (int, Field(1, ge=1, le=20)),
        # Platforms only this probe's path uses, on top of its service's depends_on.
        "depends_on": (tuple[Slug, ...], Field((), description="platform ids")),
    }
    model: type[ProbeBase] = create_model(
        "Probe", __base__=ProbeBase, __module__=__name__, **fields)
    model.kind_names = tuple(kind.name for kind in kinds)
    return model


if TYPE_CHECKING:
    Probe = ProbeBase
else:
    Probe = probe_model(REGISTRY)

KINDS: tuple[str, ...] = Probe.kind_names  # the catalog's kind keys, in registry order


class Service(StrictModel):
    id: Slug
    name: str = Field(min_length=1)
    level: Level
    region: str
    department: str = Field(min_length=1)
    mszu: bool = False
    curator: Slug
    life_situations: tuple[Slug, ...] = ()
    # The service's own address for citizens, shown on the status page. Probe targets never
    # are: they may name internal hosts, carry credentials or test accounts.
    public_url: str | None = Field(None, pattern=r"^https?://",
                                   description="the citizen-facing address, shown publicly")
    # Shared platforms every probe of the service goes through (single sign-on, the
    # exchange bus): while one is down, the service's outage is the platform's.
    depends_on: tuple[Slug, ...] = Field((), description="platform ids")
    standard: StandardOverride = StandardOverride()
    maintenance: tuple[Maintenance, ...] = ()
    probes: tuple[Probe, ...] = Field(min_length=1)


class Platform(StrictModel):
    """A shared platform services depend on (single sign-on, the inter-agency exchange bus, a
    portal): probed like a service, under its own id, but not a citizen-facing service. Its
    curator is paged when it is down, instead of every dependent service's curator; it is in
    no ranking and no service list. Its ids share the services' namespace, because its probes'
    series carry it in the ``service`` label."""

    id: Slug
    name: str = Field(min_length=1)
    curator: Slug
    region: str = Field(description="where it is run from: its runs' local time")
    department: str | None = None
    probes: tuple[Probe, ...] = Field(min_length=1)


class Catalog(StrictModel):
    standard: Standard = Standard()
    defaults: Defaults = Defaults()
    regions: tuple[Region, ...] = ()
    curators: tuple[Curator, ...] = ()
    life_situations: tuple[LifeSituation, ...] = ()
    services: tuple[Service, ...] = ()
    platforms: tuple[Platform, ...] = ()
    # Values that came from the environment or secret files (set by load_catalog); private,
    # so they are in no schema, dump or repr.
    _secrets: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @property
    def secrets(self) -> frozenset[str]:
        """Strings that must never be logged: redact them (monitor.runtime.logs.redact_secrets)."""
        return self._secrets

    def standard_for(self, service: Service) -> Standard:
        """The service's effective standard: the catalog's, tightened by its override."""
        return self.standard.model_copy(update=service.standard.model_dump(exclude_none=True))

    def region(self, code: str) -> Region:
        return next(r for r in self.regions if r.code == code)

    def timezones(self) -> dict[str, str]:
        """Region code -> IANA zone; every service's region is in it (the loader checks)."""
        return {r.code: r.timezone for r in self.regions}

    @property
    def probed(self) -> tuple[Service | Platform, ...]:
        """Everything that has probes: the services, then the platforms."""
        return (*self.services, *self.platforms)

    def dependencies(self, service: Service, probe: Probe) -> tuple[str, ...]:
        """The platforms a service's probe goes through: its service's and its own, in the
        order written, each once."""
        return tuple(dict.fromkeys((*service.depends_on, *probe.depends_on)))

    def interval(self, probe: Probe) -> float:
        return probe.interval if probe.interval is not None else self.defaults.interval

    def timeout(self, probe: Probe) -> float:
        return probe.timeout if probe.timeout is not None else self.defaults.timeout
