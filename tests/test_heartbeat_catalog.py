"""The heartbeat kind's catalog rules: every mistake at load, with file, line and field, and
never the token itself (it is a secret, or about to become one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.catalog_factory import catalog_dict, write_catalog
from monitor.catalog import CatalogError, load_catalog
from probes import HeartbeatSpec

FIELD = "services[svc-00000].probes[job].heartbeat"
TOKEN = "0123456789abcdef-token"


def _data(heartbeat: dict[str, Any]) -> dict[str, Any]:
    data = catalog_dict(["http://127.0.0.1/"])
    data["services"][0]["probes"] = [{"name": "job", "heartbeat": heartbeat}]
    return data


def _issues(tmp_path: Path, data: dict[str, Any], env: dict[str, str] | None = None
            ) -> list[tuple[str, str]]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(write_catalog(tmp_path / "catalog.yaml", data), env=env or {})
    for issue in caught.value.issues:
        assert issue.line is not None and issue.file.endswith("catalog.yaml"), str(issue)
    return [(issue.field, issue.message) for issue in caught.value.issues]


def test_a_full_spec_loads_with_its_token_from_the_environment(tmp_path: Path) -> None:
    data = _data({"token": "${JOB_TOKEN}", "cron": "0 2 * * 1-5", "grace": "30m",
                  "business_hours_only": True, "max_duration": "2h"})
    catalog = load_catalog(write_catalog(tmp_path / "catalog.yaml", data),
                           env={"JOB_TOKEN": TOKEN})
    spec = catalog.services[0].probes[0].spec
    assert isinstance(spec, HeartbeatSpec)
    assert (spec.token, spec.cron, spec.grace, spec.max_duration) == (TOKEN, "0 2 * * 1-5",
                                                                       1800.0, 7200.0)
    assert spec.business_hours_only and spec.period is None
    assert TOKEN in catalog.secrets
    assert not spec.measures_latency() and spec.latency_objective() is None


@pytest.mark.parametrize(("heartbeat", "field", "message"), [
    ({"token": "short-token", "period": "1d"}, ".token", "16 to 128 characters"),
    ({"token": "with/a/slash/in/the/token", "period": "1d"}, ".token", "may hold only"),
    ({"token": TOKEN}, "", "exactly one of period"),
    ({"token": TOKEN, "period": "1d", "cron": "0 2 * * *"}, "", "exactly one of period"),
    ({"token": TOKEN, "cron": "0 2 * *"}, ".cron", "not five cron fields"),
    ({"token": TOKEN, "cron": "0 25 * * *"}, ".cron", "not a five-field cron expression"),
    ({"token": TOKEN, "period": "daily"}, ".period", "not a duration"),
    ({"token": TOKEN, "period": "1d", "grace": "-5m"}, ".grace", "not a duration"),
    ({"token": TOKEN, "period": "1d", "business_hours": True}, ".business_hours",
     "did you mean 'business_hours_only'"),
    ({"period": "1d"}, ".token", "required"),
])
def test_each_mistake_is_reported_where_it_is(tmp_path: Path, heartbeat: dict[str, Any],
                                              field: str, message: str) -> None:
    issues = _issues(tmp_path, _data(heartbeat))
    assert any(f == FIELD + field and message in m for f, m in issues), issues


def test_a_short_secret_is_refused_without_being_quoted(tmp_path: Path) -> None:
    issues = _issues(tmp_path, _data({"token": "${JOB_TOKEN}", "period": "1d"}),
                     env={"JOB_TOKEN": "tiny-secret"})
    assert issues and all("tiny-secret" not in f + m for f, m in issues), issues


def test_a_token_used_twice_is_refused_without_being_quoted(tmp_path: Path) -> None:
    data = catalog_dict(["http://127.0.0.1/a", "http://127.0.0.1/b"])
    data["services"][0]["probes"] = [
        {"name": "export", "heartbeat": {"token": "${A}", "period": "1d"}}]
    data["services"][1]["probes"] = [
        {"name": "import", "heartbeat": {"token": "${B}", "cron": "0 3 * * *"}}]
    issues = _issues(tmp_path, data, env={"A": TOKEN, "B": TOKEN})
    assert len(issues) == 1, issues
    field, message = issues[0]
    assert field == "services[svc-00001].probes[import].heartbeat.token"
    assert "probe 'export' of service 'svc-00000' (at line" in message
    assert TOKEN not in message
