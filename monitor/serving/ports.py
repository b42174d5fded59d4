"""The series of the ports a process owns: connections the guard admitted, refused and timed
out (monitor/listener), and the basic-auth logins checked there. The daemon exports them
when it listens on TCP; under --workers the supervisor does (the workers own no port)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor import metric_names as n
from monitor.listener import GuardedSite
from monitor.serving.passwords import PasswordCheck, Verdict


def _counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(name.removesuffix("_total"), doc, labels=labels)


class PortMetrics:
    """A collector read at scrape time; ``ports`` and ``logins`` name what is open now."""

    def __init__(self, ports: Callable[[], Sequence[GuardedSite]],
                 logins: Callable[[], Sequence[PasswordCheck]]) -> None:
        self._ports = ports
        self._logins = logins

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
        for site in self._ports():
            listen = site.address
            stats = site.stats
            opened.add_metric([listen], stats.open)
            refused.add_metric([listen, "max_connections"], stats.refused_total)
            refused.add_metric([listen, "max_per_address"], stats.refused_address)
            timed_out.add_metric([listen], stats.timed_out)
        logins = _counter(n.HTTP_LOGINS_TOTAL, "Basic-auth checks by result: allowed, denied "
                          "(401), limited (429: the address failed too often), busy (503: "
                          "every check slot taken).", ["result"])
        totals = dict.fromkeys(Verdict, 0)
        for check in self._logins():
            if check.enabled:
                for verdict, count in check.verdicts.items():
                    totals[verdict] += count
        if any(check.enabled for check in self._logins()):
            for verdict, count in totals.items():
                logins.add_metric([verdict.value], count)
        yield from (opened, refused, timed_out, logins)
