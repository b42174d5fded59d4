"""The committed JSON Schema is the generated one, and every example and fixture file agrees
with it (and, for whole catalogs, with the loader)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from monitor.catalog import load_catalog
from monitor.catalog.schema import catalog_json_schema, main

REPO = Path(__file__).resolve().parent.parent
SCHEMA_FILE = REPO / "config" / "schema" / "catalog.schema.json"
EXAMPLES = REPO / "config" / "examples"
FIXTURES = Path(__file__).parent / "fixtures" / "catalog"


def _yaml_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def _example_roots() -> list[Path]:
    """What an operator would pass to the daemon: each example directory, each top-level file."""
    if not EXAMPLES.is_dir():
        return []
    return sorted(
        p
        for p in EXAMPLES.iterdir()
        if (p.is_dir() and any(q.suffix in (".yaml", ".yml") for q in p.iterdir()))
        or p.suffix in (".yaml", ".yml")
    )


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _errors(validator: jsonschema.protocols.Validator, path: Path) -> list[str]:
    """Every error, with the branches of anyOf/oneOf spelled out (Optional fields are anyOf)."""
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    pending = list(validator.iter_errors({} if data is None else data))
    found = []
    while pending:
        error = pending.pop()
        found.append(f"{path}: {'/'.join(map(str, error.absolute_path))}: {error.message}")
        pending += error.context or []
    return found


def test_committed_schema_is_up_to_date() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == catalog_json_schema(), (
        "config/schema/catalog.schema.json is stale; regenerate it with "
        "`python -m monitor.catalog.schema` from the repository root"
    )


def test_schema_file_is_written_sorted_and_newline_terminated(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    assert main([str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert text == SCHEMA_FILE.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", _yaml_files(EXAMPLES), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_file_matches_schema(validator: jsonschema.protocols.Validator, path: Path) -> None:
    assert _errors(validator, path) == []


@pytest.mark.parametrize("root", _example_roots(), ids=lambda p: p.name)
def test_example_catalog_loads(root: Path) -> None:
    # No environment: examples must carry ${NAME:-default} for anything they interpolate.
    catalog = load_catalog(root, env={})
    assert catalog.services


@pytest.mark.parametrize(
    "path", _yaml_files(FIXTURES / "valid"), ids=lambda p: str(p.relative_to(FIXTURES))
)
def test_valid_fixture_matches_schema(
    validator: jsonschema.protocols.Validator, path: Path
) -> None:
    assert _errors(validator, path) == []


@pytest.mark.parametrize(
    ("fixture", "fragment"),
    [
        ("unknown-key-top.yaml", "'servces' does not match any of the regexes: '^x-'"),
        ("unknown-key-nested.yaml", "'expct' was unexpected"),
        ("missing-field.yaml", "'curator' is a required property"),
        ("wrong-type.yaml", "'sometimes' is not of type 'boolean'"),
        ("bad-duration.yaml", "'10 sec' does not match"),
        ("bad-percent.yaml", "99.5 is not of type 'string'"),
        ("probe-no-kind.yaml", "is not valid under any of the given schemas"),
    ],
)
def test_schema_rejects_shape_errors_too(
    validator: jsonschema.protocols.Validator, fixture: str, fragment: str
) -> None:
    errors = _errors(validator, FIXTURES / "invalid" / fixture)
    assert any(fragment in e for e in errors), errors


def test_schema_admits_variables_in_patterned_fields(
    validator: jsonschema.protocols.Validator, tmp_path: Path
) -> None:
    """The schema reads the YAML before ${ENV} expansion: a duration, an address or a URL built
    from variables is the loader's to check, while a literal still has to fit the pattern."""
    probes = [
        {"name": "smtp", "interval": "${SMTP_INTERVAL}", "tcp": {"address": "${SMTP}"}},
        {"name": "tls", "timeout": "${T:-5s}", "tls": {"address": "${HOST}:443"}},
    ]
    data = {"services": [{"id": "s", "name": "S", "level": "federal", "region": "RU-MOW",
                          "department": "D", "curator": "c", "probes": probes}]}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert _errors(validator, path) == []
    probes[0]["interval"] = "soon"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert any("'soon' does not match" in e for e in _errors(validator, path))
