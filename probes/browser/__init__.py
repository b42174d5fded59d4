"""The browser kind: a citizen's steps in a real headless Chromium, with Web Vitals, page
problems, failure artifacts and an optional accessibility audit."""

from probes._kind import KindMetric, KindOption
from probes.browser.probe import probe_browser
from probes.browser.runtime import BrowserRuntime
from probes.browser.spec import BrowserSpec

METRICS = (
    KindMetric("dozor_browser_web_vital_seconds",
               "Last run's Web Vitals of the page the run ended on: lcp, fcp, ttfb, tbt.",
               ("vital",)),
    KindMetric("dozor_browser_cumulative_layout_shift",
               "Last run's cumulative layout shift (largest session window)."),
    KindMetric("dozor_browser_page_problems",
               "Last run's console errors, uncaught page errors and failed requests "
               "(network errors, HTTP 4xx/5xx).", ("problem",)),
    KindMetric("dozor_browser_accessibility_violations",
               "Last audit's violated axe-core rules by impact.", ("impact",)),
    KindMetric("dozor_browser_processes", "Live Chromium processes of this daemon.",
               per_probe=False),
    KindMetric("dozor_browser_memory_bytes",
               "Memory of every Chromium process of this daemon (proportional set size: "
               "shared pages counted once).", per_probe=False),
    KindMetric("dozor_browser_runs_waiting", "Browser runs waiting for a free slot.",
               per_probe=False),
    KindMetric("dozor_browser_launches_total", "Chromium launches.", per_probe=False,
               type="counter"),
    KindMetric("dozor_browser_retired_total",
               "Browsers retired (killed with their whole process tree), by why: recycle "
               "(every N runs), timeout (a run cut by its timeout), crash.",
               ("reason",), per_probe=False, type="counter"),
)

OPTIONS = (
    KindOption("browser-concurrency", "browser runs at once (default: the number of cores)",
               int),
    KindOption("browser-recycle-runs", "restart the browser after this many runs (default 200)",
               int),
    KindOption("browser-executable", "Chromium binary (default: Debian's "
               "chromium-headless-shell, else chromium)"),
)

__all__ = ["METRICS", "OPTIONS", "BrowserRuntime", "BrowserSpec", "probe_browser"]
