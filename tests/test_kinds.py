"""The kind contract: a kind registered in one place only (probes.KINDS), and a half-registered
kind fails here, or when the catalog model is built, never on a probe run."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

import probes
from harness.catalog_factory import EVERY_KIND, catalog_dict, write_catalog
from monitor.catalog import load_catalog
from monitor.catalog.model import KINDS as CATALOG_KINDS
from monitor.catalog.model import Probe, probe_model
from monitor.catalog.schema import catalog_json_schema
from monitor.runtime.plan import plan_jobs
from probes import KINDS, PROBES, Kind, ProbeContext, ProbeResult, SpecBase, StrictModel
from probes.http import HttpSpec, probe_http

REPO = Path(__file__).resolve().parent.parent
SCHEMA_FILE = REPO / "config" / "schema" / "catalog.schema.json"

# A valid spec of each kind (harness.catalog_factory.EVERY_KIND): adding a kind adds one.
MINIMAL = EVERY_KIND


def _all_subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    sub: type
    for sub in cls.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def _import_every_probes_module() -> None:
    for info in pkgutil.walk_packages(probes.__path__, "probes."):
        importlib.import_module(info.name)


def test_every_spec_class_is_registered() -> None:
    _import_every_probes_module()
    registered = {kind.spec for kind in KINDS}
    specs = {cls for cls in _all_subclasses(SpecBase) if cls.__module__.startswith("probes.")}
    assert specs == registered, "every SpecBase model in probes/ needs a Kind in probes.KINDS"
    exported = [getattr(probes, name) for name in probes.__all__]
    assert {c for c in exported if isinstance(c, type) and issubclass(c, SpecBase)
            and c is not SpecBase} <= registered


def test_every_kind_module_is_registered() -> None:
    """probes/<kind>.py or probes/<kind>/: every public module of probes/ is a registered kind."""
    modules = {info.name for info in pkgutil.iter_modules(probes.__path__)
               if not info.name.startswith("_")}
    assert modules == {kind.name for kind in KINDS}


def test_registry_entries_are_complete_and_unique() -> None:
    names = [kind.name for kind in KINDS]
    assert len(set(names)) == len(names)
    assert len({kind.spec for kind in KINDS}) == len(KINDS)
    for kind in KINDS:
        assert callable(kind.probe)
        assert PROBES[kind.spec] is kind.probe
        assert kind.spec.latency_objective is not SpecBase.latency_objective, kind.name
    assert set(PROBES) == {kind.spec for kind in KINDS}


def test_catalog_model_is_derived_from_the_registry() -> None:
    names = tuple(kind.name for kind in KINDS)
    assert names == CATALOG_KINDS
    assert Probe.kind_names == names
    for kind in KINDS:
        assert kind.name in Probe.model_fields


def test_every_kind_is_in_the_json_schema() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    for schema in (catalog_json_schema(), committed):
        probe = schema["$defs"]["Probe"]
        for kind in KINDS:
            assert kind.name in probe["properties"], kind.name
            assert {"required": [kind.name]} in probe["oneOf"], kind.name
        assert len(probe["oneOf"]) == len(KINDS)


def test_every_kind_is_in_the_readme_catalog_section() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## The catalog\n", 1)[1].split("\n## ", 1)[0]
    for kind in KINDS:
        assert re.search(rf"^\s*(- )?{kind.name}:", section, re.MULTILINE), (
            f"README's catalog section has no example of the {kind.name!r} kind")


def test_minimal_examples_cover_every_kind() -> None:
    assert set(MINIMAL) == {kind.name for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_catalog_accepts_a_minimal_probe_of_each_kind(kind: Kind, tmp_path: Path) -> None:
    data = catalog_dict(["http://127.0.0.1/"])
    data["services"][0]["probes"] = [{"name": "only", kind.name: MINIMAL[kind.name]}]
    catalog = load_catalog(write_catalog(tmp_path / "catalog.yaml", data))
    probe = catalog.services[0].probes[0]
    assert probe.kind == kind.name
    assert isinstance(probe.spec, kind.spec)
    (job,) = plan_jobs(catalog).values()
    assert PROBES[type(job.spec)] is kind.probe


class _Unregistered(StrictModel):  # not a SpecBase
    url: str


class _NoObjective(SpecBase):  # forgets latency_objective()
    url: str


def _sync_probe(spec: Any, ctx: ProbeContext) -> ProbeResult:
    return ProbeResult.ok()


@pytest.mark.parametrize(
    ("kinds", "message"),
    [
        ((Kind("http", HttpSpec, probe_http), Kind("http", HttpSpec, probe_http)),
         "registered twice"),
        ((Kind("http", HttpSpec, probe_http), Kind("web", HttpSpec, probe_http)),
         "registered twice"),
        ((Kind("odd", _Unregistered, probe_http),), "not a SpecBase"),  # type: ignore[arg-type]
        ((Kind("odd", _NoObjective, probe_http),), "latency_objective"),
        ((Kind("odd", HttpSpec, _sync_probe),), "not an async function"),  # type: ignore[arg-type]
        ((Kind("Bad-Name", HttpSpec, probe_http),), "not a lower-case identifier"),
        ((), "no probe kinds"),
    ],
)
def test_a_broken_registration_fails_when_the_catalog_model_is_built(
        kinds: tuple[Kind, ...], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        probe_model(kinds)


def test_a_model_built_from_another_registry_knows_only_its_kinds() -> None:
    model = probe_model([Kind("http", HttpSpec, probe_http)])
    assert model.kind_names == ("http",)
    with pytest.raises(ValueError, match=r"exactly one kind key \(http\); found none"):
        model.model_validate({"name": "p"})
    assert model.model_validate({"name": "p", "http": {"url": "http://a/"}}).kind == "http"


def test_models_given_the_same_fields_share_one_fields_set_and_copies_do_not() -> None:
    """StrictModel shares the set of given fields between models (memory at 10,000 services);
    a copy with changes must get its own, leaving the shared one as it was."""
    a = HttpSpec(url="http://127.0.0.1:1/a")
    b = HttpSpec(url="http://127.0.0.1:1/b")
    assert a.model_fields_set is b.model_fields_set
    changed = a.model_copy(update={"method": "HEAD"})
    assert changed.model_fields_set == {"url", "method"}
    assert a.model_fields_set == b.model_fields_set == {"url"}
