"""deploy/kubernetes: the sharded StatefulSets really split the catalog, and the Prometheus
configs that gather the shards are valid for the real promtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from harness.tools import require
from monitor.alertmanager import render_escalation_rules
from monitor.catalog import load_catalog
from monitor.cli import _parser
from monitor.rules import render_rules
from monitor.runtime.shard import Shard

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
DEMO = ROOT / "config" / "examples" / "demo"


def _docs() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((K8S / "dozor-statefulset.yaml").read_text()))


def _sets() -> list[dict[str, Any]]:
    return [d for d in _docs() if d["kind"] == "StatefulSet"]


def test_each_pod_takes_its_ordinal_as_its_shard() -> None:
    services = {d["metadata"]["name"] for d in _docs() if d["kind"] == "Service"}
    locations = set()
    for sts in _sets():
        container = sts["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        args = container["args"]
        assert "--shard=$(POD_INDEX)/$(SHARDS)" in args
        assert int(env["SHARDS"]["value"]) == sts["spec"]["replicas"]
        assert "pod-index" in env["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
        assert sts["spec"]["serviceName"] in services
        locations.add(next(a for a in args if a.startswith("--location=")))
    assert len(locations) == len(_sets()) >= 2  # several locations, each with all shards


def test_every_location_probes_every_service_exactly_once() -> None:
    catalog = load_catalog(DEMO, env={})
    ids = sorted(s.id for s in catalog.services)
    for sts in _sets():
        n = sts["spec"]["replicas"]
        owned = [s.id for i in range(n) for s in Shard(i, n).select(catalog).services]
        assert sorted(owned) == ids


def test_prometheus_configs_pass_promtool(tmp_path: Path) -> None:
    promtool = require("promtool")
    catalog = load_catalog(DEMO, env={})
    (tmp_path / "dozor.yml").write_text(render_rules(catalog))
    (tmp_path / "dozor-escalation.yml").write_text(render_escalation_rules(catalog))
    federation = re.sub(r"/etc/prometheus/rules/", f"{tmp_path}/",
                        (K8S / "federation.yml").read_text())
    (tmp_path / "federation.yml").write_text(federation)
    for config in (K8S / "prometheus-remote-write.yml", tmp_path / "federation.yml"):
        done = subprocess.run([promtool, "check", "config", str(config)], capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_container_runs_with_flags_dozor_accepts() -> None:
    """The example's args are real `dozor run` flags with valid values (a typo would crash
    the pod at start), and the listener's limits are set explicitly."""
    for sts in _sets():
        container = sts["spec"]["template"]["spec"]["containers"][0]
        args = [a.replace("$(POD_INDEX)", "0").replace("$(SHARDS)", "4")
                for a in container["args"]]
        parsed = _parser().parse_args(args)
        assert parsed.max_connections < 1024 and parsed.max_connections_per_address < 64
        assert parsed.header_timeout <= 30
        denied = [str(n) for d in parsed.deny_networks for n in d.networks]
        assert "169.254.0.0/16" in denied  # cloud metadata, the README's first advice
        assert container["resources"]["limits"]["memory"]
