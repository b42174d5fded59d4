"""`dozor status` in a real headless Chromium (Debian's, driven by Playwright; no browser
download) over the history of tests/status_history.py: an axe-core audit (WCAG 2.x A/AA) of
every page kind, keyboard navigation, landmarks and language, met/not met told in text and
icon as well as colour, 200 % zoom, and full-page screenshots read back pixel by pixel.

One Prometheus, one ``dozor status`` on it and one with no Prometheus at all (the page a
visitor gets while the source is unreachable), one browser for the module."""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

from harness.png import pixels, png_rows
from probes.browser.accessibility import TAGS, axe_source
from probes.browser.runtime import EXECUTABLES, find_executable
from tests import status_history as h

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

# style.css: the daily bars' colours (--ok, --bad, and grey for no data).
BAR = {bytes.fromhex("1e7b34"): "ok", bytes.fromhex("b3261e"): "bad",
       bytes.fromhex("d0d0d0"): "none"}
SKIP = "Перейти к содержанию"

# Every page kind: (which instance, path, the status it answers).
PAGES = [("site", "/", 200), ("site", "/services", 200),
         *(("site", f"/services/{s.id}", 200) for s in h.SERVICES),
         *(("site", f"/regions/{code}", 200) for code in h.REGIONS),
         ("site", "/life-situations/birth-of-child", 200),
         ("site", "/life-situations/moving-house", 200),
         ("site", "/no-such-page", 404), ("site", "/services/no-such", 404),
         ("no_data", "/", 200), ("no_data", "/services/nightly", 200)]
IDS = [f"{which}:{path}" for which, path, _ in PAGES]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from h.history_prometheus(tmp_path_factory.mktemp("status-prom"))


@pytest.fixture(scope="module")
def site(prometheus: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[h.Site]:
    # A browser fetches the stylesheet and the badges with every page: a generous burst.
    yield from h.serve_status(tmp_path_factory.mktemp("status"), prometheus,
                              "--refresh", "3600", "--window-refresh", "3600",
                              "--rate-limit", "50", "--burst", "400")


@pytest.fixture(scope="module")
def no_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[h.Site]:
    yield from h.serve_status_without_data(tmp_path_factory.mktemp("status-no-data"))


@pytest.fixture(scope="module")
def sites(site: h.Site, no_data: h.Site) -> dict[str, h.Site]:
    return {"site": site, "no_data": no_data}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = find_executable(None)
    if executable is None:
        pytest.fail(f"no Chromium ({', '.join(EXECUTABLES)}); run `make test` (it installs "
                    "Debian's chromium-headless-shell)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable)
        yield launched
        await launched.close()


async def _offline(route: Route) -> None:
    await route.abort()   # the curator's photo on another host: nothing leaves the machine


async def _context(browser: Browser, width: int, height: int, scale: float) -> BrowserContext:
    context = await browser.new_context(viewport={"width": width, "height": height},
                                        device_scale_factor=scale, locale="ru-RU",
                                        timezone_id="Europe/Moscow")
    await context.route(re.compile(r"^(?!http://127\.0\.0\.1:)"), _offline)
    return context


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def desktop(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await _context(browser, 1280, 800, 1)
    yield context
    await context.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def zoomed(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A 1280 × 800 window at 200 % zoom: 640 × 400 CSS pixels, two device pixels each."""
    context = await _context(browser, 640, 400, 2)
    yield context
    await context.close()


@contextlib.asynccontextmanager
async def _opened(context: BrowserContext, url: str | None = None,
                  status: int | None = None) -> AsyncIterator[Page]:
    """A new page (at ``url``, which must answer ``status``), closed afterwards whatever
    happens."""
    page = await context.new_page()
    try:
        if url is not None:
            response = await page.goto(url, wait_until="load")
            assert response is not None and response.status == status, url
        yield page
    finally:
        await page.close()


# --- axe-core --------------------------------------------------------------------------------

_AXE = """
async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                          resultTypes: ['violations']});
  return {passes: result.passes.length, violations: result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map(n => n.target.join(' ') + (n.failureSummary
      ? ' (' + n.failureSummary.replace(/\\s+/g, ' ').slice(0, 160) + ')' : ''))}))};
}
"""


async def _axe(page: Page) -> tuple[int, list[dict[str, Any]]]:
    """How many rules passed, and the violated ones."""
    await page.evaluate(axe_source())   # through CDP: the page's CSP does not apply
    found = await page.evaluate(_AXE, TAGS["wcag22aa"])   # WCAG 2.0, 2.1, 2.2; A and AA
    return found["passes"], [v for v in found["violations"] if isinstance(v, dict)]


async def test_the_audit_does_find_violations(desktop: BrowserContext) -> None:
    """Not vacuous: the same audit on a page with the demo form's faults reports them."""
    async with _opened(desktop) as page:
        await page.set_content('<html lang="ru"><body><main><h1>Заявление</h1>'
                               '<img src="/logo.png"><input type="text">'
                               '<p style="color:#aaa">Подсказка</p></main></body></html>')
        found = {v["id"]: v["impact"] for v in (await _axe(page))[1]}
    assert found.get("image-alt") == "critical" and found.get("label") == "critical"
    assert found.get("color-contrast") == "serious", found


@pytest.mark.parametrize(("which", "path", "status"), PAGES, ids=IDS)
async def test_axe_finds_no_critical_or_serious_violation(
        desktop: BrowserContext, sites: dict[str, h.Site], which: str, path: str,
        status: int) -> None:
    async with _opened(desktop, sites[which].url + path, status) as page:
        passes, violations = await _axe(page)
    assert passes >= 10, "axe-core checked almost nothing"
    for v in violations:   # moderate and minor ones are shown (with -s), not failed
        print(f"{which}:{path}: {v['impact']} {v['id']}: {v['help']}: {v['targets']}")
    grave = [f"{v['id']} ({v['impact']}): {v['help']}; " + "; ".join(v["targets"])
             for v in violations if v["impact"] in ("critical", "serious")]
    assert not grave, "\n".join(grave)


# --- landmarks, language, structure ---------------------------------------------------------

_STRUCTURE = """
() => {
  const text = el => (el.textContent || '').replace(/\\s+/g, ' ').trim();
  const tables = [...document.querySelectorAll('table')].filter(
    t => !(t.caption && text(t.caption)) && !t.querySelector('th'));
  const levels = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(
    h => Number(h.tagName[1]));
  const skipped = levels.filter((l, i) => l > (i ? levels[i - 1] : 0) + 1);
  const marks = [...document.querySelectorAll('.state, .verdict')].map(text).filter(
    t => !/^[●✗⚒?✓–] \\S/.test(t));
  return {tables: tables.map(t => t.outerHTML.slice(0, 120)), levels, skipped, marks,
          h1: document.querySelectorAll('h1').length};
}
"""


@pytest.mark.parametrize(("which", "path", "status"), PAGES, ids=IDS)
async def test_landmarks_language_tables_and_headings(
        desktop: BrowserContext, sites: dict[str, h.Site], which: str, path: str,
        status: int) -> None:
    async with _opened(desktop, sites[which].url + path, status) as page:
        assert await page.locator("html").get_attribute("lang") == "ru"
        # Roles as assistive technology computes them: header and footer outside any
        # section are the banner and the content info.
        assert await page.get_by_role("main").count() == 1
        assert await page.get_by_role("banner").count() == 1
        assert await page.get_by_role("contentinfo").count() == 1
        navs = page.get_by_role("navigation")
        labels = [await navs.nth(i).get_attribute("aria-label") for i in range(await navs.count())]
        assert "Разделы" in labels and all(labels), labels
        found = await page.evaluate(_STRUCTURE)
        assert found["tables"] == [], "tables with neither a caption nor header cells"
        assert found["h1"] == 1 and found["skipped"] == [], found["levels"]
        # Up, down, maintenance, met or broken: an icon and words, not a colour alone.
        assert found["marks"] == []


# --- keyboard --------------------------------------------------------------------------------

_FOCUSED = """
() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const r = el.getBoundingClientRect();
  return {tag: el.tagName.toLowerCase(), text: (el.textContent || '').trim(),
          href: el.getAttribute('href'), inMain: !!el.closest('main'),
          outline: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth),
          outlineColor: style.outlineColor,
          visible: r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0
                   && r.right <= innerWidth && r.bottom <= innerHeight};
}
"""


def _luminance(css: str) -> float:
    channels = [int(v) / 255 for v in re.findall(r"\d+", css)[:3]]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _assert_focus_visible(focused: dict[str, Any]) -> None:
    assert focused["outline"] != "none" and focused["outlineWidth"] >= 2, focused
    # Against the white page and the grey header alike (WCAG 1.4.11: 3:1).
    for background in (1.0, _luminance("rgb(241, 243, 246)")):
        ratio = (background + 0.05) / (_luminance(focused["outlineColor"]) + 0.05)
        assert ratio >= 3, (focused, ratio)


async def test_keyboard_skip_link_then_the_sections_in_order(
        desktop: BrowserContext, site: h.Site) -> None:
    async with _opened(desktop) as page:
        await page.goto(site.url + "/")
        await page.keyboard.press("Tab")
        first = await page.evaluate(_FOCUSED)
        assert first["text"] == SKIP and first["href"] == "#main", first
        assert first["visible"], "the skip link shows when it has the focus"
        _assert_focus_visible(first)
        nav = await page.locator("header nav a").all_inner_texts()
        assert nav == ["Главная", "Все услуги", "Регионы", "Жизненные ситуации", "API"]
        order = []
        for _ in range(1 + len(nav)):   # the site's name (home), then the sections
            await page.keyboard.press("Tab")
            focused = await page.evaluate(_FOCUSED)
            _assert_focus_visible(focused)
            order.append(focused["text"])
        assert order == ["Госуслуги 24/7", *nav]

        await page.goto(site.url + "/")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")
        await page.wait_for_url(re.compile(r"#main$"))
        assert (await page.evaluate(_FOCUSED))["tag"] == "main"
        top = await page.evaluate("document.querySelector('main').getBoundingClientRect().top")
        assert abs(top) <= 1 and await page.evaluate("scrollY") > 0   # scrolled to it
        await page.keyboard.press("Tab")   # and the next stop is in the content
        assert (await page.evaluate(_FOCUSED))["inMain"]


# --- met / not met beyond colour ------------------------------------------------------------

_DAY = re.compile(r"\d\d\.\d\d\.\d{4}: (\d+,\d\d %, (цель выполнена|ниже цели)|нет данных)")


async def test_daily_bars_and_parts_of_the_standard_say_met_or_not_in_words(
        desktop: BrowserContext, site: h.Site) -> None:
    async with _opened(desktop) as page:
        await page.goto(site.url + "/services/nightly")
        bars = page.locator("ol.bars > li.bar")
        assert await bars.count() == 90
        spoken = await page.locator("ol.bars > li.bar .vh").all_text_contents()
        classes = [await bars.nth(i).get_attribute("class") for i in range(90)]
        assert len(spoken) == 90
        for css, text in zip(classes, spoken, strict=True):
            match = _DAY.fullmatch(text.strip())
            assert match is not None, text
            assert css == {"цель выполнена": "bar ok", "ниже цели": "bar bad",
                           None: "bar none"}[match[2]], (css, text)
        assert {"bar ok", "bar bad"} <= set(classes)
        # What a screen reader gets: the list items carry those words.
        tree = await page.locator("ol.bars").aria_snapshot()
        items = re.findall(r"listitem:? \"?([^\"\n]+?)\"?'?$", tree, re.MULTILINE)
        assert items == [t.strip() for t in spoken], tree[:500]

        cells = await page.locator("section[aria-labelledby=standard] tbody td:last-child"
                                   ).all_inner_texts()
        assert cells and set(cells) <= {"✓ да", "✗ нет", "– нет данных"}, cells
        assert {"✓ да", "✗ нет"} <= set(cells)
        legend = await page.locator("p.legend").inner_text()
        for words in ("выполнена", "ниже цели", "нет данных"):
            assert words in legend


# --- 200 % zoom ----------------------------------------------------------------------------

_REFLOW = """
() => {
  const width = document.documentElement.clientWidth;
  const name = el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '');
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || el.closest('.vh, .skip')) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const r = range.getBoundingClientRect();
    if (!r.width) continue;
    const what = name(el) + ' «' + node.textContent.trim().slice(0, 40) + '»';
    if (r.left < -1 || r.right > width + 1) out.push('off screen: ' + what);
    for (let a = el; a && a !== document.body; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
      const b = a.getBoundingClientRect();
      if (r.left < b.left - 1 || r.right > b.right + 1 || r.top < b.top - 1
          || r.bottom > b.bottom + 1) out.push('clipped by ' + name(a) + ': ' + what);
    }
  }
  for (const el of document.querySelectorAll('h1, h2, h3, table, caption, nav, header, footer')) {
    const r = el.getBoundingClientRect();
    if (r.left < -1 || r.right > width + 1) out.push('wider than the window: ' + name(el));
  }
  return {scrollWidth: document.documentElement.scrollWidth, clientWidth: width, out};
}
"""


@pytest.mark.parametrize(("which", "path", "status"), PAGES, ids=IDS)
async def test_200_percent_zoom_reflows_without_horizontal_scrolling(
        zoomed: BrowserContext, sites: dict[str, h.Site], which: str, path: str,
        status: int) -> None:
    async with _opened(zoomed, sites[which].url + path, status) as page:
        assert await page.evaluate("innerWidth") == 640
        found = await page.evaluate(_REFLOW)
    assert found["scrollWidth"] <= found["clientWidth"] + 1, found
    assert found["out"] == [], "\n".join(found["out"])


# --- screenshots -----------------------------------------------------------------------------

async def test_screenshots_show_the_page_and_the_coloured_bars(
        browser: Browser, site: h.Site, tmp_path_factory: pytest.TempPathFactory) -> None:
    shots = tmp_path_factory.mktemp("screenshots")
    context = await _context(browser, 1280, 800, 1)
    try:
        for name, path in (("home", "/"), ("nightly", "/services/nightly")):
            async with _opened(context, site.url + path, 200) as page:
                file = shots / f"{name}.png"
                await page.screenshot(path=file, full_page=True)
                print(f"screenshot of {path}: {file}")
                height = await page.evaluate("document.documentElement.scrollHeight")
                box = (await page.locator("ol.bars").bounding_box() if name == "nightly"
                       else None)
                classes = await page.locator("ol.bars > li.bar").evaluate_all(
                    "bars => bars.map(b => b.className.split(' ')[1])")
            width, png_height, rows = png_rows(file)
            assert (width, png_height) == (1280, height), file
            seen = pixels(rows)
            assert sum(p != b"\xff\xff\xff" for p in seen) / len(seen) > 0.03, file
            assert len(set(seen)) > 50, (file, len(set(seen)))  # text, anti-aliased: not blank
            if box is None:
                continue
            # The bars are drawn, in their colours, in their order: across the middle of the
            # strip, each run of a bar colour is one day.
            row = rows[int(box["y"] + box["height"] / 2)]
            left, right = int(box["x"]), int(box["x"] + box["width"])
            strip = [row[x * 3:x * 3 + 3] for x in range(left, right)]
            runs = [colour for colour, _ in itertools.groupby(strip)]
            drawn = [BAR[c] for c in runs if c in BAR]
            assert drawn == classes, (drawn, classes)
            assert {"ok", "bad"} <= set(drawn)
    finally:
        await context.close()
