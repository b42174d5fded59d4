"""The caller's side of every probe (probes._run.run_probe): a probe that raises is a failed
run with reason error and the phases it reached, whoever calls it."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from probes import Phase, ProbeContext, ProbeResult, Reason, run_probe
from probes._run import phase_record


async def _broken(spec: Any, ctx: ProbeContext) -> ProbeResult:
    phase_record().add(Phase.CONNECT, 0.25)  # got this far, then a bug
    raise KeyError("no such field")


async def test_a_raising_probe_is_a_failed_run_with_its_phases(ctx: ProbeContext) -> None:
    seen: list[Exception] = []
    result, _ = await run_probe(_broken, None, ctx, timeout=5, on_raise=seen.append)
    assert (result.success, result.reason) == (False, Reason.ERROR)
    assert result.detail == "probe raised KeyError: 'no such field'"
    assert result.phases == {Phase.CONNECT: 0.25}
    assert [type(e) for e in seen] == [KeyError]


async def test_without_a_handler_the_traceback_is_logged(ctx: ProbeContext) -> None:
    with capture_logs() as logs:
        result, _ = await run_probe(_broken, None, ctx, timeout=5)
    assert result.reason is Reason.ERROR
    [line] = [e for e in logs if e["event"] == "probe raised"]
    assert isinstance(line["exc_info"], KeyError)
