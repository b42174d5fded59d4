"""What the generated Alertmanager config needs beyond the catalog: channels of the SRE duty
desk and regional desks, SMTP, notification timings, escalation delay, target version."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Prometheus/Alertmanager duration syntax, e.g. 30s, 5m, 1h30m.
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


@dataclass(frozen=True, slots=True)
class Timing:
    """Alertmanager's grouping timers for one kind of route."""

    group_wait: str
    group_interval: str
    repeat_interval: str


@dataclass(frozen=True, slots=True)
class AlertmanagerOptions:
    # Where alerts of curators the catalog does not know (or who have no channel) go.
    duty_webhook: str | None = None
    duty_email: str | None = None
    # A regional duty desk's webhook; ``{region}`` is replaced by the region code (RU-SMO).
    # None: no regional copies.
    regional_webhook: str | None = None
    smtp_smarthost: str = "localhost:25"
    smtp_from: str = "dozor@localhost"
    smtp_require_tls: bool = True
    # Alertmanager < 0.26 (Debian bookworm ships 0.25) cannot read the Telegram token from a
    # file, and the token never goes inline: Telegram channels need 0.26 or later.
    alertmanager_version: tuple[int, int] = (0, 25)
    telegram_bot_token_file: str = "/etc/alertmanager/telegram_token"
    # A page still firing this long after it started firing goes to the curator's deputy.
    escalate_after: str = "30m"
    default_timing: Timing = Timing("30s", "5m", "4h")
    page_timing: Timing = Timing("10s", "1m", "1h")
    ticket_timing: Timing = Timing("1m", "10m", "12h")
    # Every receiver with a channel (the duty desk, each reachable curator, each regional desk)
    # delivers only to this one webhook instead, e.g. ``dozor demo``'s console receiver. The
    # route tree is unchanged: who is reachable is still decided by the catalog's channels,
    # and each notification names its receiver. None: the real channels.
    console_webhook: str | None = None

    @property
    def telegram_supported(self) -> bool:
        return self.alertmanager_version >= (0, 26)
