"""Shared platforms in the catalog: ``platforms:`` and ``depends_on``, every mistake reported at
once as ``file:line: field: message``, and a valid catalog's platform probes scheduled like a
service's (through ``dozor check`` and the daemon's plan)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.tools import dozor
from monitor.catalog import CatalogError, load_catalog
from monitor.runtime.plan import plan_jobs

HEAD = """\
regions:
  - {code: RU-MOW, name: Москва, timezone: Europe/Moscow}
  - {code: RU-SMO, name: Смоленская область, timezone: Europe/Moscow}
curators:
  - {id: ivanov, name: Иванов}
"""

VALID = HEAD + """\
platforms:
  - id: sso
    name: Единая система идентификации
    curator: ivanov
    region: RU-MOW
    probes:
      - {name: login, http: {url: "http://127.0.0.1:1/"}}
  - id: bus
    name: Шина межведомственного обмена
    curator: ivanov
    region: RU-MOW
    probes:
      - {name: ping, tcp: {address: "127.0.0.1:1"}}
services:
  - id: kindergarten
    name: Запись в детский сад
    level: regional
    region: RU-SMO
    department: Образование
    curator: ivanov
    depends_on: [sso]
    probes:
      - {name: form, http: {url: "http://127.0.0.1:1/"}}
      - {name: result, http: {url: "http://127.0.0.1:1/r"}, depends_on: [bus, sso]}
"""

BROKEN = HEAD + """\
platforms:
  - id: sso
    name: ЕСИА
    curator: petrov
    region: RU-XXX
    probes:
      - {name: login, http: {url: "http://127.0.0.1:1/"}, depends_on: [sso]}
      - {name: login, http: {url: "http://127.0.0.1:1/"}}
services:
  - id: sso
    name: Запись
    level: regional
    region: RU-SMO
    department: Образование
    curator: ivanov
    depends_on: [ssso]
    probes:
      - {name: form, http: {url: "http://127.0.0.1:1/"}, depends_on: [nope]}
"""


def test_platform_probes_run_under_the_platform_id_and_dependencies_add_up(
        tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(VALID)
    catalog = load_catalog(tmp_path / "c.yaml", env={})
    assert [p.id for p in catalog.platforms] == ["sso", "bus"]
    assert [s.id for s in catalog.services] == ["kindergarten"]  # not a service
    jobs = plan_jobs(catalog)
    assert sorted(jobs) == ["bus/ping", "kindergarten/form", "kindergarten/result",
                            "sso/login"]
    assert jobs["sso/login"].timezone == "Europe/Moscow"
    service = catalog.services[0]
    form, result = service.probes
    assert catalog.dependencies(service, form) == ("sso",)
    # The service's platforms first, then the probe's own, each once.
    assert catalog.dependencies(service, result) == ("sso", "bus")


def test_every_platform_mistake_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(BROKEN)
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "c.yaml", env={})
    found = {(i.line, i.field): i.message for i in caught.value.issues}
    path = str(tmp_path / "c.yaml")
    assert all(str(i).startswith(f"{path}:{i.line}: {i.field}: ") for i in caught.value.issues)
    expected = {
        (7, "platforms[0].id"):
            "duplicate platform id 'sso' (first at line 15) (services and platforms share",
        (9, "platforms[0].curator"): "curator 'petrov' is not defined",
        (10, "platforms[0].region"): "region 'RU-XXX' is not defined",
        (12, "platforms[0].probes[login].depends_on[0]"):
            "a platform's probes cannot depend on a platform",
        (13, "platforms[0].probes[login].name"): "duplicate probe name 'login' in this platform",
        (21, "services[sso].depends_on[0]"): "platform 'ssso' is not defined",
        (23, "services[sso].probes[form].depends_on[0]"): "platform 'nope' is not defined",
    }
    for where, fragment in expected.items():
        assert where in found, (where, sorted(found))
        assert fragment in found[where], (where, found[where])
    assert "did you mean 'sso'" in found[(21, "services[sso].depends_on[0]")]


def test_dozor_check_counts_platforms_and_their_probes(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(VALID)
    done = dozor("check", str(tmp_path / "c.yaml"))
    assert done.returncode == 0, done.stderr
    assert "1 services, 2 platforms, 4 probes" in done.stdout
