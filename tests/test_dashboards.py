"""The generated Grafana dashboards: committed output is current, valid against Grafana's
dashboard JSON schema, and structurally sound (ids, layout, datasource, variables, links,
recording-rule names). Their queries are run for real in test_dashboards_e2e.py."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from harness.tools import dozor
from monitor.catalog import load_catalog
from monitor.dashboards import DATASOURCE_UID, dashboards, render_dashboards
from monitor.promql import COVERAGE_THRESHOLD
from monitor.rules import render_rules

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "grafana"
# Derived from Grafana's dashboard kind as published by grafana-foundation-sdk; its $comment
# names the source and the three relaxations.
SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "grafana-dashboard.schema.json")
                    .read_text())
UIDS = {"dozor-overview", "dozor-service", "dozor-curator", "dozor-life-situations",
        "dozor-monitor"}
BUILTIN = re.compile(r"\$\{?(__\w+)")
VARIABLE = re.compile(r"\$\{?([A-Za-z]\w*)")

Doc = dict[str, Any]
RENDERED = {name: json.loads(text) for name, text in render_dashboards().items()}


def _docs() -> list[Doc]:
    return list(RENDERED.values())


def _ids(docs: list[Doc]) -> list[str]:
    return [d["uid"] for d in docs]


def test_committed_json_is_the_generated_json() -> None:
    committed = {p.name: p.read_text(encoding="utf-8")
                 for p in (GRAFANA / "dashboards").glob("*.json")}
    assert committed == render_dashboards(), \
        "grafana/dashboards is stale: run `dozor dashboards -o grafana/dashboards`"


def test_cli_writes_the_same_files(tmp_path: Path) -> None:
    # A subprocess: main() configures logging onto this process's (captured) stderr.
    done = dozor("dashboards", "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    written = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "out").iterdir()}
    assert written == render_dashboards()
    assert len(done.stdout.splitlines()) == len(UIDS)


def test_stable_uids() -> None:
    assert {d["uid"] for d in _docs()} == UIDS
    assert set(RENDERED) == {f"{uid}.json" for uid in UIDS}


@pytest.mark.parametrize("doc", _docs(), ids=_ids(_docs()))
def test_valid_against_grafana_schema(doc: Doc) -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(doc)]
    assert errors == []


def _first_panel(doc: Doc) -> Doc:
    panel: Doc = doc["panels"][0]
    return panel


# Each mutation breaks the dashboard the way a hand edit could; the schema must notice.
BREAKAGES: dict[str, Callable[[Doc], None]] = {
    "unknown top-level key": lambda d: d.update(rows=[]),
    "templating missing": lambda d: d.pop("templating"),
    "panel wider than the grid": lambda d: _first_panel(d)["gridPos"].update(w=25),
    "panel without a type": lambda d: _first_panel(d).pop("type"),
    "unknown variable type": lambda d: d["templating"]["list"].append(
        {"type": "dropdown", "name": "x"}),
    "threshold without colour": lambda d: _first_panel(d)["fieldConfig"]["defaults"][
        "thresholds"]["steps"][0].pop("color"),
    "datasource ref with a name": lambda d: _first_panel(d).update(
        datasource={"name": "Prometheus"}),
    "unknown colour mode": lambda d: _first_panel(d)["fieldConfig"]["defaults"].update(
        color={"mode": "rainbow"}),
}


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_schema_rejects_broken_dashboards(breakage: Callable[[Doc], None]) -> None:
    doc = copy.deepcopy(RENDERED["dozor-overview.json"])
    breakage(doc)
    assert not jsonschema.Draft7Validator(SCHEMA).is_valid(doc)


@pytest.mark.parametrize("doc", _docs(), ids=_ids(_docs()))
def test_panel_ids_unique_and_layout_without_overlap(doc: Doc) -> None:
    panels = doc["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[x, y]!r}"
                cells[x, y] = p["title"]


@pytest.mark.parametrize("doc", _docs(), ids=_ids(_docs()))
def test_every_query_names_the_provisioned_datasource(doc: Doc) -> None:
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert [d["uid"] for d in provisioned["datasources"]] == [DATASOURCE_UID]
    for p in doc["panels"]:
        assert p["targets"], p["title"]
        assert p["datasource"]["uid"] == DATASOURCE_UID
        for t in p["targets"]:
            assert t["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}
            assert t["expr"].strip() and t["refId"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs))
    for v in doc["templating"]["list"]:
        if v["type"] == "query":
            assert v["datasource"]["uid"] == DATASOURCE_UID
    for a in doc["annotations"]["list"]:
        if not a.get("builtIn"):
            assert a["datasource"]["uid"] == DATASOURCE_UID


def _texts(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() if k != "templating" for s in _texts(v)]
    if isinstance(node, list):
        return [s for v in node for s in _texts(v)]
    return []


@pytest.mark.parametrize("doc", _docs(), ids=_ids(_docs()))
def test_every_variable_used_is_defined(doc: Doc) -> None:
    defined = {v["name"] for v in doc["templating"]["list"]}
    texts = [*_texts({k: v for k, v in doc.items() if k != "templating"}),
             *(v.get("query", "") for v in doc["templating"]["list"])]
    used = {m for t in texts for m in VARIABLE.findall(t)}
    assert used <= defined, f"undefined: {used - defined}"
    builtins = {m for t in texts for m in BUILTIN.findall(t)}
    assert builtins <= {"__range", "__rate_interval", "__interval", "__value",
                        "__url_time_range", "__all"}


def test_variables_come_from_service_info() -> None:
    service = RENDERED["dozor-service.json"]
    queries = {v["name"]: v["query"] for v in service["templating"]["list"]
               if v["type"] == "query"}
    assert set(queries) == {"region", "level", "department", "curator", "service"}
    assert all(q.startswith("label_values(dozor_service_info") for q in queries.values())


def test_service_cells_link_to_the_service_dashboard() -> None:
    links = [prop["value"][0]["url"]
             for doc in _docs() for p in doc["panels"]
             for o in p["fieldConfig"]["overrides"] for prop in o["properties"]
             if prop["id"] == "links"]
    assert len(links) >= 5
    assert all(u.startswith("/d/dozor-service/") and "var-service=${__value.raw}" in u
               for u in links)
    service_vars = {v["name"] for v in RENDERED["dozor-service.json"]["templating"]["list"]}
    assert "service" in service_vars
    for doc in _docs():  # every dashboard reaches the others
        assert doc["links"][0]["type"] == "dashboards" and "dozor" in doc["tags"]


def test_recording_rule_names_exist() -> None:
    """Every ``dozor:...`` series a panel charts is recorded by `dozor rules`."""
    rules = yaml.safe_load(render_rules(load_catalog(ROOT / "config" / "examples" / "demo")))
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    charted = {m for doc in _docs() for p in doc["panels"] for t in p["targets"]
               for m in re.findall(r"dozor:[\w:]+", t["expr"])}
    assert charted and charted <= recorded, charted - recorded


def test_standard_breaches_are_coloured_red() -> None:
    """The thresholds flag breaking the standard: availability below 99.5 % and the
    national goal below 95 % are red, an expired error budget too."""
    def base_then(panel: Doc) -> list[tuple[Any, str]]:
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        return [(s["value"], s["color"]) for s in steps]

    titles = {p["title"]: p for doc in _docs() for p in doc["panels"]}
    assert base_then(titles["Availability over the standard's window"]) == [
        (None, "red"), (0.995, "green")]
    assert base_then(titles["National goal: МСЗУ services meeting the 24/7 standard"]) == [
        (None, "red"), (0.95, "yellow"), (0.99, "green")]
    assert base_then(titles["Error budget remaining"])[0] == (None, "red")


def test_coverage_on_service_and_monitor_dashboards_is_never_red() -> None:
    """Missed runs are the monitor's gap, not the service's failure: below the threshold a
    coverage panel is orange ("not enough data"), green from it, red nowhere."""
    panels = {(doc["uid"], p["title"]): p for doc in _docs() for p in doc["panels"]}
    coverage = [p for (uid, title), p in panels.items()
                if uid in ("dozor-service", "dozor-monitor")
                and any("coverage" in t["expr"] or "runs_due" in t["expr"]
                        for t in p["targets"])]
    assert {p["title"] for p in coverage} == {
        "Coverage over the standard's window", "Coverage by location (1h)",
        "Scheduled runs done, by location (1h)",
        "Services with not enough data (coverage below 90%)"}
    for panel in coverage:
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [(s["value"], s["color"]) for s in steps] == [
            (None, "orange"), (COVERAGE_THRESHOLD, "green")], panel["title"]


def test_the_monitor_dashboard_shows_skipped_runs_by_reason() -> None:
    """Overlap (a slow probe) and overload (runs shed: DozorOverloaded) are different
    troubles: one line each, per daemon."""
    panels = {p["title"]: p for p in RENDERED["dozor-monitor.json"]["panels"]}
    [target] = panels["Skipped runs, by reason"]["targets"]
    assert target["expr"].startswith(
        "sum by (instance, reason) (increase(dozor_scheduler_skipped_runs_total[")
    assert "{{reason}}" in target["legendFormat"]


def test_maintenance_is_an_annotation() -> None:
    annotations = RENDERED["dozor-service.json"]["annotations"]["list"]
    assert any("dozor_maintenance_active" in a.get("expr", "") for a in annotations)


def test_dashboard_provider_points_at_a_folder() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dozor.yml").read_text())
    [p] = provider["providers"]
    assert p["type"] == "file" and p["options"]["path"]


def test_json_panel_ids_match_the_models() -> None:
    """The e2e test looks up ``may_be_empty`` by the JSON panel's id."""
    for d in dashboards():
        doc = RENDERED[f"{d.uid}.json"]
        assert [(p["id"], p["title"]) for p in doc["panels"]] == \
            [(i, d.panel(i).title) for i, _, _, _ in d.placed()]
    assert any(p.may_be_empty for d in dashboards() for _, _, _, p in d.placed())
