"""TLS pieces shared by every probe that speaks TLS: the catalog's ``TlsOptions``, client
contexts for HTTP and stream probes, names of protocol versions, the earliest expiry in the
chain a server served, and failure details.

"Served chain" is what the server sent (leaf first, then whatever intermediates it chose to
send), as blackbox_exporter's ``probe_ssl_earliest_cert_expiry`` reads it: an intermediate
that expires before the leaf is exactly what an expiry alert must catch.
"""

from __future__ import annotations

import re
import ssl
import warnings
from functools import lru_cache
from typing import Any, Literal

from cryptography import x509
from pydantic import Field

from probes._result import ProbeResult, Reason
from probes._spec import StrictModel

TlsVersionName = Literal["TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3"]
VERSION_ORDER: tuple[TlsVersionName, ...] = ("TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3")
_FLOOR: dict[TlsVersionName, ssl.TLSVersion] = {
    "TLS1.0": ssl.TLSVersion.TLSv1,
    "TLS1.1": ssl.TLSVersion.TLSv1_1,
}
# ssl.SSLObject.version() spellings.
_OPENSSL_NAMES: dict[str, TlsVersionName] = {
    "TLSv1": "TLS1.0", "TLSv1.1": "TLS1.1", "TLSv1.2": "TLS1.2", "TLSv1.3": "TLS1.3",
}
_ENCODING_DER = 2  # _ssl.ENCODING_DER, for the private Certificate.public_bytes of 3.10-3.12


def version_name(ssl_object: ssl.SSLObject) -> str:
    """The negotiated version as catalogs spell it (``TLS1.3``), or OpenSSL's word for an
    older one (``SSLv3``)."""
    raw = ssl_object.version() or "unknown"
    return _OPENSSL_NAMES.get(raw, raw)


def below(negotiated: str, minimum: TlsVersionName) -> bool:
    """Whether ``negotiated`` (a :func:`version_name`) is older than ``minimum``."""
    if negotiated not in VERSION_ORDER:
        return True  # SSLv3 and the like
    return VERSION_ORDER.index(negotiated) < VERSION_ORDER.index(minimum)


def new_client_context(ca_file: str | None, insecure_skip_verify: bool) -> ssl.SSLContext:
    """A fresh client context: verifying against ``ca_file`` (else the system store), or
    accepting any certificate. Uncached: callers cache the finished context, never this one.
    Raises OSError / ssl.SSLError if ``ca_file`` cannot be loaded."""
    if insecure_skip_verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=ca_file)


@lru_cache(maxsize=64)
def stream_ssl_context(
    ca_file: str | None, insecure_skip_verify: bool, min_version: TlsVersionName | None = None
) -> ssl.SSLContext:
    """One context per distinct setting (building one reads the trust store from disk).

    Without ``min_version`` the client offers what Python and OpenSSL allow by default
    (TLS 1.2 and 1.3 here). ``min_version`` TLS1.2/TLS1.3 keeps that offer, so a server
    stuck at an older version still completes the handshake and the probe can say which
    version it negotiated; the probe then compares. TLS1.0/TLS1.1 widen the offer, and
    because OpenSSL 3 only speaks them at security level 0, that level is set too: asking
    for them is the catalog author's explicit acceptance of old servers.

    Raises OSError / ssl.SSLError if ``ca_file`` cannot be loaded (not cached, so a fixed
    file is picked up on the next run)."""
    context = new_client_context(ca_file, insecure_skip_verify)
    floor = _FLOOR.get(min_version) if min_version is not None else None
    if floor is not None:
        with warnings.catch_warnings():  # "TLSv1 is deprecated": we know, it is asked for
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = floor
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def served_chain(ssl_object: ssl.SSLObject) -> list[bytes]:
    """DER certificates the server sent, leaf first. Python 3.13 has a public
    ``get_unverified_chain``; 3.10-3.12 only the private ``_sslobj`` one. Falls back to the
    leaf alone, which ``getpeercert`` gives even when verification was skipped."""
    public = getattr(ssl_object, "get_unverified_chain", None)
    if public is not None:
        chain = [bytes(der) for der in public() or ()]
    else:
        private: Any = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
        chain = [cert.public_bytes(_ENCODING_DER) for cert in private() or ()] if private else []
    if not chain:
        leaf = ssl_object.getpeercert(binary_form=True)
        chain = [leaf] if leaf else []
    return chain


def earliest_expiry(ssl_object: ssl.SSLObject) -> float | None:
    """Earliest notAfter (unix seconds) in the served chain; None without a peer certificate."""
    expiries = [
        x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
        for der in served_chain(ssl_object)
    ]
    return min(expiries, default=None)


_VERSION_REFUSALS = frozenset({
    "TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE",
    "WRONG_SSL_VERSION", "TLSV1_ALERT_INSUFFICIENT_SECURITY",
})
_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)$")


def handshake_failure(exc: BaseException, context: ssl.SSLContext) -> str:
    """Why a handshake failed, in words an operator can act on."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not accepted: {exc.verify_message or exc.reason or exc}"
    if isinstance(exc, ssl.SSLError):
        text = _SSL_SOURCE.sub("", str(exc)) or str(exc.reason)
        if exc.reason in _VERSION_REFUSALS:
            text += f"; no protocol version in common (this client offered {_offer(context)})"
        return f"handshake failed: {text}"
    if isinstance(exc, ConnectionError | EOFError):
        return f"connection closed during the handshake ({type(exc).__name__})"
    return f"handshake failed: {type(exc).__name__}: {exc}"


def _offer(context: ssl.SSLContext) -> str:
    floor = context.minimum_version
    names = {v: k for k, v in _FLOOR.items()} | {
        ssl.TLSVersion.TLSv1_2: "TLS1.2", ssl.TLSVersion.TLSv1_3: "TLS1.3",
    }
    if floor in names:
        return f"{names[floor]} and newer"
    return "the library's default versions"


class TlsOptions(StrictModel):
    """How an HTTPS target is verified. Defaults verify against the system trust store."""

    ca_file: str | None = Field(None, description="PEM bundle to trust instead of the system store")
    insecure_skip_verify: bool = Field(False, description="accept any certificate (not advised)")
    server_name: str | None = Field(
        None, description="SNI and hostname to verify, if not the URL's"
    )


# What an absent tls_config means to the stream kinds; built once (a frozen model), not on
# every run.
SYSTEM_TRUST = TlsOptions()


@lru_cache(maxsize=64)
def client_ssl_context(
    ca_file: str | None, insecure_skip_verify: bool, alpn: tuple[str, ...] = ("http/1.1",)
) -> ssl.SSLContext:
    """One context per distinct trust setting and ALPN offer (building one reads the trust
    store from disk). A changed ``ca_file`` on disk is picked up on restart. Raises OSError /
    ssl.SSLError if ``ca_file`` cannot be loaded (not cached, so a fixed file is picked up on
    the next run)."""
    context = new_client_context(ca_file, insecure_skip_verify)
    context.set_alpn_protocols(list(alpn))
    return context


def ca_file_problem(field: str, ca_file: str | None, exc: OSError) -> str:
    """The detail of a run whose ``<field>.ca_file`` (the catalog's field) cannot be loaded."""
    name = f"{field}.ca_file" if field else "ca_file"  # the tls kind has it at its top level
    return f"cannot load {name} {ca_file!r}: {exc}"


def tls_context(
    tls: TlsOptions, field: str = "tls", alpn: tuple[str, ...] = ("http/1.1",)
) -> ssl.SSLContext | ProbeResult:
    """The (cached) client context for ``tls`` offering ``alpn``, or the failed result of a
    run whose ca_file cannot be loaded; ``field`` names the catalog field in that detail."""
    try:
        return client_ssl_context(tls.ca_file, tls.insecure_skip_verify, alpn)
    except OSError as exc:  # ssl.SSLError included
        return ProbeResult.fail(Reason.ERROR, ca_file_problem(field, tls.ca_file, exc))
