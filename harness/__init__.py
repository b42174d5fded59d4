"""The test and benchmark harness: real local servers and real tools, shared by tests/ and bench/.

- catalog_factory: catalogs built as plain dicts and written as YAML (no files under config/).
- tools: locating promtool/amtool/prometheus and reading an exposition the way they would.
- stack: Prometheus and Alertmanager on free 127.0.0.1 ports, a webhook sink, bounded polls.
- blackbox: the real blackbox_exporter as an oracle, one /probe exposition as a dict.
- target: a small controllable HTTP target on 127.0.0.1 for daemon tests.
- vitals: the daemon's RSS, descriptors, run counts and scheduler lag, read honestly.
- http_zoo: HTTP(S) targets on 127.0.0.1 (aiohttp app, raw server), a name table, trustme PKI.
- tls_zoo: TCP and TLS servers on 127.0.0.1 with certificate chains of every shape.
- dns_zoo: an authoritative DNS server for ``gosuslugi.test.`` on 127.0.0.1 or ::1.
- journey_app: a small e-service (log in, submit, poll) and the journey steps that drive it.
- hostile_zoo: hostile HTTP endpoints (hang, trickle, flood), run in their own process.
"""
