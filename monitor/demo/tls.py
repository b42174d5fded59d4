"""The world's own certificate authority and the two server certificates it issues.

Validity is set from the real wall clock, not the world's injected clock: the client that
verifies the chain (the daemon, a test) checks it against real time.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme

NORMAL_VALIDITY = timedelta(days=365)
EXPIRING_VALIDITY = timedelta(days=5)  # inside the usual 7–14-day certificate-expiry alert
_IDENTITIES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServerTls:
    ca_file: Path
    normal: ssl.SSLContext
    expiring: ssl.SSLContext


def issue(directory: Path) -> ServerTls:
    """Create a CA, write its PEM into ``directory``, and server contexts for both listeners."""
    ca = trustme.CA(organization_name="Dozor demo world")
    ca_file = directory / "dozor-demo-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    now = datetime.now(UTC)
    return ServerTls(
        ca_file=ca_file,
        normal=_context(ca, now, now + NORMAL_VALIDITY),
        expiring=_context(ca, now, now + EXPIRING_VALIDITY),
    )


def _context(ca: trustme.CA, now: datetime, not_after: datetime) -> ssl.SSLContext:
    cert = ca.issue_cert(*_IDENTITIES, not_before=now - timedelta(days=1), not_after=not_after)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context
