"""``dozor`` command line: check, run, rules, alertmanager, report, status, demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.catalog import Catalog, CatalogError, load_catalog
from monitor.listener.args import add_listener_arguments, limits_from_args
from monitor.runtime.daemon import Daemon, DaemonOptions, dozor_version
from monitor.runtime.kind_args import add_arguments as add_kind_arguments
from monitor.runtime.kind_args import settings_from_args
from monitor.runtime.logs import configure_logging
from monitor.runtime.shard import Shard
from monitor.serving.app import cannot_listen
from monitor.serving.security import WebConfigError, load_web_security

if TYPE_CHECKING:
    from monitor.alertmanager import AlertmanagerOptions

DEMO_CATALOG = Path(__file__).resolve().parent.parent / "config" / "examples" / "demo"


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 127.0.0.1:9247, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _shard(value: str) -> Shard:
    try:
        return Shard.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _workers(value: str) -> int:
    """``auto``: the cores this process may use (affinity mask and CPU quota)."""
    if value == "auto":
        from monitor.supervisor.cores import available_cores

        return available_cores()
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of workers or 'auto', got {value!r}")
    return int(value)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dozor", description="24/7 monitor for e-services")
    p.add_argument("--version", action="version", version=f"dozor {dozor_version()}")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--log-format", choices=["json", "console"], default=None,
                   help="default: console on a terminal, JSON lines otherwise")
    sub = p.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate a catalog and print every error")
    check.add_argument("config", type=Path, help="catalog file or directory of YAML files")

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", type=Path, required=True)
    run.add_argument("--listen", type=_listen, default=("127.0.0.1", 9247),
                     help="HOST:PORT for /metrics (default 127.0.0.1:9247)")
    run.add_argument("--location", default="local", help="name of this vantage point")
    run.add_argument("--grace", type=float, default=10.0,
                     help="seconds in-flight probes may finish on SIGTERM")
    run.add_argument("--web-config", type=Path, default=None,
                     help="YAML enabling TLS and bcrypt basic auth for /metrics")
    run.add_argument("--reload-token-file", type=Path, default=None,
                     help="enables POST /-/reload for 'Authorization: Bearer <token>'")
    run.add_argument("--state-file", type=Path, default=None,
                     help="keep last successes and up/down state here across restarts")
    run.add_argument("--shard", type=_shard, default=Shard(0, 1),
                     help="INDEX/COUNT: probe only this replica's share of the services")
    run.add_argument("--workers", type=_workers, default=None,
                     help="N or 'auto' (one per core): probe in N worker processes under one "
                     "supervisor that serves the merged /metrics (default: one process)")
    add_listener_arguments(run)
    run.add_argument("--worker-timeout", type=float, default=60.0,
                     help="seconds each worker may take to load a catalog on reload "
                     "(default 60); a worker that does not answer fails the reload")
    add_kind_arguments(run)

    rules = sub.add_parser("rules", help="write Prometheus recording and alerting rules")
    rules.add_argument("config", type=Path)
    rules.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    rules.add_argument("--grafana-url", default="http://localhost:3000",
                       help="Grafana base URL for the dashboard link in alert annotations")

    am = sub.add_parser("alertmanager", help="write an Alertmanager config routing to curators")
    am.add_argument("config", type=Path)
    am.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    from monitor.alertmanager.args import add_arguments as add_alertmanager_arguments

    add_alertmanager_arguments(am)

    dash = sub.add_parser("dashboards", help="write the Grafana dashboards (JSON)")
    dash.add_argument("-o", "--output", type=Path, default=Path("grafana/dashboards"),
                      help="directory to write into (default: grafana/dashboards)")

    report = sub.add_parser("report", help="write the monthly 24/7 compliance report")
    from monitor.report.command import add_arguments as add_report_arguments

    add_report_arguments(report)

    status = sub.add_parser("status", help="serve the public 24/7 status page")
    from monitor.status.command import add_arguments as add_status_arguments

    add_status_arguments(status, _listen)

    demo = sub.add_parser("demo", help="run the daemon against a simulated e-service world")
    demo.add_argument("--listen", type=_listen, default=("127.0.0.1", 9247))
    demo.add_argument("--location", default="demo")
    demo.add_argument("--config", type=Path, default=DEMO_CATALOG)
    demo.add_argument("--world-http-port", type=int, default=9250)
    demo.add_argument("--world-https-port", type=int, default=9251)
    demo.add_argument("--world-expiring-port", type=int, default=9252)
    demo.add_argument("--world-dns-port", type=int, default=9253)
    demo.add_argument("--world-smtp-port", type=int, default=9254)
    demo.add_argument("--world-grpc-port", type=int, default=9255)
    # Not Prometheus' and Alertmanager's usual 9090/9093: installing the Debian packages
    # starts their own services there on a systemd machine, and `make run` installs them.
    demo.add_argument("--prometheus-port", type=int, default=9290,
                      help="Prometheus on 127.0.0.1 (default 9290)")
    demo.add_argument("--alertmanager-port", type=int, default=9293,
                      help="Alertmanager on 127.0.0.1 (default 9293)")
    demo.add_argument("--status-port", type=int, default=9248,
                      help="the public status page (default 9248)")
    demo.add_argument("--data-dir", type=Path, default=None,
                      help="keep Prometheus' and Alertmanager's configs, data and logs here "
                      "(default: a temporary directory removed at exit)")
    add_kind_arguments(demo)
    return p


def cmd_check(config: Path) -> int:
    try:
        catalog = load_catalog(config)
    except CatalogError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        print(f"{config}: {len(exc.issues)} error(s)", file=sys.stderr)
        return 1
    probes = sum(len(s.probes) for s in catalog.probed)
    platforms = f"{len(catalog.platforms)} platforms, " if catalog.platforms else ""
    print(f"{config}: ok: {len(catalog.services)} services, {platforms}{probes} probes, "
          f"{len(catalog.curators)} curators, {len(catalog.regions)} regions, "
          f"{len(catalog.life_situations)} life situations")
    return 0


def cmd_generate(config: Path, output: Path | None, render: Callable[[Catalog], str]) -> int:
    """Shared by ``rules`` and ``alertmanager``: load, render deterministically, write."""
    try:
        catalog = load_catalog(config)
    except CatalogError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    text = render(catalog)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    return 0


async def _run(options: DaemonOptions, running: list[Daemon]) -> int:
    daemon = Daemon(options)
    running.append(daemon)  # the log redactor reads the running catalog's secrets from it
    try:
        await daemon.start()
    except CatalogError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        await daemon.stop()
        return 1
    except OSError as exc:  # the port taken, an address not on this machine
        print(cannot_listen(options.host, options.port, exc), file=sys.stderr)
        await daemon.stop()
        return 1
    await daemon.serve_until_signalled()
    return 0


async def _supervise(options: DaemonOptions, workers: int, timeout: float, log_level: str,
                     json: bool | None) -> int:
    from monitor.supervisor import Supervisor, SupervisorOptions, WorkersFailed

    supervisor = Supervisor(SupervisorOptions(options, workers, log_level, json,
                                              worker_timeout=timeout))
    try:
        await supervisor.start()
    except WorkersFailed as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 1
    await supervisor.serve_until_signalled()
    return 0


async def _demo(args: argparse.Namespace, running: list[Daemon]) -> int:
    """The world, the console receiver, Alertmanager and Prometheus, then the daemon in the
    foreground until SIGTERM/Ctrl-C; everything started is stopped in reverse order."""
    from monitor.demo import demo_env, start_world  # the simulator is only for the demo
    from monitor.demo import nightly as demo_nightly
    from monitor.demo import stack as demo_stack
    from monitor.demo.console import console_receiver
    from monitor.status import StatusOptions, start_status

    try:
        catalog = load_catalog(args.config)
    except CatalogError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    with _cancelled_by_signals():
        try:
            async with contextlib.AsyncExitStack() as stack:
                world = await start_world(
                    http_port=args.world_http_port, https_port=args.world_https_port,
                    expiring_port=args.world_expiring_port, dns_port=args.world_dns_port,
                    smtp_port=args.world_smtp_port, grpc_port=args.world_grpc_port)
                stack.push_async_callback(world.close)
                scrape = f"{_local(args.listen[0])}:{args.listen[1]}"
                urls = [("demo world", world.http_url),
                        ("daemon metrics", f"http://{scrape}/metrics")]
                workdir = stack.enter_context(demo_stack.work_directory(args.data_dir))
                console = await stack.enter_async_context(console_receiver(_print_now))
                am = await stack.enter_async_context(demo_stack.alertmanager(
                    workdir, port=args.alertmanager_port, warn=_warn,
                    config=demo_alertmanager_config(catalog, console.url)))
                prom = await stack.enter_async_context(demo_stack.prometheus(
                    workdir, port=args.prometheus_port, scrape=scrape, warn=_warn,
                    rules=demo_rules(catalog), alertmanager=am.address if am else None))
                urls += [("Prometheus", prom.url if prom else "not started (see above)"),
                         ("Alertmanager", am.url if am else "not started (see above)")]
                if prom is not None:
                    try:
                        status = await start_status(StatusOptions(
                            prometheus=prom.url, host=args.listen[0], port=args.status_port,
                            config=args.config, refresh=15, window_refresh=60))
                    except OSError as exc:
                        raise demo_stack.StackError(
                            f"the status page cannot listen on port {args.status_port}: {exc} "
                            "(--status-port)") from None
                    stack.push_async_callback(status.close)
                urls.append(("status page", status.url if prom is not None
                             else "not started (it reads Prometheus)"))
                # The back-office job behind the pension service's heartbeat pings the daemon.
                await stack.enter_async_context(demo_nightly.nightly_job(
                    f"http://{scrape}/ping/{world.heartbeat_token}", _print_now))
                _print_urls(urls, workdir, kept=args.data_dir is not None)
                options = DaemonOptions(config=args.config, host=args.listen[0],
                                        port=args.listen[1], location=args.location,
                                        env={**os.environ, **demo_env(world)},
                                        runtime=settings_from_args(args))
                with _ignoring_signals_after():
                    return await _run(options, running)
        except demo_stack.StackError as exc:
            print(f"dozor demo: {exc}", file=sys.stderr)
            print("dozor demo: other ports: --listen, --world-…-port, --prometheus-port, "
                  "--alertmanager-port, --status-port", file=sys.stderr)
            return 1
        except asyncio.CancelledError:
            print("dozor demo: interrupted while starting; stopped", file=sys.stderr)
            return 1


def demo_rules(catalog: Catalog) -> dict[str, str]:
    """Prometheus rule files of the demo: what `dozor rules` writes, and the escalation group
    the Alertmanager routing relies on (`dozor alertmanager --escalation-rules`)."""
    from monitor.alertmanager import render_escalation_rules
    from monitor.rules import render_rules

    escalation = render_escalation_rules(catalog, demo_alertmanager_options(None))
    return {"rules.yml": render_rules(catalog), "escalation.rules.yml": escalation}


def demo_alertmanager_options(console_url: str | None) -> AlertmanagerOptions:
    """`dozor alertmanager` options for the demo: every receiver, regional desks included,
    delivers to the console receiver; short timers so a notification shows within minutes,
    and pages escalate to the deputy after 10 minutes instead of 30."""
    from monitor.alertmanager import AlertmanagerOptions, Timing

    quick = Timing(group_wait="5s", group_interval="30s", repeat_interval="1h")
    return AlertmanagerOptions(console_webhook=console_url, regional_webhook=console_url,
                               escalate_after="10m", default_timing=quick, page_timing=quick,
                               ticket_timing=quick)


def demo_alertmanager_config(catalog: Catalog, console_url: str) -> str:
    from monitor.alertmanager import render_alertmanager

    return render_alertmanager(catalog, demo_alertmanager_options(console_url))


def _local(host: str) -> str:
    """Where to reach a listener bound to ``host`` from this machine."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _print_now(line: str) -> None:
    print(line, flush=True)


def _warn(message: str) -> None:
    print(f"dozor demo: {message}", file=sys.stderr, flush=True)


def _print_urls(urls: list[tuple[str, str]], workdir: Path, kept: bool) -> None:
    width = max(len(name) for name, _ in urls)
    lines = [f"{name + ':':<{width + 1}} {url}" for name, url in urls]
    where = "kept" if kept else "removed at exit"
    lines.append(f"{'logs, data:':<{width + 1}} {workdir} ({where})")
    lines.append("alert notifications (every curator's, via Alertmanager) are printed below")
    print("\n".join(lines), flush=True)


@contextlib.contextmanager
def _cancelled_by_signals() -> Iterator[None]:
    """While the demo starts or stops its children, SIGTERM and SIGINT cancel the demo's task
    (so every started part is stopped) instead of killing the process and orphaning them."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        yield
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


@contextlib.contextmanager
def _ignoring_signals_after() -> Iterator[None]:
    """Around the daemon, which installs its own SIGTERM/SIGINT handlers (a graceful stop)
    and removes them once stopped: afterwards a further signal is ignored while the children
    are stopped, which takes at most a few seconds."""
    loop = asyncio.get_running_loop()
    try:
        yield
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: None)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    json = None if args.log_format is None else args.log_format == "json"
    running: list[Daemon] = []
    configure_logging(args.log_level, json,
                      secrets=lambda: running[0].secrets if running else frozenset())
    if args.command == "check":
        return cmd_check(args.config)
    if args.command == "run":
        try:
            security = load_web_security(args.web_config, args.reload_token_file)
        except WebConfigError as exc:
            print(exc, file=sys.stderr)
            return 1
        run_options = DaemonOptions(
            config=args.config, host=args.listen[0], port=args.listen[1],
            location=args.location, grace=args.grace, shard=args.shard,
            state_file=args.state_file, security=security, runtime=settings_from_args(args),
            limits=limits_from_args(args))
        if args.workers is not None:
            if args.shard.count != 1:
                print("dozor run: --workers does not combine with --shard: run one replica "
                      "per shard, each with its own --workers", file=sys.stderr)
                return 2
            return asyncio.run(_supervise(run_options, args.workers, args.worker_timeout,
                                          args.log_level, json))
        return asyncio.run(_run(run_options, running))
    if args.command == "rules":
        from monitor.rules import RulesOptions, render_rules

        rules_options = RulesOptions(grafana_url=args.grafana_url)
        return cmd_generate(args.config, args.output, lambda c: render_rules(c, rules_options))
    if args.command == "alertmanager":
        from monitor.alertmanager import render_alertmanager, render_escalation_rules
        from monitor.alertmanager.args import options_from_args

        am_options = options_from_args(args)
        code = cmd_generate(args.config, args.output,
                            lambda c: render_alertmanager(c, am_options))
        if code == 0 and args.escalation_rules is not None:
            code = cmd_generate(args.config, args.escalation_rules,
                                lambda c: render_escalation_rules(c, am_options))
        return code
    if args.command == "dashboards":
        from monitor.dashboards import write_dashboards

        for path in write_dashboards(args.output):
            print(path)
        return 0
    if args.command == "report":
        from monitor.report.command import run_report

        return run_report(args)
    if args.command == "status":
        from monitor.status.command import run_status

        return run_status(args)
    if args.command == "demo":
        return asyncio.run(_demo(args, running))
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
