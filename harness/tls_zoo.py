"""Real TCP and TLS servers on 127.0.0.1 for stream-probe tests, reusable by other suites
(the blackbox_exporter side-by-side suite probes exactly these servers)::

    with tls_zoo(tmp_path) as zoo:          # sync; fine inside async tests too
        zoo.valid.address                   # "127.0.0.1:PORT"
        zoo.ca_file                         # trusts every zoo certificate but self_signed's
        zoo.not_after["short_intermediate"] # earliest notAfter in that served chain

Servers are threads with blocking sockets, not asyncio: a blocking server sends the TLS alert
when it refuses a handshake (as nginx or OpenSSL would); asyncio's server drops the
connection without it, and clients would see a bare reset. Each connection gets a thread;
closing the zoo shuts every connection down and joins the threads.

Every server but silent/closer/flood/chatter speaks one ESMTP-flavoured line protocol: it
greets with ``BANNER``, echoes each line back, answers ``QUIT`` with ``221 bye`` and closes;
on the plain ``banner`` server ``STARTTLS`` answers ``220 ready`` and upgrades with the
valid certificate. TLS servers handshake first, then speak it over TLS.

Targets:

- ``banner``: plain TCP, the protocol above;
- ``silent``: accepts, sends nothing, reads until the client leaves;
- ``closer``: accepts and closes at once;
- ``flood``: one endless line without a newline (up to ``FLOOD_BYTES``);
- ``chatter``: short lines without end (up to ``FLOOD_BYTES``), none the banner;
- ``valid``: certificate for 127.0.0.1, localhost, ::1 and ``NAME``, issued by the zoo CA;
- ``expired``: like valid, notAfter yesterday;
- ``wrong_host``: valid, but only for ``OTHER_NAME``;
- ``self_signed``: a self-signed leaf for the same names as valid, no CA behind it;
- ``short_intermediate``: leaf (``LONG`` validity) from an intermediate CA that expires in
  ``SHORT``; both served, so the earliest expiry in the chain is the intermediate's;
- ``tls12_max``: valid certificate, TLS 1.2 at most;
- ``tls10_only``: valid certificate, TLS 1.0 only (OpenSSL security level 0).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BANNER = "220 dozor ESMTP"
NAME = "zoo.dozor.test"
OTHER_NAME = "other.dozor.test"
IDENTITIES = ("127.0.0.1", "localhost", "::1", NAME)
SHORT = dt.timedelta(days=10)
LONG = dt.timedelta(days=300)
FLOOD_BYTES = 4 * 1024 * 1024
_IDLE = 10.0  # seconds a connection may sit idle before the server drops it
_POLL = 0.05  # accept-loop poll, so close() is prompt
_MAX_LINE = 64 * 1024


@dataclass(frozen=True)
class Target:
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Zoo:
    ca_file: str
    banner: Target
    silent: Target
    closer: Target
    flood: Target
    chatter: Target
    valid: Target
    expired: Target
    wrong_host: Target
    self_signed: Target
    short_intermediate: Target
    tls12_max: Target
    tls10_only: Target
    # Earliest notAfter in each TLS target's served chain (whole seconds, UTC).
    not_after: Mapping[str, dt.datetime]
    # Each TLS target's server context, to serve the same certificates over another protocol
    # (e.g. an aiohttp HTTPS server).
    contexts: Mapping[str, ssl.SSLContext]


@contextlib.contextmanager
def tls_zoo(directory: Path) -> Iterator[Zoo]:
    """Issue the certificates into ``directory``, start every server, stop them on exit."""
    pki = _Pki(directory)
    contexts = pki.contexts()
    plain: dict[str, _Behaviour] = {
        "banner": _line_protocol, "silent": _silent, "closer": _closer,
        "flood": _flood, "chatter": _chatter,
    }
    servers: dict[str, _Server] = {}
    try:
        for name, behaviour in plain.items():
            servers[name] = _Server(behaviour, None, starttls=contexts["valid"])
        for name, context in contexts.items():
            servers[name] = _Server(_line_protocol, context)
        targets = {name: Target("127.0.0.1", server.port) for name, server in servers.items()}
        yield Zoo(ca_file=pki.ca_file, not_after=pki.not_after, contexts=contexts, **targets)
    finally:
        for server in servers.values():
            server.close()


# --- certificates -------------------------------------------------------------------------


class _Pki:
    """trustme for the plain cases; cryptography where trustme has no knob (an intermediate's
    validity, a self-signed leaf with SANs). Both roots go into one ``ca_file``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.ca = trustme.CA(organization_name="Dozor TLS zoo")
        self.root_key = _new_key()
        self.root = _certificate("Dozor zoo root", self.root_key, None, None,
                                 self.now - dt.timedelta(days=1), self.now + 2 * LONG, ca=True)
        self.ca_file = str(directory / "zoo-ca.pem")
        Path(self.ca_file).write_bytes(
            self.ca.cert_pem.bytes() + self.root.public_bytes(serialization.Encoding.PEM)
        )
        self.not_after: dict[str, dt.datetime] = {}

    def contexts(self) -> dict[str, ssl.SSLContext]:
        day = dt.timedelta(days=1)
        valid_until = self.now + LONG
        contexts = {
            "valid": self._trustme("valid", IDENTITIES, self.now - day, valid_until),
            "expired": self._trustme("expired", IDENTITIES, self.now - 30 * day, self.now - day),
            "wrong_host": self._trustme("wrong_host", (OTHER_NAME,), self.now - day, valid_until),
            "self_signed": self._self_signed(),
            "short_intermediate": self._short_intermediate(),
        }
        tls12 = self._trustme("tls12_max", IDENTITIES, self.now - day, valid_until)
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        contexts["tls12_max"] = tls12
        tls10 = self._trustme("tls10_only", IDENTITIES, self.now - day, valid_until)
        with warnings.catch_warnings():  # "TLSv1 is deprecated": that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            tls10.minimum_version = ssl.TLSVersion.TLSv1
            tls10.maximum_version = ssl.TLSVersion.TLSv1
        tls10.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 speaks TLS 1.0 only at level 0
        contexts["tls10_only"] = tls10
        return contexts

    def _trustme(self, name: str, identities: tuple[str, ...], not_before: dt.datetime,
                 not_after: dt.datetime) -> ssl.SSLContext:
        leaf = self.ca.issue_cert(*identities, not_before=not_before, not_after=not_after)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        leaf.configure_cert(context)
        self.not_after[name] = not_after
        return context

    def _self_signed(self) -> ssl.SSLContext:
        key = _new_key()
        until = self.now + LONG
        cert = _certificate("Dozor zoo self-signed", key, None, None,
                            self.now - dt.timedelta(days=1), until, sans=IDENTITIES)
        self.not_after["self_signed"] = until
        return self._context("self_signed", key, [cert])

    def _short_intermediate(self) -> ssl.SSLContext:
        start = self.now - dt.timedelta(days=1)
        mid_key, leaf_key = _new_key(), _new_key()
        mid = _certificate("Dozor zoo short-lived intermediate", mid_key, self.root,
                           self.root_key, start, self.now + SHORT, ca=True)
        leaf = _certificate("Dozor zoo leaf", leaf_key, mid, mid_key, start, self.now + LONG,
                            sans=IDENTITIES)
        self.not_after["short_intermediate"] = self.now + SHORT
        return self._context("short_intermediate", leaf_key, [leaf, mid])

    def _context(self, name: str, key: ec.EllipticCurvePrivateKey,
                 chain: list[x509.Certificate]) -> ssl.SSLContext:
        cert_path, key_path = self.dir / f"{name}.pem", self.dir / f"{name}.key"
        cert_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert_path), str(key_path))
        return context


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(
    common_name: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey | None, not_before: dt.datetime,
    not_after: dt.datetime, *, ca: bool = False, sans: tuple[str, ...] = (),
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    signer = issuer_key if issuer_key is not None else key
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(s) for s in sans]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _general_name(identity: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(identity))
    except ValueError:
        return x509.DNSName(identity)


# --- servers ------------------------------------------------------------------------------


@dataclass(eq=False)
class _Connection:
    sock: socket.socket

    def upgrade(self, context: ssl.SSLContext) -> None:
        self.sock = context.wrap_socket(self.sock, server_side=True)


_Behaviour = Callable[[_Connection, "ssl.SSLContext | None"], None]


@dataclass(eq=False)
class _Server:
    behaviour: _Behaviour
    tls: ssl.SSLContext | None
    starttls: ssl.SSLContext | None = None
    _listener: socket.socket = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _open: set[_Connection] = field(default_factory=set)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL)
        self.port: int = self._listener.getsockname()[1]
        acceptor = threading.Thread(target=self._accept, name=f"zoo-{self.port}", daemon=True)
        self._threads.append(acceptor)
        acceptor.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(_IDLE)
            worker = threading.Thread(target=self._serve, args=(_Connection(sock),), daemon=True)
            with self._lock:
                self._threads.append(worker)
            worker.start()

    def _serve(self, conn: _Connection) -> None:
        with self._lock:
            self._open.add(conn)
        try:
            if self.tls is not None:
                conn.upgrade(self.tls)  # handshake; a refusal sends the alert and raises
            self.behaviour(conn, self.starttls)
        except (OSError, ValueError):
            pass  # the client left, timed out or failed the handshake: all expected here
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.sock.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)


def _line_protocol(conn: _Connection, starttls: ssl.SSLContext | None) -> None:
    conn.sock.sendall(f"{BANNER}\r\n".encode())
    buffer = b""
    while True:
        while b"\n" not in buffer:
            chunk = conn.sock.recv(4096)
            if not chunk or len(buffer) > _MAX_LINE:
                return
            buffer += chunk
        line, buffer = buffer.split(b"\n", 1)
        command = line.rstrip(b"\r").upper()
        if command == b"QUIT":
            conn.sock.sendall(b"221 bye\r\n")
            return
        if command == b"STARTTLS" and starttls is not None and not isinstance(conn.sock,
                                                                              ssl.SSLSocket):
            conn.sock.sendall(b"220 ready\r\n")
            conn.upgrade(starttls)
            buffer = b""
            continue
        conn.sock.sendall(line + b"\n")


def _silent(conn: _Connection, _: ssl.SSLContext | None) -> None:
    while conn.sock.recv(4096):
        pass


def _closer(_conn: _Connection, _: ssl.SSLContext | None) -> None:
    return None


def _flood(conn: _Connection, _: ssl.SSLContext | None) -> None:
    chunk = b"x" * 65536
    for _sent in range(FLOOD_BYTES // len(chunk)):
        conn.sock.sendall(chunk)


def _chatter(conn: _Connection, _: ssl.SSLContext | None) -> None:
    lines = b"".join(b"250-noise %05d\r\n" % n for n in range(4096))
    for _sent in range(FLOOD_BYTES // len(lines) + 1):
        conn.sock.sendall(lines)
