"""Locked down by default: loopback, basic auth and TLS for /metrics, reload token, schemes."""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import bcrypt
import pytest
import structlog
import trustme
import yaml

from harness.catalog_factory import catalog_dict, write_catalog
from monitor.cli import _parser
from monitor.runtime.daemon import Daemon, DaemonOptions
from monitor.runtime.shard import Shard
from monitor.serving.security import WebConfigError, WebSecurity, load_web_security
from probes import ProbeContext, Reason, new_http_session, run_probe
from probes.http import HttpSpec, probe_http

TOKEN = "0123456789abcdef-reload"


def test_defaults_listen_on_loopback_with_reload_off() -> None:
    args = _parser().parse_args(["run", "--config", "x.yaml"])
    assert args.listen == ("127.0.0.1", 9247)
    assert args.web_config is None and args.reload_token_file is None
    assert DaemonOptions(config=Path("x")).host == "127.0.0.1"


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def secured(tmp_path: Path, ca: trustme.CA) -> AsyncIterator[Daemon]:
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    (tmp_path / "web.yml").write_text(yaml.safe_dump({
        "tls_server_config": {"cert_file": str(tmp_path / "server.pem"),
                              "key_file": str(tmp_path / "server.pem")},
        "basic_auth_users": {"prom": bcrypt.hashpw(b"s3cret-pass", bcrypt.gensalt(4)).decode()},
    }))
    (tmp_path / "token").write_text(TOKEN + "\n")
    security = load_web_security(tmp_path / "web.yml", tmp_path / "token")
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(["http://127.0.0.1:1/"]))
    daemon = Daemon(DaemonOptions(config=cfg, port=0, security=security))
    await daemon.start()
    yield daemon
    await daemon.stop()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("path", "method", "auth", "status"),
    [
        ("/metrics", "GET", None, 401),
        ("/metrics", "GET", _basic("prom", "wrong"), 401),
        ("/metrics", "GET", _basic("nobody", "s3cret-pass"), 401),
        ("/metrics", "GET", _basic("prom", "s3cret-pass"), 200),
        ("/healthz", "GET", None, 200),
        ("/-/reload", "POST", None, 401),
        ("/-/reload", "POST", "Bearer not-the-token", 401),
        ("/-/reload", "POST", _basic("prom", "s3cret-pass"), 401),
        ("/-/reload", "POST", f"Bearer {TOKEN}", 200),
    ],
)
async def test_tls_basic_auth_and_reload_token(
    secured: Daemon, ca: trustme.CA, path: str, method: str, auth: str | None, status: int
) -> None:
    assert secured.url.startswith("https://")
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    headers = {"Authorization": auth} if auth else {}
    async with aiohttp.ClientSession() as s, s.request(
            method, secured.url + path, headers=headers, ssl=client_ctx) as r:
        assert r.status == status
        if path == "/metrics" and status == 200:
            assert "dozor_probes_total" in await r.text()


async def test_plain_http_to_the_tls_port_gets_nothing(secured: Daemon) -> None:
    url = secured.url.replace("https://", "http://") + "/healthz"
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientError):
            async with s.get(url) as r:
                await r.read()


async def test_reload_endpoint_is_off_without_a_token(tmp_path: Path) -> None:
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(["http://127.0.0.1:1/"]))
    daemon = Daemon(DaemonOptions(config=cfg, port=0, security=WebSecurity()))
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as s, s.post(daemon.url + "/-/reload") as r:
            assert r.status == 403
            assert "SIGHUP" in await r.text()
    finally:
        await daemon.stop()


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"basic_auth_users": {"prom": "plain-text"}}, "expected a bcrypt hash"),
        ({"basic_auth": {}}, "Extra inputs"),
        ({"tls_server_config": {"cert_file": "/nonexistent.pem", "key_file": "/x.pem"}},
         "cannot load the certificate"),
    ],
)
def test_bad_web_configs_name_the_file_and_the_fix(
    tmp_path: Path, config: dict[str, object], fragment: str
) -> None:
    (tmp_path / "web.yml").write_text(yaml.safe_dump(config))
    with pytest.raises(WebConfigError) as caught:
        load_web_security(tmp_path / "web.yml", None)
    assert fragment in str(caught.value) and "web.yml" in str(caught.value)


def test_short_reload_tokens_are_refused(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("short")
    with pytest.raises(WebConfigError, match="at least 16"):
        load_web_security(None, tmp_path / "token")


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/x",
                                      "data:text/plain,hello"])
async def test_redirects_to_non_http_schemes_are_refused(location: str) -> None:
    from aiohttp import web

    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": location})

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    session = new_http_session(user_agent="Dozor/test")
    try:
        ctx = ProbeContext(http=session, log=structlog.get_logger(), user_agent="Dozor/test")
        spec = HttpSpec(url=f"http://127.0.0.1:{port}/")
        result, _ = await run_probe(probe_http, spec, ctx, 2.0)
    finally:
        await session.close()
        await runner.cleanup()
    assert not result.success
    assert result.reason is Reason.ERROR
    assert "passwd" not in result.detail and "root:" not in result.detail


async def test_daemon_exposes_the_running_catalogs_secrets_for_redaction(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("file-held-secret-42\n")
    data = catalog_dict(["http://127.0.0.1:1/?token=${DOZOR_TEST_TOKEN}"])
    data["services"][0]["probes"][0]["http"]["headers"] = {"X-Key": "${file:pw}"}
    cfg = write_catalog(tmp_path / "c.yaml", data)
    for shard in (Shard(0, 1), Shard(0, 2), Shard(1, 2)):  # a shard's copy keeps them too
        daemon = Daemon(DaemonOptions(config=cfg, port=0, shard=shard,
                                      env={"DOZOR_TEST_TOKEN": "env-held-secret-17"}))
        assert daemon.secrets == frozenset()
        await daemon.start()
        try:
            assert daemon.secrets == {"env-held-secret-17", "file-held-secret-42"}
        finally:
            await daemon.stop()
