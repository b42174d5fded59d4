"""deploy/: the compose stack's files are consistent and valid for the real tools.

Docker has no engine here and no compose plugin, so `docker compose config` cannot run;
instead the compose file is parsed and every mount, build context and cross-reference is
checked, Prometheus's config with promtool, Alertmanager's with amtool.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.tools import require
from monitor.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DEMO = ROOT / "config" / "examples" / "demo"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return data


def test_generated_config_is_fresh(tmp_path: Path) -> None:
    """deploy/generated/ is what `make deploy-config` writes from the demo catalog now."""
    assert main(["rules", str(DEMO), "-o", str(tmp_path / "rules.yml")]) == 0
    assert main(["alertmanager", str(DEMO), "-o", str(tmp_path / "alertmanager.yml"),
                 "--escalation-rules", str(tmp_path / "escalation.rules.yml")]) == 0
    for name in ("rules.yml", "alertmanager.yml", "escalation.rules.yml"):
        assert (DEPLOY / "generated" / name).read_text() == (tmp_path / name).read_text(), \
            f"deploy/generated/{name} is stale: run `make deploy-config`"


@pytest.mark.parametrize("argv", [
    ["promtool", "check", "config", "prometheus.yml"],
    ["amtool", "check-config", "generated/alertmanager.yml"],
])
def test_real_tools_accept_the_configs(argv: list[str]) -> None:
    done = subprocess.run([require(argv[0]), *argv[1:]], cwd=DEPLOY, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    if argv[0] == "promtool":
        assert "2 rule files found" in done.stdout


def test_compose_services_mounts_and_references() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"dozor", "prometheus", "alertmanager", "grafana", "status"}
    status = services["status"]["command"]
    assert status[:2] == ["dozor", "status"] and "http://prometheus:9090" in status
    assert services["status"]["build"] == services["dozor"]["build"]
    build = services["dozor"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):  # bind mounts; the rest are named volumes
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in compose["volumes"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert '"demo", "--listen", "0.0.0.0:9247"' in dockerfile
    for copied in re.findall(r"^COPY (\S+)", dockerfile, re.M):
        assert (ROOT / copied).exists()


def test_prometheus_points_at_the_compose_services() -> None:
    prom = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    assert jobs["dozor"]["static_configs"][0]["targets"] == ["dozor:9247"]
    assert prom["global"]["scrape_interval"] == "15s"
    # DozorMonitorDown watches up{job=~"..."} of the generated rules: the job must match.
    rules = (DEPLOY / "generated" / "rules.yml").read_text()
    match = re.search(r'up\{job=~"([^"]+)"\}', rules)
    assert match is not None and re.fullmatch(match[1], "dozor")
    targets = prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]
    command = " ".join(_compose()["services"]["prometheus"]["command"])
    assert "--config.file=/etc/prometheus/dozor/prometheus.yml" in command
