"""One invalid fixture per validation rule, each pinned to the file, line, field and message it
must produce, and to nothing else (so a rule that also spews follow-on noise fails too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.catalog import CatalogError, Issue, load_catalog

INVALID = Path(__file__).parent / "fixtures" / "catalog" / "invalid"
SVC = "services[kindergarten-smo]"

# fixture -> every expected issue as (file name, line, field, message fragment), in report order.
CASES: dict[str, list[tuple[str, int, str, str]]] = {
    "unknown-key-top": [
        ("unknown-key-top.yaml", 2, "servces", "unknown key 'servces'; allowed keys: standard"),
    ],
    "unknown-key-nested": [
        ("unknown-key-nested.yaml", 18, f"{SVC}.probes[portal].http.expct",
         "unknown key 'expct'; allowed keys: url, method"),
    ],
    "missing-field": [
        ("missing-field.yaml", 8, f"{SVC}.curator", "missing required key 'curator'"),
    ],
    "wrong-type": [
        ("wrong-type.yaml", 14, f"{SVC}.mszu", "expected true or false; got 'sometimes'"),
    ],
    "duplicate-service-id": [
        ("duplicate-service-id.yaml", 17, f"{SVC}.id",
         "duplicate service id 'kindergarten-smo' (first at line 8)"),
    ],
    "duplicate-curator-id": [
        ("duplicate-curator-id.yaml", 4, "curators[ivanova].id",
         "duplicate curator id 'ivanova' (first at line 2)"),
    ],
    "duplicate-region-code": [
        ("duplicate-region-code.yaml", 3, "regions[RU-SMO].code",
         "duplicate region code 'RU-SMO' (first at line 2)"),
    ],
    "duplicate-life-situation-id": [
        ("duplicate-life-situation-id.yaml", 4, "life_situations[birth-of-child].id",
         "duplicate life situation id 'birth-of-child' (first at line 2)"),
    ],
    "duplicate-probe-name": [
        ("duplicate-probe-name.yaml", 17, f"{SVC}.probes[portal].name",
         "duplicate probe name 'portal' in this service (first at line 15)"),
    ],
    "duplicate-key": [
        ("duplicate-key.yaml", 4, "curators[ivanova].name",
         "duplicate key 'name' (first at line 3)"),
    ],
    "dangling-curator": [
        ("dangling-curator.yaml", 13, f"{SVC}.curator",
         "curator 'ivanva' is not defined; add it under curators: or fix the reference "
         "(did you mean 'ivanova'?)"),
    ],
    "dangling-deputy": [
        ("dangling-deputy.yaml", 2, "curators[ivanova].deputy", "curator 'petrov' is not defined"),
        ("dangling-deputy.yaml", 3, "curators[sidorov].deputy", "cannot be their own deputy"),
    ],
    "dangling-region": [
        ("dangling-region.yaml", 11, f"{SVC}.region", "region 'RU-SPE' is not defined"),
    ],
    "dangling-life-situation": [
        ("dangling-life-situation.yaml", 14, f"{SVC}.life_situations[1]",
         "life situation 'retirement' is not defined"),
    ],
    "bad-duration": [
        ("bad-duration.yaml", 16, f"{SVC}.probes[portal].timeout",
         "'10 sec' is not a duration; write a number and a unit"),
    ],
    "bad-percent": [
        ("bad-percent.yaml", 2, "standard.availability",
         "expected a percentage with a % sign, e.g. '99.5%', got 99.5"),
        ("bad-percent.yaml", 3, "standard.offhours_availability", "at most 100%"),
    ],
    "bad-url": [
        ("bad-url.yaml", 16, f"{SVC}.probes[portal].http.url",
         "'ftp://example.org/' is not an http(s) URL"),
    ],
    "bad-regex": [
        ("bad-regex.yaml", 18, f"{SVC}.probes[portal].http.expect.body_regex",
         "'([a-z' is not a valid regular expression"),
    ],
    "bad-region-code": [
        ("bad-region-code.yaml", 3, "regions[RU-SMK].code",
         "'RU-SMK' is not an ISO 3166-2:RU subdivision code"),
    ],
    "bad-timezone": [
        ("bad-timezone.yaml", 2, "regions[RU-SMO].timezone",
         "'Europe/Smolensk' is not an IANA time zone"),
    ],
    "loosened-standard": [
        ("loosened-standard.yaml", 15, f"{SVC}.standard.availability",
         "availability 99% loosens the catalog standard 99.5%"),
        # offhours_availability 99.9% on line 16 tightens, so it is rightly absent.
        ("loosened-standard.yaml", 17, f"{SVC}.standard.max_outage",
         "max_outage 2h loosens the catalog standard 1h"),
        ("loosened-standard.yaml", 18, f"{SVC}.standard.latency_p95",
         "latency_p95 3s loosens the catalog standard 2s"),
        ("loosened-standard.yaml", 19, f"{SVC}.standard.maintenance_counts",
         "maintenance_counts: false loosens the catalog standard"),
    ],
    "timeout-not-below-interval": [
        ("timeout-not-below-interval.yaml", 1, "defaults.timeout",
         "timeout 10s is not below interval 10s"),
        # probes[portal] sets interval 30s over the default 10s timeout: fine, so absent.
        ("timeout-not-below-interval.yaml", 21, f"{SVC}.probes[fast].timeout",
         "timeout 5s is not below interval 5s"),
    ],
    "retries-do-not-fit": [
        ("retries-do-not-fit.yaml", 18, f"{SVC}.probes[portal].retries",
         "3 attempts of 10s do not fit in the interval 30s"),
    ],
    "maintenance-two-forms": [
        ("maintenance-two-forms.yaml", 15, f"{SVC}.maintenance[0]",
         "a maintenance window needs exactly one form"),
    ],
    "maintenance-bad-cron": [
        ("maintenance-bad-cron.yaml", 15, f"{SVC}.maintenance[0].cron",
         "is not a five-field cron expression"),
    ],
    "journey-poll-past-timeout": [
        ("journey-poll-past-timeout.yaml", 17, f"{SVC}.probes[apply].journey",
         "poll deadlines add up to 10s, not below the probe timeout 5s"),
    ],
    "probe-no-kind": [
        ("probe-no-kind.yaml", 15, f"{SVC}.probes[portal]",
         "a probe needs exactly one kind key"),
    ],
    "probe-two-kinds": [
        ("probe-two-kinds.yaml", 15, f"{SVC}.probes[portal]", "exactly one kind key"),
    ],
    "yaml-syntax": [
        ("yaml-syntax.yaml", 7, "(file)", "YAML syntax error: found unexpected end of stream "
         "(while scanning a quoted scalar started at line 5)"),
    ],
    "top-level-list": [
        ("top-level-list.yaml", 1, "(file)", "the top level must be a mapping"),
    ],
    "include-cycle": [
        ("back.yaml", 3, "include[0]",
         "include cycle: include-cycle.yaml -> back.yaml -> include-cycle.yaml"),
    ],
    "include-nothing": [
        ("include-nothing.yaml", 3, "include[0]", "include 'services.d/*.yaml' matches no files"),
    ],
    "standard-twice": [
        ("again.yaml", 2, "standard", "standard is already defined at "),
    ],
    "unset-env": [
        ("unset-env.yaml", 18, f"{SVC}.probes[portal].http.headers.Authorization",
         "environment variable DOZOR_TEST_UNSET_TOKEN is not set"),
    ],
    "alias-bomb": [
        ("alias-bomb.yaml", 7, "(file)", "aliases expand to more than"),
    ],
    "alias-recursive": [
        ("alias-recursive.yaml", 1, "(file)", "recursive alias"),
    ],
    "unsafe-tag": [
        ("unsafe-tag.yaml", 2, "(file)",
         "unsupported YAML tag tag:yaml.org,2002:python/object/apply"),
    ],
    "collects-everything": [
        ("collects-everything.yaml", 11, "services[one].level",
         "expected 'federal', 'regional' or 'municipal'; got 'county'"),
        # Cross-checks run on every field that is readable, even when another field of the
        # same service is invalid: fixing one typo must not reveal more errors.
        ("collects-everything.yaml", 23, "services[two].curator",
         "curator 'nobody' is not defined"),
        ("collects-everything.yaml", 26, "services[two].probes[portal].timeout",
         "'soon' is not a duration"),
        ("collects-everything.yaml", 28, "services[Three].id",
         "expected lower-case id: a-z 0-9 . _ -; got 'Three'"),
        ("collects-everything.yaml", 34, "services[Three].probes", "expected at least 1 item"),
        ("collects-everything.yaml", 40, "services[four].curator",
         "curator 'nobody' is not defined"),
        ("collects-everything.yaml", 44, "services[two].id",
         "duplicate service id 'two' (first at line 18)"),
        ("collects-everything.yaml", 45, "services[two].name", "at least 1 character"),
        ("collects-everything.yaml", 47, "services[two].region", "region 'RU-SPE' is not defined"),
        ("collects-everything.yaml", 50, "services[two].life_situations[1]",
         "expected lower-case id: a-z 0-9 . _ -; got 'Bad Id'"),
        ("collects-everything.yaml", 50, "services[two].life_situations[2]",
         "life situation 'retirement' is not defined"),
        ("collects-everything.yaml", 54, "services[two].probes[slow].retries",
         "6 attempts of 10s do not fit in the interval 1m"),
        ("collects-everything.yaml", 57, "services[two].probes[broken].http.url",
         "'ftp://example.org/' is not an http(s) URL"),
    ],
    "missing-services": [
        ("missing-services.yaml", 1, "services",
         "the catalog lists no services"),
    ],
}


def _load_issues(fixture: str) -> list[Issue]:
    with pytest.raises(CatalogError) as caught:
        load_catalog(INVALID / f"{fixture}.yaml", env={})
    return caught.value.issues


@pytest.mark.parametrize(("fixture", "expected"), CASES.items(), ids=list(CASES))
def test_invalid_fixture_reports_exactly_its_issues(
    fixture: str, expected: list[tuple[str, int, str, str]]
) -> None:
    issues = _load_issues(fixture)
    got = [(Path(i.file).name, i.line, i.field) for i in issues]
    assert got == [(name, line, field) for name, line, field, _ in expected], "\n".join(
        map(str, issues)
    )
    for issue, (*_, fragment) in zip(issues, expected, strict=True):
        assert fragment in issue.message, str(issue)


def test_every_invalid_fixture_has_a_case() -> None:
    assert sorted(p.stem for p in INVALID.glob("*.yaml")) == sorted(CASES)


def test_error_text_lists_every_issue_with_file_and_line() -> None:
    with pytest.raises(CatalogError) as caught:
        load_catalog(INVALID / "collects-everything.yaml", env={})
    lines = str(caught.value).splitlines()
    assert len(lines) == len(CASES["collects-everything"])
    assert lines[0].endswith(
        "collects-everything.yaml:11: services[one].level: "
        "expected 'federal', 'regional' or 'municipal'; got 'county'"
    )
