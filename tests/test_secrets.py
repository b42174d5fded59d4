"""Secrets: ``${file:...}`` values, the set of secrets a loaded catalog carries, the log
redaction processor, and a canary secret that must appear in no probe detail, log line or
``dozor check`` output."""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from harness.catalog_factory import catalog_dict, write_catalog
from harness.journey_app import JourneyApp, start_journey_app, steps
from harness.tools import dozor
from monitor.catalog import CatalogError, load_catalog
from monitor.runtime.logs import configure_logging, redact_secrets
from probes import ProbeContext, Reason
from probes.journey import probe_journey


def catalog_with_header(tmp_path: Path, value: str) -> Path:
    data = catalog_dict(["http://127.0.0.1/"])
    data["services"][0]["probes"][0]["http"]["headers"] = {"Authorization": value}
    return write_catalog(tmp_path / "catalog.yaml", data)


def header_of(path: Path, env: dict[str, str]) -> str:
    spec = load_catalog(path, env=env).services[0].probes[0].http
    assert spec is not None
    value: str = spec.headers["Authorization"]
    return value


# (id, file contents, how the catalog names it, expected value)
FILES: list[tuple[str, bytes, str, str]] = [
    ("absolute path", b"s3cret-token\n", "{abs}", "s3cret-token"),
    ("relative to the catalog file", b"s3cret-token\n", "token", "s3cret-token"),
    ("CRLF and blank lines stripped", b"s3cret-token\r\n\r\n", "{abs}", "s3cret-token"),
    ("no trailing newline", b"s3cret-token", "{abs}", "s3cret-token"),
    ("inside a longer value", b"s3cret-token\n", "Bearer ${file:{abs}}", "Bearer s3cret-token"),
    ("utf-8", "пароль-123\n".encode(), "{abs}", "пароль-123"),
]


@pytest.mark.parametrize(
    ("content", "written", "value"), [c[1:] for c in FILES], ids=[c[0] for c in FILES]
)
def test_file_secrets(tmp_path: Path, content: bytes, written: str, value: str) -> None:
    (tmp_path / "token").write_bytes(content)
    ref = written.replace("{abs}", str(tmp_path / "token"))
    text = ref if ref.startswith("Bearer") else "${file:" + ref + "}"
    assert header_of(catalog_with_header(tmp_path, text), {}) == value


# (id, how to spoil the file, message fragment)
UNREADABLE: list[tuple[str, str, str]] = [
    ("missing", "missing", "cannot read secret file"),
    ("a directory", "dir", "cannot read secret file"),
    ("too large", "large", "is larger than 64 KiB"),
    ("not utf-8", "binary", "is not UTF-8 text"),
    ("no path", "empty", "${file:} needs a path"),
]


@pytest.mark.parametrize(("spoil", "fragment"), [c[1:] for c in UNREADABLE],
                         ids=[c[0] for c in UNREADABLE])
def test_unreadable_secret_file_is_an_issue_with_file_and_line(
    tmp_path: Path, spoil: str, fragment: str
) -> None:
    target = tmp_path / "token"
    if spoil == "dir":
        target.mkdir()
    elif spoil == "large":
        target.write_bytes(b"x" * (64 * 1024 + 1))
    elif spoil == "binary":
        target.write_bytes(b"\xff\xfe secret-ish")
    ref = "${file:}" if spoil == "empty" else "${file:" + str(target) + "}"
    path = catalog_with_header(tmp_path, ref)
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "Authorization" in t)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, env={})
    [issue] = caught.value.issues
    assert (issue.file, issue.line) == (str(path), line)
    assert issue.field == "services[svc-00000].probes[portal].http.headers.Authorization"
    assert fragment in issue.message
    assert "secret-ish" not in issue.message


def test_catalog_secrets_are_env_and_file_values_only(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("file-secret\n", encoding="utf-8")
    data = catalog_dict(["${BASE:-http://127.0.0.1:1}/"])
    data["services"][0]["probes"][0]["http"]["headers"] = {
        "Authorization": "${TOKEN}", "X-Short": "${SHORT}", "X-Pw": "${file:pw}",
    }
    data["services"][0]["department"] = "${DEPT:-Департамент по умолчанию}"
    path = write_catalog(tmp_path / "catalog.yaml", data)
    catalog = load_catalog(path, env={"TOKEN": "env-token-1", "SHORT": "abc"})
    # Defaults are catalog text, not secrets; "abc" is too short to blank everywhere.
    assert catalog.secrets == {"env-token-1", "file-secret"}
    dumped = json.dumps(catalog.model_dump(mode="json"))
    assert "secrets" not in dumped and "secrets" not in repr(catalog)
    assert "env-token-1" not in repr(catalog.model_copy(update={"services": ()}))


def test_issue_messages_never_quote_a_secret(tmp_path: Path) -> None:
    """A message about another field that quotes the value (here the dangling-reference hint)
    is blanked by the loader's last pass."""
    data = catalog_dict(["http://127.0.0.1/"])
    data["curators"].append({"id": "${CURATOR_ID}", "name": "Тайный куратор"})
    data["services"][0]["curator"] = "canary-curator-x"
    path = write_catalog(tmp_path / "catalog.yaml", data)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, env={"CURATOR_ID": "canary-curator"})
    [issue] = caught.value.issues
    assert "canary-curator" not in str(issue)
    assert "'***-x' is not defined" in issue.message and "(did you mean '***'?)" in issue.message


SECRET, OTHER = "hunter2-secret", "hunter2-secret-longer"


class Boom(Exception):
    pass


# (id, event value, what it must become)
REDACTIONS: list[tuple[str, Any, Any]] = [
    ("plain string", f"password={SECRET}", "password=***"),
    ("twice", f"{SECRET}/{SECRET}", "***/***"),
    ("the longer secret whole", f"x{OTHER}x", "x***x"),
    ("nested", {"a": [SECRET, ("t", {"b": f"<{SECRET}>"})]}, {"a": ["***", ["t", {"b": "<***>"}]]}),
    ("dict keys", {SECRET: 1}, {"***": 1}),
    ("a set", {SECRET}, ["***"]),
    ("other objects by their text", Boom(f"failed with {SECRET}"), "failed with ***"),
    ("untouched", {"n": 1, "ok": True, "none": None, "s": "fine"},
     {"n": 1, "ok": True, "none": None, "s": "fine"}),
]


@pytest.mark.parametrize(("value", "redacted"), [c[1:] for c in REDACTIONS],
                         ids=[c[0] for c in REDACTIONS])
def test_redact_secrets_processor(value: Any, redacted: Any) -> None:
    processor = redact_secrets(lambda: frozenset({SECRET, OTHER}))
    event = processor(None, "info", {"event": "something", "value": value})
    assert event == {"event": "something", "value": redacted}


def test_redaction_follows_the_current_secrets() -> None:
    current = [frozenset({SECRET})]
    processor = redact_secrets(lambda: current[0])
    assert processor(None, "info", {"event": SECRET})["event"] == "***"
    current[0] = frozenset({"rotated-value"})  # a reload brought a new catalog
    assert processor(None, "info", {"event": f"{SECRET} rotated-value"})["event"] == \
        f"{SECRET} ***"
    current[0] = frozenset()
    assert processor(None, "info", {"event": "rotated-value"})["event"] == "rotated-value"


@pytest.fixture
def captured_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """What configure_logging writes to stderr (pytest swaps sys.stderr for its capture before
    each test's call phase, so a buffer set in a fixture would not be seen); structlog and the
    root logger are restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    capsys.readouterr()
    try:
        yield lambda: capsys.readouterr().err
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)


def test_configure_logging_redacts_structlog_and_stdlib_lines(
    captured_logs: Callable[[], str],
) -> None:
    configure_logging("debug", json=True, secrets=lambda: frozenset({SECRET}))
    structlog.get_logger("t").warning("probe failing", detail=f"token {SECRET}",
                                      headers={"Authorization": f"Bearer {SECRET}"})
    try:
        raise Boom(f"bad {SECRET}")
    except Boom:
        structlog.get_logger("t").exception("crashed")
        logging.getLogger("aiohttp.client").exception("stdlib says %s", SECRET)
    text = captured_logs()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["event"] for line in lines] == ["probe failing", "crashed", "stdlib says ***"]
    assert lines[0]["headers"] == {"Authorization": "Bearer ***"}
    assert "Boom: bad ***" in lines[1]["exception"] and "Boom: bad ***" in lines[2]["exception"]
    assert SECRET not in text


CANARY = "canary-" + secrets.token_hex(6)  # lower-case: it also fits an id
PASSWORD = "pw-" + secrets.token_hex(8)


def canary_catalog(tmp_path: Path, base: str, *, broken: bool = False) -> Path:
    """A journey logging in as ``${DOZOR_TEST_CANARY}`` with a ``${file:...}`` password;
    ``broken``: with errors right next to the secrets, whose messages would quote them."""
    (tmp_path / "password").write_text(PASSWORD + "\n", encoding="utf-8")
    step_list = steps(base, password="${file:password}")
    login = step_list[0]["request"]
    login["form"]["user"] = "${DOZOR_TEST_CANARY}"
    login["headers"] = {"X-Citizen": "Citizen ${DOZOR_TEST_CANARY}"}
    probe: dict[str, Any] = {"name": "apply", "journey": {"steps": step_list}}
    if broken:
        probe["timeout"] = "${DOZOR_TEST_CANARY}"
        login["url"] = "${DOZOR_TEST_CANARY}/login"
        login["method"] = "FETCH"
        step_list[2]["request"]["body"] = ["${file:password}"]
    data = catalog_dict([base])
    data["services"][0]["probes"] = [probe]
    return write_catalog(tmp_path / "catalog.yaml", data)


async def test_canary_stays_out_of_details_and_logs(
    tmp_path: Path, ctx: ProbeContext, captured_logs: Callable[[], str]
) -> None:
    app = JourneyApp(password="the server expects another one")
    server = await start_journey_app(app)
    try:
        base = str(server.make_url("")).rstrip("/")
        catalog = load_catalog(canary_catalog(tmp_path, base), env={"DOZOR_TEST_CANARY": CANARY})
        assert {CANARY, PASSWORD} <= catalog.secrets
        configure_logging("debug", json=True, secrets=lambda: catalog.secrets)
        spec = catalog.services[0].probes[0].journey
        assert spec is not None
        result = await probe_journey(spec, ctx)
    finally:
        await server.close()
    assert app.users == [CANARY]  # the canary really was sent
    assert result.reason is Reason.HTTP_STATUS
    assert result.detail.startswith("step 'login': http_status: status 401")
    # What the recorder logs on failure, plus a careless line quoting the request.
    log = structlog.get_logger("recorder")
    log.warning("probe failing", reason=result.reason, detail=result.detail, steps=result.steps)
    log.error("careless", form={"user": CANARY, "password": PASSWORD}, spec=spec)
    text = captured_logs()
    assert "journey step" in text and "careless" in text and "***" in text
    for secret in (CANARY, PASSWORD):
        assert secret not in result.detail
        assert secret not in text


def test_canary_stays_out_of_dozor_check(tmp_path: Path) -> None:
    path = canary_catalog(tmp_path, "http://127.0.0.1:1", broken=True)
    env = {**os.environ, "DOZOR_TEST_CANARY": CANARY}
    done = dozor("--log-format", "json", "check", str(path), env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    lines = path.read_text(encoding="utf-8").splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, t in enumerate(lines, 1) if fragment in t)

    for fragment, message in [
        ("timeout: ${DOZOR_TEST_CANARY}", "'${DOZOR_TEST_CANARY}' is not a duration"),
        ("url: ${DOZOR_TEST_CANARY}/login", "'${DOZOR_TEST_CANARY}/login' is not an http(s) URL"),
        ("method: FETCH", "expected 'GET'"),
        ("body:", "expected a string"),
    ]:
        assert f"{path}:{line_of(fragment)}:" in output and message in output, output
    assert CANARY not in output and PASSWORD not in output
