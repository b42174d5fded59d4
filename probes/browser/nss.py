"""The browser's trust store: a ``ca_file`` becomes an NSS database in the browser's own home.

Chromium on Linux takes extra trusted roots from ``$HOME/.pki/nssdb`` only (it has no
per-context CA option, and Playwright none either), so every browser gets a home of its own,
and a probe with a ``ca_file`` gets a browser whose database trusts exactly that file beside
the built-in roots. ``certutil`` comes from Debian's libnss3-tools.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

_PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class TrustStoreError(Exception):
    """The ca_file cannot be made a trust store; the run fails with reason ``error``."""


async def trust_store_home(home: Path, ca_file: str | None) -> dict[str, str]:
    """The browser's environment, its HOME at ``home``, trusting ``ca_file`` if given."""
    env = {**os.environ, "HOME": str(home)}
    if ca_file is None:
        return env
    try:
        # A small local file, read once per browser launch.
        certificates = _PEM_RE.findall(Path(ca_file).read_bytes())  # noqa: ASYNC240
    except OSError as exc:
        raise TrustStoreError(f"cannot load ca_file {ca_file!r}: {exc.strerror}") from exc
    if not certificates:
        raise TrustStoreError(f"ca_file {ca_file!r} holds no PEM certificate")
    certutil = shutil.which("certutil")
    if certutil is None:
        raise TrustStoreError("ca_file needs certutil (Debian package libnss3-tools)")
    database = home / ".pki" / "nssdb"
    database.mkdir(parents=True)
    await _certutil(certutil, "-N", "-d", f"sql:{database}", "--empty-password")
    for index, pem in enumerate(certificates):
        path = home / f"ca-{index}.pem"
        path.write_bytes(pem + b"\n")
        # C,, : a trusted CA for TLS servers (not for e-mail or code signing).
        await _certutil(certutil, "-A", "-d", f"sql:{database}", "-n", f"dozor-ca-{index}",
                        "-t", "C,,", "-a", "-i", str(path))
    return env


async def _certutil(*argv: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    if process.returncode != 0:
        raise TrustStoreError(f"certutil {argv[1]} failed: "
                              f"{err.decode(errors='replace').strip()[:200]}")
