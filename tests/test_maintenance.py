"""Maintenance windows: each form, in the region's local time, and as exported by the daemon."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import generate_latest
from structlog.testing import capture_logs

from harness.catalog_factory import catalog_dict, write_catalog
from monitor.catalog import CatalogError, load_catalog
from monitor.catalog.model import Maintenance
from monitor.localtime.maintenance import is_active
from monitor.runtime.daemon import Daemon, DaemonOptions

UTC = dt.UTC
VLAD = "Asia/Vladivostok"  # UTC+10


@pytest.mark.parametrize(
    ("window", "at_utc", "tz", "active"),
    [
        # one-off, local time: 2026-12-01 02:00–04:00 in Vladivostok = 11-30 16:00–18:00 UTC
        ({"start": "2026-12-01T02:00", "end": "2026-12-01T04:00"},
         dt.datetime(2026, 11, 30, 16, 30, tzinfo=UTC), VLAD, True),
        ({"start": "2026-12-01T02:00", "end": "2026-12-01T04:00"},
         dt.datetime(2026, 12, 1, 2, 30, tzinfo=UTC), VLAD, False),  # 12:30 local
        ({"start": "2026-12-01T02:00", "end": "2026-12-01T04:00"},
         dt.datetime(2026, 11, 30, 18, 0, tzinfo=UTC), VLAD, False),  # end is exclusive
        # weekly, Sundays 01:00–03:00 Moscow; 2026-11-29 is a Sunday
        ({"weekdays": ["sun"], "from": "01:00", "to": "03:00"},
         dt.datetime(2026, 11, 28, 23, 0, tzinfo=UTC), "Europe/Moscow", True),  # Sun 02:00
        ({"weekdays": ["sun"], "from": "01:00", "to": "03:00"},
         dt.datetime(2026, 11, 27, 23, 0, tzinfo=UTC), "Europe/Moscow", False),  # Sat 02:00
        # weekly across midnight: Saturday 23:00 – Sunday 02:00; Sunday 01:00 belongs to it
        ({"weekdays": ["sat"], "from": "23:00", "to": "02:00"},
         dt.datetime(2026, 11, 28, 22, 0, tzinfo=UTC), "Europe/Moscow", True),  # Sun 01:00
        ({"weekdays": ["sat"], "from": "23:00", "to": "02:00"},
         dt.datetime(2026, 11, 29, 22, 0, tzinfo=UTC), "Europe/Moscow", False),  # Mon 01:00
        # every day when no weekdays are given
        ({"from": "03:00", "to": "04:00"},
         dt.datetime(2026, 11, 25, 17, 30, tzinfo=UTC), VLAD, True),  # 03:30 local
        # cron: every day at 02:00 local for 90 minutes
        ({"cron": "0 2 * * *", "duration": "90m"},
         dt.datetime(2026, 11, 24, 17, 15, tzinfo=UTC), VLAD, True),  # 03:15 local
        ({"cron": "0 2 * * *", "duration": "90m"},
         dt.datetime(2026, 11, 24, 17, 45, tzinfo=UTC), VLAD, False),  # 03:45 local
    ],
)
def test_window_forms_in_local_time(
    window: dict[str, Any], at_utc: dt.datetime, tz: str, active: bool
) -> None:
    assert is_active(Maintenance.model_validate(window), at_utc, tz) is active


@pytest.mark.parametrize(
    ("window", "fragment"),
    [
        ({"start": "2026-12-01T02:00", "end": "2026-12-01T04:00", "cron": "0 2 * * *",
          "duration": "1h"}, "exactly one form"),
        ({"start": "2026-12-01T04:00", "end": "2026-12-01T02:00"}, "start before end"),
        ({"weekdays": ["sun"], "from": "01:00"}, "different 'from' and 'to'"),
        ({"cron": "61 2 * * *", "duration": "1h"}, "not a five-field cron"),
        ({"cron": "0 2 * * *"}, "both cron and duration"),
        ({"weekdays": ["sunday"], "from": "01:00", "to": "02:00"}, "weekdays"),
    ],
)
def test_bad_windows_are_reported_with_file_and_line(
    tmp_path: Path, window: dict[str, Any], fragment: str
) -> None:
    data = catalog_dict(["http://127.0.0.1:1/"])
    data["services"][0]["maintenance"] = [window]
    cfg = write_catalog(tmp_path / "c.yaml", data)
    with pytest.raises(CatalogError) as caught:
        load_catalog(cfg, env={})
    text = str(caught.value)
    assert fragment in text
    assert "c.yaml:" in text and "maintenance" in text


async def test_daemon_exports_and_logs_active_maintenance(tmp_path: Path) -> None:
    now = dt.datetime.now(ZoneInfo(VLAD)).replace(tzinfo=None, microsecond=0)
    data = catalog_dict(["http://127.0.0.1:1/a", "http://127.0.0.1:1/b"])
    # svc-00001 is in RU-KHA (Vladivostok): a window around now, in local time
    data["services"][1]["maintenance"] = [{
        "reason": "плановые работы", "announced": True,
        "start": (now - dt.timedelta(hours=1)).isoformat(),
        "end": (now + dt.timedelta(hours=1)).isoformat(),
    }]
    # svc-00000 has a window that is over
    data["services"][0]["maintenance"] = [{
        "start": "2020-01-01T00:00", "end": "2020-01-01T01:00"}]
    # svc-00002 (RU-SMO, Moscow) is in an unannounced window: logged, but not excusable
    msk = dt.datetime.now(ZoneInfo("Europe/Moscow")).replace(tzinfo=None, microsecond=0)
    data["services"].append({**data["services"][0], "id": "svc-00002", "maintenance": [{
        "announced": False, "start": (msk - dt.timedelta(hours=1)).isoformat(),
        "end": (msk + dt.timedelta(hours=1)).isoformat()}]})
    cfg = write_catalog(tmp_path / "c.yaml", data)
    daemon = Daemon(DaemonOptions(config=cfg, port=0))
    with capture_logs() as logs:
        await daemon.start()
        await daemon.stop()
    body = generate_latest(daemon.metrics.registry).decode()
    assert 'dozor_maintenance_active{service="svc-00001"} 1.0' in body
    assert 'dozor_maintenance_active{service="svc-00000"} 0.0' in body
    assert 'dozor_maintenance_active{service="svc-00002"} 0.0' in body
    started = [e for e in logs if e["event"] == "maintenance started"]
    assert sorted((e["service"], e["reason"], e["announced"]) for e in started) == [
        ("svc-00001", "плановые работы", True), ("svc-00002", "", False)]
