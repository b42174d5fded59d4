"""The catalog as typed, frozen models. Loading, line numbers and cross-checks live elsewhere
(``loading.py``, ``checks.py``); these classes only describe shape and single-field rules."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from probes.http import HttpSpec
from probes.spec import Duration, Percent, StrictModel

Slug = Annotated[
    str,
    Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$", description="lower-case id: a-z 0-9 . _ -"),
]
Level = Literal["federal", "regional", "municipal"]
Spec = HttpSpec  # grows into a union as probe kinds are added
KINDS = ("http",)


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


class Curator(StrictModel):
    id: Slug
    name: str = Field(min_length=1)
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    telegram: str | None = None
    webhook: str | None = Field(None, pattern=r"^https?://")
    deputy: Slug | None = None


class LifeSituation(StrictModel):
    id: Slug
    name: str = Field(min_length=1)


class Probe(StrictModel):
    name: Slug
    interval: Duration | None = None
    timeout: Duration | None = None
    http: HttpSpec | None = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Probe:
        given = [k for k in KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a probe needs exactly one kind key ({', '.join(KINDS)}); "
                f"found {', '.join(given) if given else 'none'}"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @property
    def spec(self) -> Spec:
        spec: Spec = getattr(self, self.kind)
        return spec


class Service(StrictModel):
    id: Slug
    name: str = Field(min_length=1)
    level: Level
    region: str
    department: str = Field(min_length=1)
    mszu: bool = False
    curator: Slug
    life_situations: tuple[Slug, ...] = ()
    standard: StandardOverride = StandardOverride()
    probes: tuple[Probe, ...] = Field(min_length=1)


class Catalog(StrictModel):
    standard: Standard = Standard()
    defaults: Defaults = Defaults()
    regions: tuple[Region, ...] = ()
    curators: tuple[Curator, ...] = ()
    life_situations: tuple[LifeSituation, ...] = ()
    services: tuple[Service, ...] = ()

    def standard_for(self, service: Service) -> Standard:
        """The service's effective standard: the catalog's, tightened by its override."""
        return self.standard.model_copy(update=service.standard.model_dump(exclude_none=True))

    def region(self, code: str) -> Region:
        return next(r for r in self.regions if r.code == code)

    def interval(self, probe: Probe) -> float:
        return probe.interval if probe.interval is not None else self.defaults.interval

    def timeout(self, probe: Probe) -> float:
        return probe.timeout if probe.timeout is not None else self.defaults.timeout
