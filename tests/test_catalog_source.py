"""YAML reading (lines, merge keys, limits) and ${ENV} interpolation, below the loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from monitor.catalog import CatalogError, load_catalog, yaml_source
from monitor.catalog.interpolation import InterpolationError, expand
from monitor.catalog.source import DataPath
from monitor.catalog.yaml_source import MAX_BYTES, MAX_DEPTH, read_yaml

ENV = {"HOST": "portal.example.org", "EMPTY": "", "TOKEN": "t0k3n-value"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("https://${HOST}/x", "https://portal.example.org/x"),
        ("${MISSING:-fallback}", "fallback"),
        ("${HOST:-fallback}", "portal.example.org"),
        ("${EMPTY:-fallback}", "fallback"),  # as in the shell, :- covers set-but-empty
        ("[${EMPTY}]", "[]"),
        ("${MISSING:-}", ""),
        ("cost $${amount} and $5", "cost ${amount} and $5"),
        ("^end$", "^end$"),
        ("${HOST}${HOST}", "portal.example.orgportal.example.org"),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, ENV)[0] == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("${MISSING}", "environment variable MISSING is not set"),
        ("${1BAD}", "is not a variable reference"),
        ("${HOST", "unclosed '${'"),
    ],
)
def test_expand_errors(text: str, fragment: str) -> None:
    with pytest.raises(InterpolationError, match=fragment.replace("$", r"\$").replace("{", r"\{")):
        expand(text, ENV)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ((), 1),
        (("services",), 4),
        (("services", 0), 5),
        (("services", 0, "probes", 1), 8),
        (("services", 0, "probes", 1, "http", "url"), 9),
        (("services", 0, "probes", 1, "http", "missing_key"), 9),  # longest known prefix
        # Merged keys point where they were written: in the anchored mapping.
        (("services", 0, "probes", 0, "http", "method"), 2),
        (("services", 0, "probes", 0, "http", "url"), 7),
    ],
)
def test_lines_are_recorded_per_key_and_item(tmp_path: Path, path: DataPath, line: int) -> None:
    (tmp_path / "c.yaml").write_text(
        "x-http: &http\n"  # 1
        "  method: HEAD\n"  # 2
        "  url: https://overridden.example/\n"  # 3
        "services:\n"  # 4
        "  - id: a\n"  # 5
        "    probes:\n"  # 6
        "      - {name: p, http: {<<: *http, url: 'https://e.org/'}}\n"  # 7
        "      - name: q\n"  # 8
        "        http: {url: 'https://e.org/q'}\n",  # 9
        encoding="utf-8",
    )
    doc, issues = read_yaml(tmp_path / "c.yaml", "c.yaml")
    assert issues == []
    assert doc is not None
    assert doc.line(path) == line
    assert doc.data["services"][0]["probes"][0]["http"] == {
        "method": "HEAD",
        "url": "https://e.org/",
    }


# Both composers PyYAML may run (libyaml's, and the pure-Python fallback), whatever their
# version's wording: the config author reads Dozor's message, the same from either.
COMPOSERS = [pytest.param(yaml.SafeLoader, id="python")] + (
    [pytest.param(yaml.CSafeLoader, id="libyaml")] if yaml.__with_libyaml__ else []
)


@pytest.mark.parametrize("composer", COMPOSERS)
@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (b"a: 1\nb: \xff\n", 2, "the file is not valid UTF-8; save it as UTF-8"),
        (b"a: !!binary aGVsbG8=\nb: !custom 1\n", 2,
         "unsupported YAML tag !custom; write plain lists, mappings and values"),
        (b"a: [" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), 1,
         f"nesting is too deep (limit {MAX_DEPTH} levels)"),
        # Deeper than a recursive composer can go: refused, not a crash. libyaml (old or new)
        # reports the line; the pure-Python composer hits RecursionError and cannot, so the
        # issue is about the whole file: line 1.
        (b"[" * 5000 + b"]" * 5000, 1, f"nesting is too deep (limit {MAX_DEPTH} levels)"),
        (b"a: 1\n---\nb: 2\n", 2, "expected a single document; remove the '---' line"),
    ],
    ids=["utf8", "custom-tag", "deep", "very-deep", "two-documents"],
)
def test_unreadable_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, composer: type, content: bytes,
    line: int, message: str,
) -> None:
    monkeypatch.setattr(yaml_source, "_LOADER", composer)
    (tmp_path / "c.yaml").write_bytes(content)
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "c.yaml", env={})
    [issue] = caught.value.issues
    assert (issue.line, Path(issue.file).name, issue.message) == (line, "c.yaml", message)
    assert issue.field == "(file)"


def test_file_over_size_limit_is_refused_without_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as fh:
        fh.write(b"#" * (MAX_BYTES + 1))
    with pytest.raises(CatalogError) as caught:
        load_catalog(big, env={})
    [issue] = caught.value.issues
    assert "larger than 10 MiB" in issue.message


def test_secret_values_never_appear_in_messages(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "curators: [{id: ivanova, name: I, webhook: 'hook-${TOKEN}'}]\n", encoding="utf-8"
    )
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "c.yaml", env=ENV)
    text = str(caught.value)
    assert "curators[ivanova].webhook" in text
    assert "hook-${TOKEN}" in text
    assert ENV["TOKEN"] not in text


def test_a_huge_unknown_key_gives_a_short_error(tmp_path: Path) -> None:
    key = "k" * 1_000_000
    # An explicit key ("? ..."): plain keys are capped at 1024 characters by YAML itself.
    (tmp_path / "c.yaml").write_text(f"services: []\n? {key}\n: 1\n", encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "c.yaml", env={})
    [issue] = caught.value.issues
    assert issue.line == 2 and "unknown key" in issue.message
    assert len(str(issue)) < 400


# Plain documents are built from the parser's events, others from the composed node tree
# (yaml_source._from_events): both ways must give the same data, lines and problems.
EVENT_DOCUMENTS = [
    "a: yes\nb: true\nc: 1.5\nd: 0x10\ne: null\nf: ~\ng: 2024-01-01\nh: '1'\ni: !!str 5\n"
    "j: [1, {k: v}, []]\nk: {}\nl:\n1: one\n",
    "services:\n- id: a\n  probes:\n  - name: p\n    http: {url: 'http://x/${HOST}'}\n",
    "a: !!int 5\nb: !!binary aGVsbG8=\nc: !!float '1e3'\n",
]
COMPOSED_ONLY = [
    "a: &x {b: 1}\nc: *x\n",  # anchors and aliases
    "a: {b: 1}\nc:\n  <<: {b: 2}\n",  # a merge key
    "a: 1\na: 2\n",  # a duplicate key, reported with the first one's line
    "? [a]\n: 1\n",  # a complex key
    "a: !!map {b: 1}\n",  # an explicit tag on a mapping
    "a: 1\n---\nb: 2\n",  # two documents
    "",  # empty
    "a: [" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),  # too deep
]


@pytest.mark.parametrize("composer", COMPOSERS)
@pytest.mark.parametrize("text", [*EVENT_DOCUMENTS, *COMPOSED_ONLY])
def test_event_build_matches_composed(
    monkeypatch: pytest.MonkeyPatch, composer: type, text: str
) -> None:
    monkeypatch.setattr(yaml_source, "_LOADER", composer)
    built = yaml_source._from_events(text)
    assert (built is not None) == (text in EVENT_DOCUMENTS)
    if built is None:
        return
    builder, data = built
    root = yaml.compose(text, Loader=composer)
    assert root is not None
    composed_builder, composed = yaml_source._build(root)
    assert repr(data) == repr(composed)  # types too: 1 is not 1.0 or True
    assert (builder.lines, builder.problems) == (composed_builder.lines, composed_builder.problems)
