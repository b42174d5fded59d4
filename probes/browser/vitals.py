"""Web Vitals measured in the page with the browser's own performance observers.

LCP, FCP, CLS and TTFB as web-vitals defines them, and TBT (total blocking time: the part of
each long task beyond 50 ms after FCP) rather than INP: INP needs real interactions and is
absent on a page the probe only opens, while TBT is measured on every page and is the lab
proxy Lighthouse uses for it. Taken from the document the run ends on.
"""

from __future__ import annotations

from typing import Any

# Installed in every document before its scripts run (a context init script).
INIT_SCRIPT = """
(() => {
  const v = {lcp: null, fcp: null, cls: 0, tbt: 0};
  Object.defineProperty(window, '__dozorVitals', {value: v});
  let win = 0, first = 0, last = 0;
  const watch = (type, fn) => {
    try {
      new PerformanceObserver(l => l.getEntries().forEach(fn)).observe({type, buffered: true});
    }
    catch (e) { /* an entry type this browser lacks: that vital stays absent */ }
  };
  watch('largest-contentful-paint', e => { v.lcp = e.startTime; });
  watch('paint', e => { if (e.name === 'first-contentful-paint') v.fcp = e.startTime; });
  // CLS: the largest session window (shifts < 1 s apart, at most 5 s long).
  watch('layout-shift', e => {
    if (e.hadRecentInput) return;
    if (win && e.startTime - last < 1000 && e.startTime - first < 5000) { win += e.value; }
    else { win = e.value; first = e.startTime; }
    last = e.startTime;
    v.cls = Math.max(v.cls, win);
  });
  watch('longtask', e => {
    if (v.fcp !== null && e.startTime >= v.fcp) v.tbt += Math.max(0, e.duration - 50);
  });
})();
"""

COLLECT = """
() => {
  const v = window.__dozorVitals || {};
  const nav = performance.getEntriesByType('navigation')[0];
  return {lcp: v.lcp ?? null, fcp: v.fcp ?? null, cls: v.cls ?? null, tbt: v.tbt ?? null,
          ttfb: nav ? nav.responseStart : null};
}
"""

# Milliseconds in the page; exported in seconds.
TIMED = ("lcp", "fcp", "ttfb", "tbt")


def samples(raw: Any) -> list[tuple[str, tuple[str, ...], float]]:
    """The metric samples of what ``COLLECT`` returned (absent vitals are left out)."""
    if not isinstance(raw, dict):
        return []
    found: list[tuple[str, tuple[str, ...], float]] = []
    for name in TIMED:
        value = raw.get(name)
        if isinstance(value, int | float) and value >= 0:
            found.append(("dozor_browser_web_vital_seconds", (name,), value / 1000.0))
    cls = raw.get("cls")
    if isinstance(cls, int | float) and cls >= 0:
        found.append(("dozor_browser_cumulative_layout_shift", (), float(cls)))
    return found
