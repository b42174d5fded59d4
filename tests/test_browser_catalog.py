"""The browser kind's catalog rules: every mistake is reported at load, with its file, line
and field, all at once; nothing Chromium would refuse at every run gets past the loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.catalog_factory import catalog_dict, write_catalog
from monitor.catalog import CatalogError, load_catalog
from probes.browser import BrowserSpec

FIELD = "services[svc-00000].probes[page].browser"


def _load(tmp_path: Path, browser: dict[str, Any], **probe: Any) -> Any:
    data = catalog_dict(["http://127.0.0.1/"], timeout="10s")
    data["services"][0]["probes"] = [{"name": "page", "browser": browser, **probe}]
    return load_catalog(write_catalog(tmp_path / "catalog.yaml", data), env={})


def _issues(tmp_path: Path, browser: dict[str, Any], **probe: Any) -> list[tuple[str, str]]:
    with pytest.raises(CatalogError) as caught:
        _load(tmp_path, browser, **probe)
    for issue in caught.value.issues:
        assert issue.line is not None and issue.file.endswith("catalog.yaml"), str(issue)
    return [(issue.field.removeprefix(FIELD), issue.message) for issue in caught.value.issues]


GOTO = {"goto": "https://portal.example/"}


def test_a_full_spec_loads(tmp_path: Path) -> None:
    catalog = _load(tmp_path, {
        "steps": [{"goto": {"url": "https://portal.example/", "wait_until": "networkidle"}},
                  {"fill": {"selector": "#p", "value": "секрет"}, "name": "login"},
                  {"press": "Enter"}, {"wait_for": "#ok"}, {"expect": {"title": "^Гос"}},
                  {"select": {"selector": "#r", "label": "Москва"}}, {"screenshot": "x"}],
        "step_timeout": "3s", "viewport": {"width": 390, "height": 844},
        "locale": "ru-RU", "timezone": "Asia/Vladivostok",
        "accessibility": {"standard": "wcag22aa", "max": {"serious": 1}}})
    spec = catalog.services[0].probes[0].spec
    assert isinstance(spec, BrowserSpec)
    assert spec.step_names() == ["1-goto", "login", "3-press", "4-wait-for", "5-expect",
                                 "6-select", "7-screenshot"]
    assert spec.secrets() == ["секрет"]
    assert spec.accessibility is not None
    assert spec.accessibility.max.over({"serious": 2, "critical": 9}) == ["serious 2 > 1"]


def test_every_mistake_is_reported_at_once(tmp_path: Path) -> None:
    issues = _issues(tmp_path, {"timezone": "Mars/Olympus", "steps": [
        GOTO,
        {"goto": "https://portal.example/", "click": "#y"},
        {"expect": {"url": "([unclosed"}},
        {"fill": {"selector": "#p"}},
        {"hover": "#z"},
        {"expect": {}},
        {"select": {"selector": "#s"}},
        {"wait_for": {"selector": "#a", "text": "b"}},
        {"goto": "ftp://portal.example/"},
    ]})
    assert issues == [
        (".timezone", "'Mars/Olympus' is not an IANA time zone, e.g. 'Asia/Vladivostok'"),
        (".steps[1]", "give exactly one action of goto, click, fill, press, select, wait_for, "
                      "expect, screenshot; found goto, click"),
        (".steps[2].expect.url", "'([unclosed' is not a valid regular expression: "
                                 "unterminated character set at position 1"),
        (".steps[3].fill.value",
         "missing required key 'value' (typed into the field; may be a ${secret})"),
        (".steps[4].hover", "unknown key 'hover'; allowed keys: name, timeout, goto, click, "
                            "fill, press, select, wait_for, expect, screenshot"),
        (".steps[5].expect", "give at least one of text, visible, url, title"),
        (".steps[6].select", "give exactly one of value, label"),
        (".steps[7].wait_for", "give exactly one of selector, text"),
        (".steps[8].goto.url", "'ftp://portal.example/' is not an http(s) URL; write e.g. "
                           "'https://host.example/path'"),
    ]


@pytest.mark.parametrize(("browser", "field", "fragment"), [
    ({"steps": []}, ".steps", "at least 1"),
    ({"steps": [{"click": "#a"}]}, ".steps", "the first step must be a goto, not click"),
    ({"steps": [GOTO, {"goto": "https://portal.example/", "name": "x"},
                {"click": "#a", "name": "x"}]}, ".steps", "repeated: x"),
    ({"steps": [GOTO], "locale": "Russian"}, ".locale", "pattern"),
    ({"steps": [GOTO], "viewport": {"width": 10}}, ".viewport.width", "200"),
    ({"steps": [GOTO], "accessibility": {"standard": "section508"}}, ".accessibility.standard",
     "wcag21aa"),
    ({"steps": [GOTO], "accessibility": {"max": {"critical": -1}}},
     ".accessibility.max.critical", "0"),
    ({"steps": [GOTO, {"wait_for": "#a", "timeout": "10s"}]}, "",
     "a step may take 10s, not below the probe timeout 10s"),
    ({"steps": [GOTO], "step_timeout": "12s"}, "", "a step may take 12s"),
])
def test_one_mistake(tmp_path: Path, browser: dict[str, Any], field: str,
                     fragment: str) -> None:
    ((where, message),) = _issues(tmp_path, browser)
    assert where == field, message
    assert fragment in message
