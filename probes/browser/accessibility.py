"""The accessibility audit: axe-core run in the page as the run leaves it.

axe-core's script comes from the axe-playwright-python wheel (a pinned, hashed release of
Deque's build, so no JavaScript is vendored here); it is evaluated through CDP, which a
page's Content-Security-Policy does not block. Counted per impact as the number of violated
rules (as Lighthouse and axe's own summary count), with the nodes per rule in the artifacts.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from playwright.async_api import Page

from probes.browser.spec import IMPACTS, Accessibility

# axe-core tags per standard: each level includes the ones below it.
TAGS = {
    "wcag2a": ["wcag2a"],
    "wcag2aa": ["wcag2a", "wcag2aa"],
    "wcag21a": ["wcag2a", "wcag21a"],
    "wcag21aa": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"],
    "wcag22aa": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"],
}

_RUN = """
async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                          resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.length}));
}
"""


@functools.cache
def axe_source() -> str:
    return resources.files("axe_playwright_python").joinpath("axe.min.js").read_text("utf-8")


async def audit(page: Page, settings: Accessibility) -> list[dict[str, Any]]:
    """The violated rules: id, impact, help, nodes."""
    # Always ours: a run audits once, on a fresh page, and a page that ships its own axe
    # must not choose the engine (nor cost a round trip to ask).
    await page.evaluate(axe_source())
    found = await page.evaluate(_RUN, TAGS[settings.standard])
    return [v for v in found if isinstance(v, dict)]


def counts(violations: list[dict[str, Any]]) -> dict[str, int]:
    by_impact = dict.fromkeys(IMPACTS, 0)
    for violation in violations:
        impact = violation.get("impact")
        if impact in by_impact:
            by_impact[impact] += 1
    return by_impact
