"""The valid fixture catalog loads with the values its author meant, and the ways of splitting a
catalog over files (directory of roots, nested includes) merge predictably."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.catalog import Catalog, CatalogError, load_catalog

VALID = Path(__file__).parent / "fixtures" / "catalog" / "valid"
ENV = {"DOZOR_TOKEN": "s3cret"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(VALID / "catalog.yaml", env=ENV)


def test_includes_merge_depth_first_in_sorted_order(catalog: Catalog) -> None:
    # root file, then services.d/10-smo.yaml, then what 10-smo includes, then 20-federal.yaml
    assert [s.id for s in catalog.services] == [
        "passport",
        "kindergarten-smo",
        "birth-registration-kha",
        "pension",
    ]


def test_catalog_sections(catalog: Catalog) -> None:
    assert [r.code for r in catalog.regions] == ["RU-SMO", "RU-KHA"]
    assert catalog.region("RU-KHA").timezone == "Asia/Vladivostok"
    assert [(c.id, c.deputy) for c in catalog.curators] == [("ivanova", "petrov"), ("petrov", None)]
    assert [s.id for s in catalog.life_situations] == ["birth-of-child"]


def test_standard_and_defaults_become_ratios_and_seconds(catalog: Catalog) -> None:
    std = catalog.standard
    assert (std.availability, std.offhours_availability) == (0.995, 0.99)
    assert (std.window, std.max_outage, std.latency_p95) == (30 * 86400, 5400, 2)
    assert (catalog.defaults.interval, catalog.defaults.timeout) == (60, 10)


@pytest.mark.parametrize(
    ("service", "availability", "offhours", "max_outage", "latency_p95"),
    [
        ("passport", 0.995, 0.99, 5400, 2.0),  # no override: the catalog standard
        ("kindergarten-smo", 0.999, 0.99, 5400, 1.5),  # tightens availability and latency
        ("pension", 0.995, 0.995, 1800, 2.0),  # tightens off-hours and max outage
    ],
)
def test_standard_for_applies_tightening(
    catalog: Catalog,
    service: str,
    availability: float,
    offhours: float,
    max_outage: float,
    latency_p95: float,
) -> None:
    std = catalog.standard_for(next(s for s in catalog.services if s.id == service))
    assert (std.availability, std.offhours_availability, std.max_outage, std.latency_p95) == (
        availability,
        offhours,
        max_outage,
        latency_p95,
    )
    assert std.window == 30 * 86400


@pytest.mark.parametrize(
    ("service", "interval", "timeout"),
    [("passport", 60, 10), ("kindergarten-smo", 30, 5), ("pension", 60, 2)],
)
def test_probe_interval_and_timeout_fall_back_to_defaults(
    catalog: Catalog, service: str, interval: float, timeout: float
) -> None:
    probe = next(s for s in catalog.services if s.id == service).probes[0]
    assert (catalog.interval(probe), catalog.timeout(probe)) == (interval, timeout)


def test_env_interpolation_default_value_and_escape(catalog: Catalog) -> None:
    spec = catalog.services[0].probes[0].http
    assert spec is not None
    assert spec.url == "https://portal.example.org/passport"  # ${DOZOR_PORTAL_URL:-...}
    assert spec.headers == {"Authorization": "Bearer s3cret"}  # ${DOZOR_TOKEN}
    assert spec.expect.body_contains == ("price: ${amount}",)  # $${ is a literal ${


def test_env_value_overrides_default() -> None:
    catalog = load_catalog(VALID / "catalog.yaml", env={**ENV, "DOZOR_PORTAL_URL": "http://x.test"})
    spec = catalog.services[0].probes[0].http
    assert spec is not None
    assert spec.url == "http://x.test/passport"


def test_merge_key_shares_probe_settings(catalog: Catalog) -> None:
    spec = catalog.services[1].probes[0].http
    assert spec is not None
    assert (spec.method, spec.max_redirects, spec.url) == (
        "GET",
        3,
        "https://kindergarten.smo.example.org/",
    )
    assert spec.expect.status == (200, 302)


def test_env_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOZOR_TOKEN", "from-os")
    spec = load_catalog(VALID / "catalog.yaml").services[0].probes[0].http
    assert spec is not None
    assert spec.headers["Authorization"] == "Bearer from-os"


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


CURATOR = "curators: [{id: ivanova, name: Иванова}]\n"
REGION = "regions: [{code: RU-SMO, name: Смоленская область, timezone: Europe/Moscow}]\n"


def _service(ident: str) -> str:
    return (
        f"services:\n  - {{id: {ident}, name: N, level: federal, region: RU-SMO, department: D, "
        f'curator: ivanova, probes: [{{name: p, http: {{url: "https://e.org/"}}}}]}}\n'
    )


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # A directory: every *.yaml / *.yml directly in it is a root, in sorted order.
        (
            {
                "b.yml": _service("second"),
                "a.yaml": CURATOR + REGION + _service("first"),
                "notes.txt": "not yaml",
                "sub/c.yaml": _service("ignored"),
            },
            ["first", "second"],
        ),
        # Overlapping globs reach one file twice: it is read and merged once, not duplicated.
        (
            {
                "main.yaml": CURATOR + REGION + 'include: ["d/*.yaml", "d/x*.yaml"]\n',
                "d/x.yaml": _service("x"),
            },
            ["x"],
        ),
        # A root that another root includes is merged once.
        (
            {"a.yaml": CURATOR + REGION + 'include: ["b.yaml"]\n', "b.yaml": _service("b")},
            ["b"],
        ),
        # An empty file is an empty fragment, not an error.
        ({"a.yaml": CURATOR + REGION + _service("a"), "b.yaml": ""}, ["a"]),
    ],
    ids=["directory", "overlapping-globs", "root-included-by-root", "empty-file"],
)
def test_directory_of_roots(tmp_path: Path, files: dict[str, str], expected: list[str]) -> None:
    _write(tmp_path, files)
    assert [s.id for s in load_catalog(tmp_path, env={}).services] == expected


def test_missing_sections_take_the_model_defaults(tmp_path: Path) -> None:
    _write(tmp_path, {"c.yaml": CURATOR + REGION + _service("a")})
    catalog = load_catalog(str(tmp_path / "c.yaml"), env={})
    assert catalog.standard.availability == 0.995
    assert catalog.defaults.interval == 60


@pytest.mark.parametrize(
    ("target", "message"),
    [("missing.yaml", "no such file or directory"), ("empty-dir", "no *.yaml or *.yml files")],
)
def test_nothing_to_load(tmp_path: Path, target: str, message: str) -> None:
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / target, env={})
    assert [message in i.message for i in caught.value.issues] == [True]
