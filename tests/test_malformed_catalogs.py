"""Malformed catalogs never crash or hang the loader, the CLI or a running daemon.

Generated (hypothesis) and hand-written bad input: broken YAML, wrong types at every level,
unknown keys, odd Unicode, huge files, alias bombs, include cycles. For every one of them
``load_catalog`` either builds a catalog or raises ``CatalogError`` whose every issue names a
file, a line and a field (``file:line: field: message``); ``dozor check`` exits 1 without a
traceback; and a running daemon keeps its catalog on reload. Plus a round trip: a valid
catalog, dumped and loaded again, is equal.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.catalog_factory import ERROR_SHAPE as SHAPE
from harness.catalog_factory import catalog_dict, write_files
from harness.tools import dozor
from monitor.catalog import Catalog, CatalogError, dump_catalog, load_catalog
from monitor.catalog.yaml_source import MAX_BYTES
from monitor.runtime.daemon import Daemon, DaemonOptions

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Unicode that trips up naive code: RTL override and marks, zero-width characters, BOM, NUL,
# other controls, the line and paragraph separators YAML treats as breaks, non-characters and
# the last code point, and characters YAML or shells give meaning to.
ODD = "\u202e\u200f\u200b\u200d\ufeff\x00\x01\x7f\x85\u2028\u2029\ufffe\uffff\U0010ffff" \
      "$%{}[]:#&*!|>'\"\\\n\t "
odd_text = st.text(st.characters(blacklist_categories=["Cs"]) | st.sampled_from(ODD),
                   max_size=30)
long_text = st.integers(1_000, 200_000).map(lambda n: "Ж" * n)
scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats()
           | odd_text | long_text)
yamlish = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=12) | st.integers() | st.booleans(), inner, max_size=4),
    max_leaves=20,
)


def _valid() -> dict[str, Any]:
    """A valid catalog touching most sections: the seed for mutations."""
    data = catalog_dict(["https://a.example.org/x", "http://127.0.0.1:1/y"],
                        interval="60s", timeout="5s", expect={"status": [200]})
    data["services"][0]["maintenance"] = [{"weekdays": ["sun"], "from": "02:00", "to": "04:00"}]
    data["services"][1]["probes"].append({"name": "port", "tcp": {"address": "127.0.0.1:1"}})
    data["services"][1]["standard"] = {"availability": "99.9%"}
    return data


def _check_error(exc: CatalogError) -> None:
    assert exc.issues, "CatalogError without issues"
    for issue in exc.issues:
        assert isinstance(issue.file, str) and issue.file, issue
        assert issue.message and issue.field, issue
        assert issue.line >= 1, issue
        assert SHAPE.match(str(issue)), str(issue)
    str(exc)  # renders


def _load_verdict(path: Path) -> Catalog | CatalogError:
    """The only two acceptable outcomes; any other exception fails the test."""
    try:
        return load_catalog(path, env={})
    except CatalogError as exc:
        _check_error(exc)
        return exc


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    # Hypothesis runs many examples per test: one directory, overwritten each time.
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


# --- generated -----------------------------------------------------------------------------

@pytest.mark.e2e
@SETTINGS
@given(data=yamlish)
def test_any_yaml_structure_loads_or_is_reported(scratch: Path, data: Any) -> None:
    path = scratch / "random.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    _load_verdict(path)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


Mutation = Callable[[Any, tuple[Any, ...], Any], None]


def _delete(data: Any, path: tuple[Any, ...], _: Any) -> None:
    if path:
        del _parent(data, path)[path[-1]]


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> None:
    if path:
        _parent(data, path)[path[-1]] = value


def _inject(data: Any, path: tuple[Any, ...], value: Any) -> None:
    node = _parent(data, (*path, None))
    if isinstance(node, dict):
        node["unknown_" + str(len(node))] = value
    elif isinstance(node, list):
        node.append(value)


MUTATIONS: list[Mutation] = [_delete, _replace, _replace, _inject]


@st.composite
def mutated_catalogs(draw: st.DrawFn) -> dict[str, Any]:
    data = _valid()
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(data))
        path = draw(st.sampled_from(paths))
        mutate = draw(st.sampled_from(MUTATIONS))
        mutate(data, path, draw(yamlish))
    return data


@pytest.mark.e2e
@SETTINGS
@given(data=mutated_catalogs())
def test_mutated_catalog_loads_or_is_reported(scratch: Path, data: dict[str, Any]) -> None:
    path = scratch / "mutated.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    _load_verdict(path)


VALID_TEXT = yaml.safe_dump(_valid(), allow_unicode=True, sort_keys=False).encode()


@SETTINGS
@given(edits=st.lists(st.tuples(st.integers(0, len(VALID_TEXT)), st.integers(0, 8),
                                 st.binary(max_size=6)), min_size=1, max_size=5))
def test_corrupted_bytes_load_or_are_reported(scratch: Path,
                                              edits: list[tuple[int, int, bytes]]) -> None:
    """Random byte splices into valid YAML text: broken syntax, indentation, invalid UTF-8."""
    text = bytearray(VALID_TEXT)
    for at, cut, insert in edits:
        text[at:at + cut] = insert
    path = scratch / "corrupted.yaml"
    path.write_bytes(bytes(text))
    _load_verdict(path)


# --- hand-written --------------------------------------------------------------------------

def _billion_laughs(levels: int = 12) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + f"\nservices: *a{levels - 1}\n"


# name -> (files to write {relative path: text or bytes}, fragment every run must report)
BAD: dict[str, tuple[dict[str, str | bytes], str]] = {
    "unclosed-quote": ({"c.yaml": 'standard:\n  availability: "99.5%\n'}, "YAML syntax error"),
    "tab-indent": ({"c.yaml": "standard:\n\tavailability: 99.5%\n"}, "YAML syntax error"),
    "bad-indent": ({"c.yaml": "services:\n  - id: a\n   name: b\n"}, "YAML syntax error"),
    "nul-byte": ({"c.yaml": 'standard:\n  window: "30d\x00"\n'}, "not allowed in YAML"),
    "invalid-utf8": ({"c.yaml": b"standard:\n  window: \xff\xfe30d\n"}, "not valid UTF-8"),
    "utf16": ({"c.yaml": "standard: {}\n".encode("utf-16")}, "not valid UTF-8"),
    "surrogate-escape": ({"c.yaml": 'regions:\n  - {code: "\\ud800"}\n'}, "YAML syntax error"),
    "tagged-int": ({"c.yaml": "defaults: {interval: !!int ten}\n"}, "cannot be read as int"),
    "tagged-bool": ({"c.yaml": "services:\n  - mszu: !!bool maybe\n"}, "cannot be read as bool"),
    "tagged-timestamp": ({"c.yaml": "x-a: !!timestamp soon\n"}, "cannot be read as timestamp"),
    "tagged-key": ({"c.yaml": "!!int abc: 1\n"}, "cannot be read as int"),
    "endless-int": ({"c.yaml": "defaults: {interval: " + "9" * 5000 + "}\n"}, "4,300 digits"),
    "python-tag": ({"c.yaml": "x-a: !!python/object/apply:os.system [id]\n"},
                   "unsupported YAML tag"),
    "python-scalar-tag": ({"c.yaml": "x-a: !!python/name:os.system\n"},
                          "unsupported YAML tag"),
    "set-tag": ({"c.yaml": "regions: !!set {a, b}\n"}, "unsupported YAML tag"),
    "top-level-scalar": ({"c.yaml": "just a string\n"}, "top level must be a mapping"),
    "top-level-list": ({"c.yaml": "- a\n- b\n"}, "top level must be a mapping"),
    "complex-key": ({"c.yaml": "? [a, b]\n: c\n"}, "a key must be a plain value"),
    "null-key": ({"c.yaml": "~: 1\n"}, "unknown key"),
    "deep-nesting": ({"c.yaml": "x-a: " + "[" * 5000 + "]" * 5000 + "\n"}, "too deep"),
    "billion-laughs": ({"c.yaml": _billion_laughs()}, "alias bomb"),
    "recursive-alias": ({"c.yaml": "x-a: &a [*a]\n"}, "recursive alias"),
    "huge-file": ({"c.yaml": "# " + "x" * MAX_BYTES + "\n"}, "larger than 10 MiB"),
    # YAML caps implicit keys at 1,024 characters; an explicit "? " key has no such limit.
    "very-long-key": ({"c.yaml": "? " + "k" * 1_000_000 + "\n: 1\n"}, "unknown key"),
    "long-implicit-key": ({"c.yaml": "k" * 2000 + ": 1\n"}, "YAML syntax error"),
    "rtl-and-zero-width-id": (
        {"c.yaml": yaml.safe_dump({**_valid(), "curators": [
            {"id": "iva\u200bnova\u202e", "name": "\u202eИванова\u200d"}]}, allow_unicode=True)},
        "curators"),
    "include-cycle": ({"c.yaml": "include: [a.yaml]\n", "a.yaml": "include: [b.yaml]\n",
                       "b.yaml": "include: [a.yaml]\n"}, "include cycle"),
    "include-self": ({"c.yaml": "include: ['*.yaml']\n"}, "include cycle"),
    "include-nothing": ({"c.yaml": "include: ['services.d/*.yaml', 'nope/**/x.yml']\n"},
                        "matches no files"),
    "include-not-a-list": ({"c.yaml": "include: services.d/*.yaml\n"}, "list of glob"),
    "include-binary": ({"c.yaml": "include: ['blob.yaml']\n", "blob.yaml": bytes(range(256))},
                       "not valid UTF-8"),
    "empty-file": ({"c.yaml": ""}, "the catalog lists no services"),
    "include-wrong-type": ({"c.yaml": "include: [42, null, {a: b}]\n"}, "glob pattern string"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_catalog_is_reported_with_file_and_line(tmp_path: Path, name: str) -> None:
    files, fragment = BAD[name]
    write_files(tmp_path, files)
    verdict = _load_verdict(tmp_path / "c.yaml")
    assert isinstance(verdict, CatalogError), f"{name} loaded as valid"
    assert any(fragment in str(i) for i in verdict.issues), [str(i) for i in verdict.issues]


CLI_CASES = ["unclosed-quote", "nul-byte", "tagged-int", "billion-laughs", "huge-file",
             "include-cycle", "endless-int"]


@pytest.mark.e2e
def test_cli_check_exits_1_without_traceback(tmp_path: Path) -> None:
    for name in CLI_CASES:
        case = tmp_path / name
        write_files(case, BAD[name][0])
        done = dozor("check", str(case / "c.yaml"))
        output = done.stdout + done.stderr
        assert done.returncode == 1, (name, output[-2000:])
        assert "Traceback" not in output, (name, output[-2000:])
        assert "c.yaml" in output, (name, output[-2000:])


# --- a running daemon keeps its catalog ----------------------------------------------------

async def test_reload_keeps_running_catalog_on_bad_input(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    good = yaml.safe_dump(catalog_dict(["http://127.0.0.1:1/a", "http://127.0.0.1:1/b"]),
                          allow_unicode=True)
    cfg.write_text(good, encoding="utf-8")
    daemon = Daemon(DaemonOptions(config=cfg, port=0, location="t", env={}))
    await daemon.start()
    try:
        jobs, catalog = daemon.scheduler.jobs, daemon.catalog
        for name in ("unclosed-quote", "nul-byte", "tagged-int", "billion-laughs", "huge-file",
                     "include-cycle", "top-level-list", "empty-file"):
            write_files(tmp_path, BAD[name][0])
            assert await daemon.reload() is False, name
            assert daemon.scheduler.jobs == jobs and daemon.catalog is catalog, name
            ok = daemon.metrics.registry.get_sample_value("dozor_config_last_reload_successful")
            assert ok == 0, name
        cfg.write_text(good, encoding="utf-8")
        assert await daemon.reload() is True
    finally:
        await daemon.stop()


# --- round trip ----------------------------------------------------------------------------

slugs = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,15}", fullmatch=True)
# Written as a catalog author must: a literal "${" as "$${" (the loaded value then holds "${",
# which dump_catalog must escape again).
names = st.lists(st.characters(blacklist_categories=["Cs"]) | st.sampled_from([*ODD, "${"]),
                 min_size=1, max_size=20).map(lambda parts: "".join(parts).replace("${", "$${"))


@st.composite
def valid_catalogs(draw: st.DrawFn) -> dict[str, Any]:
    data = _valid()
    data["standard"]["availability"] = draw(st.sampled_from(["99%", "99.5%", "95.25%"]))
    data["defaults"]["interval"] = draw(st.sampled_from(["60s", "90s", "1h30m", "2m30s"]))
    data["curators"][0]["name"] = draw(names)
    data["curators"][1]["webhook"] = draw(st.none() | names.map("https://hooks.example/".__add__))
    data["life_situations"][0]["name"] = draw(names)
    data["regions"][0]["name"] = draw(names)
    ids = draw(st.lists(slugs, min_size=1, max_size=4, unique=True))
    services = []
    for i, ident in enumerate(ids):
        service = copy.deepcopy(data["services"][i % 2])
        service.update(id=ident, name=draw(names), department=draw(names),
                       mszu=draw(st.booleans()),
                       level=draw(st.sampled_from(["federal", "regional", "municipal"])))
        probe = service["probes"][0]
        probe["interval"] = draw(st.sampled_from(["30s", "45s", "1500ms", "2m"]))
        probe["timeout"] = draw(st.sampled_from(["1s", "500ms", "1200ms"]))  # below intervals
        probe["http"]["expect"] = {
            "status": draw(st.lists(st.integers(100, 599), max_size=3)),
            "body_contains": draw(st.lists(names, max_size=2)),
        }
        probe["http"]["headers"] = draw(st.dictionaries(
            st.from_regex(r"X-[A-Za-z]{1,8}", fullmatch=True), names, max_size=2))
        if draw(st.booleans()):
            service["standard"] = {"latency_p95": draw(st.sampled_from(["1s", "1500ms"]))}
        services.append(service)
    data["services"] = services
    return data


@pytest.mark.e2e
@SETTINGS
@given(data=valid_catalogs())
def test_dumped_catalog_loads_back_equal(scratch: Path, data: dict[str, Any]) -> None:
    path = scratch / "valid.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    loaded = load_catalog(path, env={})
    path.write_text(dump_catalog(loaded), encoding="utf-8")
    assert load_catalog(path, env={}) == loaded


def test_dump_escapes_literal_dollar_brace_and_guards_secrets(tmp_path: Path) -> None:
    fixture = ROOT / "tests" / "fixtures" / "catalog" / "valid"
    loaded = load_catalog(fixture, env={"DOZOR_TOKEN": "s3cr3t-token"})
    with pytest.raises(ValueError, match="include_secrets"):
        dump_catalog(loaded)
    text = dump_catalog(loaded, include_secrets=True)
    assert "$${amount}" in text  # the literal "${amount}" of the fixture, escaped
    path = tmp_path / "dumped.yaml"
    path.write_text(text, encoding="utf-8")
    again = load_catalog(path, env={})
    assert again.model_dump() == loaded.model_dump() and again.secrets == frozenset()
