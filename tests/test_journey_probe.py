"""The journey probe against a real local e-service (harness/journey_app.py): steps in order
sharing cookies, extraction by JSON path, regex and header, polling until a result is ready,
failures naming their step; and the spec's and the loader's rules for journeys."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy
from pydantic import ValidationError

from harness.catalog_factory import catalog_dict, write_catalog
from harness.journey_app import PASSWORD, JourneyApp, start_journey_app, steps
from monitor.catalog import CatalogError, load_catalog
from probes import Phase, ProbeContext, Reason, run_probe
from probes.http import HttpReply
from probes.journey import JourneySpec, probe_journey
from probes.journey.extract import Extract, PollUntil, extract_value, until_misses


def journey(step_list: list[dict[str, Any]]) -> JourneySpec:
    return JourneySpec.model_validate({"steps": step_list})


async def serve(app: JourneyApp) -> TestServer:
    return await start_journey_app(app)


@pytest.fixture
async def service() -> AsyncIterator[tuple[JourneyApp, str]]:
    app = JourneyApp(password=PASSWORD, ready_after=0.5)
    server = await serve(app)
    yield app, str(server.make_url("")).rstrip("/")
    await server.close()


async def test_happy_path_times_steps_and_result(
    service: tuple[JourneyApp, str], ctx: ProbeContext
) -> None:
    app, base = service
    result = await probe_journey(journey(steps(base)), ctx)
    assert result.success, result.detail
    assert list(result.steps) == ["login", "submit", "status"]
    assert all(seconds > 0 for seconds in result.steps.values())
    assert result.time_to_result is not None
    assert 0.2 <= result.time_to_result <= 0.8, result.time_to_result  # ready after 0.5 s
    # From the submit's start: the submit step itself plus the polling.
    assert result.time_to_result <= result.steps["submit"] + result.steps["status"] + 0.01
    assert app.hits["/applications/{id}"] >= 3  # polled, not lucky
    # Phases are summed over every request: at least one processing wait per request.
    assert result.phases[Phase.PROCESSING] > 0 and result.phases[Phase.CONNECT] > 0
    assert app.users == ["ivanov"]


async def test_cookies_carry_between_steps_but_not_between_runs(
    service: tuple[JourneyApp, str], ctx: ProbeContext
) -> None:
    _app, base = service
    first = await probe_journey(journey(steps(base)), ctx)
    assert first.success, first.detail
    # The same session, a run without the login step: no cookie from the earlier run.
    submit_only = steps(base)[1]
    submit_only["request"]["headers"] = {"X-CSRF-Token": "anything"}
    del submit_only["submit"]
    second = await probe_journey(journey([submit_only]), ctx)
    assert second.reason is Reason.HTTP_STATUS
    assert second.detail == "step 'submit': http_status: status 401, expected one of [201]"


# (id, app options, steps options, reason, detail regex, steps reported)
FAILURES: list[tuple[str, dict[str, Any], dict[str, Any], Reason, str, list[str]]] = [
    ("wrong password", {}, {"password": "wrong password"}, Reason.HTTP_STATUS,
     r"^step 'login': http_status: status 401, expected one of \[200\]$", ["login"]),
    ("submit fails", {"submit_status": 500}, {}, Reason.HTTP_STATUS,
     r"^step 'submit': http_status: status 500, expected one of \[201\]$", ["login", "submit"]),
    ("never ready", {"ready_after": math.inf}, {"ready_within": "500ms"}, Reason.ASSERTION,
     r"^step 'status': assertion: result not ready within 0\.5s \(\d+ requests; "
     r"last: \$\.status is not \"ready\"\)$", ["login", "submit", "status"]),
    ("regex extraction misses", {}, {"csrf_regex": r'name="token" content="(\w+)"'},
     Reason.ASSERTION, r"^step 'login': assertion: cannot extract 'csrf': body does not match "
     r"regex", ["login"]),
    ("header extraction misses", {}, {"ref_header": "X-Ref"}, Reason.ASSERTION,
     r"^step 'login': assertion: cannot extract 'ref': response header 'X-Ref' is missing$",
     ["login"]),
    ("json extraction misses", {}, {"app_id_path": "$.application.number"}, Reason.ASSERTION,
     r"^step 'submit': assertion: cannot extract 'app_id': \$\.application\.number is not in "
     r"the response JSON$", ["login", "submit"]),
    ("json extraction of an object", {}, {"app_id_path": "$.application"}, Reason.ASSERTION,
     r"cannot extract 'app_id': \$\.application is an object, not a single value$",
     ["login", "submit"]),
]


@pytest.mark.parametrize(
    ("app_options", "step_options", "reason", "detail", "reported"),
    [case[1:] for case in FAILURES], ids=[case[0] for case in FAILURES],
)
async def test_failures_name_the_step(
    ctx: ProbeContext, app_options: dict[str, Any], step_options: dict[str, Any],
    reason: Reason, detail: str, reported: list[str],
) -> None:
    app = JourneyApp(password=PASSWORD, **app_options)
    server = await serve(app)
    try:
        base = str(server.make_url("")).rstrip("/")
        result = await probe_journey(journey(steps(base, **step_options)), ctx)
    finally:
        await server.close()
    assert (result.success, result.reason) == (False, reason), result.detail
    assert re.search(detail, result.detail), result.detail
    assert list(result.steps) == reported
    assert result.time_to_result is None
    assert PASSWORD not in result.detail and "ivanov" not in result.detail


async def test_poll_deadline_bounds_the_step(ctx: ProbeContext) -> None:
    app = JourneyApp(password=PASSWORD, ready_after=math.inf)
    server = await serve(app)
    try:
        base = str(server.make_url("")).rstrip("/")
        result = await probe_journey(journey(steps(base, ready_within="600ms")), ctx)
    finally:
        await server.close()
    assert result.reason is Reason.ASSERTION, result.detail
    # Polled every 100 ms for 600 ms (the last request at the deadline), and no longer. The
    # step cannot end before its deadline, and 1.4 s past it is a hang, not load. Load slows
    # each poll, so fewer fit in 600 ms: asserted is only that it polled again (>= 2) and
    # never more often than every 100 ms (<= 8).
    assert 0.55 <= result.steps["status"] <= 2.0, result.steps
    assert 2 <= app.hits["/applications/{id}"] <= 8, app.hits


def reply(text: str, headers: dict[str, str] | None = None, status: int = 200) -> HttpReply:
    return HttpReply(None, "", status, CIMultiDictProxy(CIMultiDict(headers or {})), text)


DOC = '{"data": {"id": 42, "items": [{"n": "a"}, {"n": "b"}], "odd key": "x", "ok": true,'\
      ' "none": null, "name": "Заявление"}}'
# (id, extract spec, body, headers, value or None, why regex)
EXTRACTIONS: list[tuple[str, dict[str, str], str, dict[str, str], str | None, str]] = [
    ("json number", {"json": "$.data.id"}, DOC, {}, "42", ""),
    ("json string", {"json": "$.data.name"}, DOC, {}, "Заявление", ""),
    ("json bool", {"json": "$.data.ok"}, DOC, {}, "true", ""),
    ("json index", {"json": "$.data.items[1].n"}, DOC, {}, "b", ""),
    ("json negative index", {"json": "$.data.items[-2].n"}, DOC, {}, "a", ""),
    ("json quoted key", {"json": "$.data['odd key']"}, DOC, {}, "x", ""),
    ("json missing key", {"json": "$.data.absent"}, DOC, {}, None, "not in the response JSON"),
    ("json index out of range", {"json": "$.data.items[2]"}, DOC, {}, None, "not in the"),
    ("json null", {"json": "$.data.none"}, DOC, {}, None, "is null, not a single value"),
    ("json list", {"json": "$.data.items"}, DOC, {}, None, "is a list, not a single value"),
    ("not json", {"json": "$.a"}, "<html>", {}, None, "^response body is not JSON$"),
    ("regex group 1", {"regex": r"id\": (\d+)"}, DOC, {}, "42", ""),
    ("regex without groups", {"regex": r"\d+"}, DOC, {}, "42", ""),
    ("regex miss", {"regex": r"zzz(\d)"}, DOC, {}, None, "body does not match regex"),
    ("header", {"header": "x-ref"}, "", {"X-Ref": "r-1"}, "r-1", ""),
    ("header missing", {"header": "X-Ref"}, "", {}, None, "response header 'X-Ref' is missing"),
]


@pytest.mark.parametrize(
    ("source", "body", "headers", "value", "why"),
    [c[1:] for c in EXTRACTIONS], ids=[c[0] for c in EXTRACTIONS],
)
def test_extraction(source: dict[str, str], body: str, headers: dict[str, str],
                    value: str | None, why: str) -> None:
    got, reason = extract_value(Extract.model_validate(source), reply(body, headers))
    assert got == value
    assert re.search(why, reason) if why else reason == ""


# (id, until, body, status, None when ready else the miss regex)
UNTIL: list[tuple[str, dict[str, Any], str, int, str | None]] = [
    ("json equal", {"json": {"$.s": "ready"}}, '{"s": "ready"}', 200, None),
    ("json differs", {"json": {"$.s": "ready"}}, '{"s": "wait"}', 200, r'\$\.s is not "ready"'),
    ("json true is not 1", {"json": {"$.s": True}}, '{"s": 1}', 200, r"\$\.s is not true"),
    ("json number", {"json": {"$.n": 3}}, '{"n": 3}', 200, None),
    ("status", {"status": [200]}, "", 202, r"status 202, not one of \[200\]"),
    ("body_contains", {"body_contains": "готово"}, "ещё нет", 200, "does not contain"),
    ("all of them", {"status": [200], "body_regex": "^ok"}, "ok", 200, None),
]


@pytest.mark.parametrize(
    ("until", "body", "status", "miss"), [c[1:] for c in UNTIL], ids=[c[0] for c in UNTIL]
)
def test_poll_until(until: dict[str, Any], body: str, status: int, miss: str | None) -> None:
    got = until_misses(PollUntil.model_validate(until), reply(body, status=status))
    assert got is None if miss is None else (got is not None and re.search(miss, got)), got


def step(name: str, url: str = "http://127.0.0.1/x", **more: Any) -> dict[str, Any]:
    return {"name": name, "request": {"url": url}, **more}


POLL = {"deadline": "10s", "until": {"status": [200]}}
# (id, steps, error loc, message regex)
INVALID: list[tuple[str, list[dict[str, Any]], tuple[Any, ...], str]] = [
    ("no steps", [], ("steps",), "at least 1"),
    ("duplicate names", [step("a"), step("a")], ("steps", 1, "name"),
     r"duplicate step name 'a' \(also step 1\)"),
    ("used before extracted",
     [step("a", "http://h/${id}"), step("b", extract={"id": {"regex": "x"}})],
     ("steps", 0, "request", "url"),
     r"step 'a' uses \$\{id\} but it is extracted only later, by step 'b'"),
    ("used by its own step", [step("a", "http://h/${id}", extract={"id": {"regex": "x"}})],
     ("steps", 0, "request", "url"), "extracted from this step's own response"),
    ("never extracted, in a header", [{"name": "a", "request": {
        "url": "http://h/", "headers": {"X-T": "${tok}"}}}],
     ("steps", 0, "request", "headers", "X-T"),
     r"uses \$\{tok\} but no step extracts it"),
    ("never extracted, deep in json", [{"name": "a", "request": {
        "url": "http://h/", "json": {"a": [{"b": "${tok}"}]}}}],
     ("steps", 0, "request", "json", "a", 0, "b"), "no step extracts it"),
    ("two submits", [step("a", submit=True), step("b", submit=True), step("c", poll=POLL)],
     ("steps", 1, "submit"), "only one step may be marked submit"),
    ("submit without a poll after it", [step("a", poll=POLL), step("b", submit=True)],
     ("steps", 1, "submit"), "needs a step with poll at or after it"),
    ("body and json", [{"name": "a", "request": {"url": "http://h/", "body": "x", "json": {}}}],
     ("steps", 0, "request"), "at most one of body, json, form; found body, json"),
    ("extract from two sources", [step("a", extract={"v": {"regex": "x", "header": "H"}})],
     ("steps", 0, "extract", "v"), "exactly one of: json, regex, header"),
    ("unsupported json path", [step("a", extract={"v": {"json": "$..id"}})],
     ("steps", 0, "extract", "v", "json"), r"not supported at '\.\.id'"),
    ("upper-case variable", [step("a", extract={"TOKEN": {"regex": "x"}})],
     ("steps", 0, "extract", "TOKEN", "[key]"), "pattern"),
    ("poll every not below deadline", [step("a", poll={**POLL, "every": "10s"})],
     ("steps", 0, "poll"), "every must be shorter"),
    ("poll without a condition", [step("a", poll={"deadline": "5s", "until": {}})],
     ("steps", 0, "poll", "until"), "until needs a condition"),
]


@pytest.mark.parametrize(
    ("step_list", "loc", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_spec_rules(step_list: list[dict[str, Any]], loc: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        journey(step_list)
    errors = caught.value.errors()
    assert any(tuple(e["loc"]) == loc and re.search(message, e["msg"]) for e in errors), errors


def journey_catalog(tmp_path: Path, step_list: list[dict[str, Any]]) -> tuple[Path, str]:
    data = catalog_dict(["http://127.0.0.1/"])
    data["services"][0]["probes"] = [{"name": "apply", "journey": {"steps": step_list}}]
    path = write_catalog(tmp_path / "catalog.yaml", data)
    return path, path.read_text(encoding="utf-8")


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_loader_rejects_a_variable_used_before_its_step(tmp_path: Path) -> None:
    base = "http://127.0.0.1:1"
    bad = steps(base)
    bad[0]["request"]["url"] = base + "/login?for=${app_id}"  # app_id comes from 'submit'
    path, text = journey_catalog(tmp_path, bad)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, env={})
    [issue] = caught.value.issues
    assert issue.file == str(path)
    assert issue.line == line_of(text, "/login?for=${app_id}")
    assert issue.field == "services[svc-00000].probes[apply].journey.steps[0].request.url"
    assert issue.message.startswith(
        "step 'login' uses ${app_id} but it is extracted only later, by step 'submit'"
    )


def test_loader_keeps_journey_variables_and_fills_the_environment(tmp_path: Path) -> None:
    good = steps("${BASE}", password="${PORTAL_PASSWORD}")
    path, _ = journey_catalog(tmp_path, good)
    catalog = load_catalog(path, env={"BASE": "http://127.0.0.1:9", "PORTAL_PASSWORD": "pw-123"})
    spec = catalog.services[0].probes[0].journey
    assert spec is not None
    assert spec.steps[0].request.form == {"user": "ivanov", "password": "pw-123"}
    assert spec.steps[2].request.url == "http://127.0.0.1:9/applications/${app_id}"
    assert spec.steps[1].request.headers == {"X-CSRF-Token": "${csrf}"}


def test_loader_names_an_unknown_variable_in_a_journey(tmp_path: Path) -> None:
    bad = steps("http://127.0.0.1:1")
    bad[2]["request"]["url"] = "http://127.0.0.1:1/applications/${application_id}"
    path, text = journey_catalog(tmp_path, bad)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, env={})
    [issue] = caught.value.issues
    assert issue.line == line_of(text, "${application_id}")
    assert issue.message.startswith("step 'status' uses ${application_id} but no step extracts it")


def test_loader_still_requires_upper_case_environment_variables(tmp_path: Path) -> None:
    bad = steps("${PORTAL_BASE}")
    path, text = journey_catalog(tmp_path, bad)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, env={})
    lines = [i for i, line in enumerate(text.splitlines(), 1) if "${PORTAL_BASE}/" in line]
    assert [i.line for i in caught.value.issues] == lines and len(lines) == 3
    assert all("environment variable PORTAL_BASE is not set" in i.message
               for i in caught.value.issues)


async def test_journey_from_a_loaded_catalog_runs(
    service: tuple[JourneyApp, str], ctx: ProbeContext, tmp_path: Path
) -> None:
    _app, base = service
    (tmp_path / "password").write_text(PASSWORD + "\n", encoding="utf-8")
    path, _ = journey_catalog(tmp_path, steps("${BASE}", password="${file:password}"))
    catalog = load_catalog(path, env={"BASE": base})
    spec = catalog.services[0].probes[0].journey
    assert spec is not None
    result = await probe_journey(spec, ctx)
    assert result.success, result.detail
    assert result.time_to_result is not None


async def test_timeout_keeps_the_phases_of_the_steps_before(ctx: ProbeContext) -> None:
    """Cut off while polling a result that never comes: the requests already made (login,
    submit, the polls so far) still report their phases."""
    app = JourneyApp(password=PASSWORD, ready_after=math.inf)
    server = await serve(app)
    try:
        base = str(server.make_url("")).rstrip("/")
        spec = journey(steps(base, ready_within="30s"))
        result, _ = await run_probe(probe_journey, spec, ctx, timeout=0.5)
    finally:
        await server.close()
    assert result.reason is Reason.TIMEOUT, result.detail
    assert app.users == ["ivanov"]  # the login step went through before the cut
    assert result.phases[Phase.CONNECT] > 0, result.phases
    assert result.phases[Phase.PROCESSING] > 0, result.phases
