"""How catalog errors look and what they may say: every one is ``file:line: field: message``,
none echoes a file that is not a catalog, a catalog that lost its services is refused, and
cross-checks see what is readable of an invalid item.

Also ``dozor check`` as a user runs it (a real process): what it prints, to which stream.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.catalog_factory import ERROR_SHAPE as SHAPE
from harness.catalog_factory import catalog_dict, write_catalog, write_files
from harness.tools import dozor
from monitor.catalog import CatalogError, load_catalog
from monitor.catalog.yaml_source import MAX_BYTES

_LAUGHS = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 12)]
) + "\nservices: *a11\n"

# name -> (files to write, the file to load, (line, field) expected, message fragment)
WHOLE_FILE: dict[str, tuple[dict[str, str | bytes], str, tuple[int, str], str]] = {
    "oversized": ({"c.yaml": b"#" * (MAX_BYTES + 1)}, "c.yaml", (1, "(file)"),
                  "larger than 10 MiB"),
    "alias-bomb": ({"c.yaml": _LAUGHS}, "c.yaml", (6, "(file)"), "alias bomb"),
    "recursive-alias": ({"c.yaml": "services: []\nx-a: &a [*a]\n"}, "c.yaml", (2, "(file)"),
                        "recursive alias"),
    "missing-file": ({}, "c.yaml", (1, "(file)"), "no such file or directory"),
    "empty-directory": ({"d/readme.txt": "hi\n"}, "d", (1, "(file)"), "no *.yaml or *.yml"),
    "non-utf8": ({"c.yaml": b"services: []\nname: \xff\n"}, "c.yaml", (2, "(file)"),
                 "not valid UTF-8"),
    "unknown-tag": ({"c.yaml": "services: []\nx-a: !custom 1\n"}, "c.yaml", (2, "(file)"),
                    "unsupported YAML tag !custom"),
    "python-tag": ({"c.yaml": "x-a: !!python/object/apply:os.system [id]\n"}, "c.yaml",
                   (1, "(file)"), "unsupported YAML tag"),
    "top-level-list": ({"c.yaml": "- a\n- b\n"}, "c.yaml", (1, "(file)"),
                       "the top level must be a mapping"),
    "top-level-scalar": ({"c.yaml": "just text\n"}, "c.yaml", (1, "(file)"),
                         "the top level must be a mapping"),
    "syntax": ({"c.yaml": 'services:\n  - id: "a\n'}, "c.yaml", (3, "(file)"),
               "YAML syntax error"),
    "nul-byte": ({"c.yaml": 'services: []\nx-a: "a\x00"\n'}, "c.yaml", (2, "(file)"),
                 "not allowed in YAML"),
    "no-services": ({"c.yaml": "curators: []\n"}, "c.yaml", (1, "services"),
                    "the catalog lists no services"),
}


@pytest.mark.parametrize("name", list(WHOLE_FILE))
def test_every_error_has_the_shape_file_line_field_message(tmp_path: Path, name: str) -> None:
    files, load, (line, field), fragment = WHOLE_FILE[name]
    write_files(tmp_path, files)
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / load, env={})
    [issue] = caught.value.issues
    rendered = str(issue)
    match = SHAPE.match(rendered)
    assert match is not None, rendered
    assert (match["file"], int(match["line"]), match["field"]) == (str(tmp_path / load), line,
                                                                   field), rendered
    assert (issue.line, issue.field) == (line, field)
    assert fragment in match["message"], rendered


def test_a_key_with_a_line_break_stays_on_one_line(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text('services: []\n"bad\\nkey\\u001b[31m": 1\n',
                                     encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "c.yaml", env={})
    [issue] = caught.value.issues
    assert SHAPE.match(str(issue)), str(issue)
    assert "\x1b" not in str(issue)


@pytest.mark.e2e
def test_check_output_lines_all_have_the_shape(tmp_path: Path) -> None:
    for name in ("oversized", "missing-file", "non-utf8", "top-level-list", "no-services"):
        files, load, _, _ = WHOLE_FILE[name]
        write_files(tmp_path / name, files)
        done = dozor("check", str(tmp_path / name / load))
        assert done.returncode == 1, (name, done.stderr)
        *errors, summary = done.stderr.splitlines()
        assert errors and all(SHAPE.match(line) for line in errors), (name, done.stderr)
        assert summary == f"{tmp_path / name / load}: {len(errors)} error(s)"


# --- a file that is not a catalog is named, never echoed ----------------------------------

CANARY = "DOZOR-CANARY-7f3a9c-sk_live_0123456789abcdef"
NOT_A_CATALOG = {
    "plain-text": f"API_TOKEN={CANARY}\nexport OTHER={CANARY}\n" + "x" * 5000 + "\n",
    "scalar": f'"{CANARY}"\n',
    "block-scalar": f"|\n  {CANARY}\n  {CANARY}\n",
    "list": f"- {CANARY}\n- token: {CANARY}\n",
    "number": "12345678901234567890\n",
}


@pytest.mark.parametrize("kind", list(NOT_A_CATALOG))
def test_an_included_file_that_is_not_a_catalog_is_not_echoed(tmp_path: Path, kind: str) -> None:
    (tmp_path / "secret.env").write_text(NOT_A_CATALOG[kind], encoding="utf-8")
    catalog = write_catalog(tmp_path / "c.yaml", catalog_dict(["http://127.0.0.1:1/a"]))
    with catalog.open("a", encoding="utf-8") as fh:
        fh.write("include: [secret.env]\n")
    done = dozor("check", str(catalog))
    assert done.returncode == 1, done.stdout
    output = done.stdout + done.stderr
    assert CANARY not in output and "12345678901234567890" not in output, output
    assert "x" * 100 not in output
    [error, _] = done.stderr.splitlines()
    assert SHAPE.match(error), error
    assert f"{tmp_path / 'secret.env'}:1: (file): " in error
    assert "not a catalog" in error, error


def test_including_etc_passwd_does_not_print_it(tmp_path: Path) -> None:
    passwd = Path("/etc/passwd")
    if not passwd.is_file():
        pytest.skip("no /etc/passwd here")
    first_line = passwd.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    catalog = tmp_path / "c.yaml"
    catalog.write_text('services: []\ninclude: ["/etc/passwd"]\n', encoding="utf-8")
    done = dozor("check", str(catalog))
    assert done.returncode == 1
    assert first_line not in done.stdout + done.stderr
    assert "/etc/passwd:1: (file): " in done.stderr


# --- a catalog without services ---------------------------------------------------------

@pytest.mark.parametrize("text", ["", "# nothing left\n", "curators: []\n", "services:\n"],
                         ids=["empty", "comment-only", "no-services-key", "services-null"])
def test_a_catalog_without_services_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "c.yaml", env={})
    [issue] = caught.value.issues
    assert (issue.line, issue.field) == (1, "services"), str(issue)
    assert "services: []" in issue.message  # how to say "no services" on purpose


def test_an_explicitly_empty_catalog_loads(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("services: []\n", encoding="utf-8")
    assert load_catalog(tmp_path / "c.yaml", env={}).services == ()


def test_services_may_come_from_an_included_file(tmp_path: Path) -> None:
    data = catalog_dict(["http://127.0.0.1:1/a"])
    services = {"services": data.pop("services")}
    data["include"] = ["services.d/*.yaml"]
    write_catalog(tmp_path / "c.yaml", data)
    (tmp_path / "services.d").mkdir()
    write_catalog(tmp_path / "services.d" / "one.yaml", services)
    assert len(load_catalog(tmp_path / "c.yaml", env={}).services) == 1
    # ... and the decision is on the merged files: an included empty list counts as explicit.
    write_catalog(tmp_path / "services.d" / "one.yaml", {"services": []})
    assert load_catalog(tmp_path / "c.yaml", env={}).services == ()


def test_no_services_anywhere_in_the_included_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("include: [more.yaml]\n", encoding="utf-8")
    (tmp_path / "more.yaml").write_text("curators: []\n", encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "c.yaml", env={})
    [issue] = caught.value.issues
    assert (Path(issue.file).name, issue.line, issue.field) == ("c.yaml", 1, "services")


# --- dozor check output -----------------------------------------------------------------

def test_check_summary_ends_with_a_newline(tmp_path: Path) -> None:
    good = write_catalog(tmp_path / "c.yaml", catalog_dict(["http://127.0.0.1:1/a"]))
    done = dozor("check", str(good))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"{good}: ok: 1 services, 1 probes, 2 curators, 2 regions, "
                           "1 life situations\n")
    assert done.stderr == ""
    (tmp_path / "bad.yaml").write_text("services: nope\n", encoding="utf-8")
    done = dozor("check", str(tmp_path / "bad.yaml"))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.endswith(f"{tmp_path / 'bad.yaml'}: 1 error(s)\n"), repr(done.stderr)


# --- cross-checks see every readable field of an invalid item ----------------------------

PARTIAL = """\
standard: {availability: lots, max_outage: 1h}
defaults: {interval: often, timeout: 5s}
regions:
  - {code: RU-XXX, name: "", timezone: Mars/Olympus}
curators:
  - {id: ivanova, name: "", deputy: nobody}
  - {id: Petrov, name: P, deputy: Petrov}
services:
  - id: one
    name: One
    level: galactic
    region: RU-XXX
    department: D
    curator: ivanova
    standard: {max_outage: 2h}
    probes:
      - {name: p, interval: 10s, timeout: 5s, retries: 1, http: {url: "https://e.org/"}}
      - {name: q, timeout: 1s, http: {url: "https://e.org/"}}
"""


def test_cross_checks_run_on_the_readable_fields_of_invalid_items(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(PARTIAL, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path / "c.yaml", env={})
    got = [(i.line, i.field, i.message.split(";")[0]) for i in caught.value.issues]
    assert got == [
        (1, "standard.availability", "expected a percentage with a % sign, e.g. '99.5%', got "
                                     "'lots'"),
        (2, "defaults.interval", "'often' is not a duration"),
        (4, "regions[RU-XXX].code", "'RU-XXX' is not an ISO 3166-2:RU subdivision code"),
        (4, "regions[RU-XXX].name", "String should have at least 1 character"),
        (4, "regions[RU-XXX].timezone", "'Mars/Olympus' is not an IANA time zone"),
        (6, "curators[ivanova].deputy", "curator 'nobody' is not defined"),
        (6, "curators[ivanova].name", "String should have at least 1 character"),
        # An invalid id is not compared with the deputy (each is reported as what it is).
        (7, "curators[Petrov].deputy", "expected lower-case id: a-z 0-9 . _ -"),
        (7, "curators[Petrov].id", "expected lower-case id: a-z 0-9 . _ -"),
        (11, "services[one].level", "expected 'federal', 'regional' or 'municipal'"),
        # The standard's max_outage is readable though its availability is not.
        (15, "services[one].standard.max_outage", "max_outage 2h loosens the catalog standard 1h"),
        # p sets both interval and timeout, so the invalid default does not matter to it; q
        # inherits the invalid interval, so it is not checked.
        (17, "services[one].probes[p].retries", "2 attempts of 5s do not fit in the interval 10s"),
    ], "\n".join(map(str, caught.value.issues))


@pytest.mark.parametrize("key", [" ", " padded", "a: b", "", "'quoted"])
def test_odd_keys_keep_the_shape(tmp_path: Path, key: str) -> None:
    """A key that is blank, padded or holds a colon is quoted in the field, so the error still
    reads file:line: field: message (hypothesis found `{' ': None}` breaking it)."""
    path = write_catalog(tmp_path / "c.yaml", {key: None, "services": []})
    with pytest.raises(CatalogError) as caught:
        load_catalog(path, env={})
    [issue] = caught.value.issues
    assert SHAPE.match(str(issue)), str(issue)
    assert issue.field == repr(key)
