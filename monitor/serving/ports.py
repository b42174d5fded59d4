"""The TCP ports a process owns and their series: connections the guard admitted, refused and
timed out (monitor/listener), and the basic-auth logins checked there. The daemon owns its
ports; under --workers the supervisor does (the workers own none)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor import metric_names as n
from monitor.listener import ConnectionLimits, GuardedSite, serve
from monitor.serving.app import PASSWORDS
from monitor.serving.passwords import PasswordCheck, Verdict


def _counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(name.removesuffix("_total"), doc, labels=labels)


class Ports:
    """Opens the process's guarded ports, and is the collector of their series."""

    def __init__(self, limits: ConnectionLimits, ssl_context: ssl.SSLContext | None) -> None:
        self.limits = limits
        self.ssl_context = ssl_context
        self.sites: list[GuardedSite] = []
        self._logins: list[PasswordCheck] = []  # the apps' basic-auth checkers

    async def open(self, app: web.Application, host: str, port: int
                   ) -> tuple[web.AppRunner, GuardedSite]:
        """Serve ``app`` on host:port; ``OSError`` if the port cannot be opened."""
        runner, site = await serve(app, host, port, ssl_context=self.ssl_context,
                                   limits=self.limits)
        self.sites.append(site)
        if PASSWORDS in app:
            self._logins.append(app[PASSWORDS])
        return runner, site

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        opened = GaugeMetricFamily(n.HTTP_CONNECTIONS_OPEN, "Open connections on the port.",
                                   labels=["listen"])
        refused = _counter(n.HTTP_CONNECTIONS_REFUSED_TOTAL, "Connections refused at once: "
                           "over the cap in all or per client address.", ["listen", "reason"])
        timed_out = _counter(n.HTTP_CONNECTIONS_TIMED_OUT_TOTAL, "Connections closed because "
                             "their TLS handshake and first request headers took longer than "
                             "the header timeout.", ["listen"])
        for site in self.sites:
            listen = site.address
            stats = site.stats
            opened.add_metric([listen], stats.open)
            refused.add_metric([listen, "max_connections"], stats.refused_total)
            refused.add_metric([listen, "max_per_address"], stats.refused_address)
            timed_out.add_metric([listen], stats.timed_out)
        logins = _counter(n.HTTP_LOGINS_TOTAL, "Basic-auth checks by result: allowed, denied "
                          "(401), limited (429: the address failed too often), busy (503: "
                          "every check slot taken).", ["result"])
        checks = self._logins
        if any(check.enabled for check in checks):
            for verdict in Verdict:
                logins.add_metric([verdict.value], sum(c.verdicts[verdict] for c in checks))
        yield from (opened, refused, timed_out, logins)
