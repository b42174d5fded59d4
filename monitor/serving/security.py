"""Securing the daemon's HTTP surface, in the spirit of Prometheus exporter-toolkit.

A web config file (``--web-config``) may enable TLS and basic auth for ``/metrics``::

    tls_server_config: {cert_file: /etc/dozor/tls.crt, key_file: /etc/dozor/tls.key}
    basic_auth_users: {prometheus: "$2b$12$..."}   # bcrypt hashes only, never plain text

``/-/reload`` is off unless a reload token file (``--reload-token-file``) is given; then it
needs ``Authorization: Bearer <token>``. ``/healthz`` stays open: it says nothing but "ok".
Passwords are checked off the event loop, bounded and rate-limited: see passwords.py.
"""

from __future__ import annotations

import hmac
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.serving.passwords import PasswordCheck, PasswordLimits, bcrypt_cost, dummy_hash


class WebConfigError(Exception):
    """The web config or token file is unusable; the message names the file and the fix."""


class _Tls(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cert_file: Path
    key_file: Path


class _WebConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tls_server_config: _Tls | None = None
    basic_auth_users: dict[str, str] = Field(default_factory=dict)

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_only(cls, users: dict[str, str]) -> dict[str, str]:
        for user, hashed in users.items():
            if not hashed.startswith(("$2a$", "$2b$", "$2y$")) or not _has_cost(hashed):
                raise ValueError(f"user {user!r}: expected a bcrypt hash ($2b$...), "
                                 "not a plain password; make one with `htpasswd -nBC 12 USER`")
        return users


@dataclass(frozen=True)
class WebSecurity:
    ssl_context: ssl.SSLContext | None = None
    users: dict[str, bytes] | None = None  # user -> bcrypt hash
    reload_token: str | None = None
    # What an unknown user's password is checked against: the dearest configured cost.
    dummy_hash: bytes = field(init=False, repr=False, default=b"")

    def __post_init__(self) -> None:
        if self.users:
            object.__setattr__(self, "dummy_hash", dummy_hash(self.users))

    def password_check(self, limits: PasswordLimits | None = None) -> PasswordCheck:
        """A checker for one listener (its own pool, rate limits and remembered logins)."""
        return PasswordCheck(self.users or {}, self.dummy_hash, limits)

    def check_token(self, header: str | None) -> bool:
        if self.reload_token is None or header is None or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[7:].encode(), self.reload_token.encode())


def _has_cost(hashed: str) -> bool:
    try:
        return 4 <= bcrypt_cost(hashed.encode()) <= 31
    except ValueError:
        return False


def load_web_security(web_config: Path | None, reload_token_file: Path | None) -> WebSecurity:
    token = _read_token(reload_token_file) if reload_token_file else None
    if web_config is None:
        return WebSecurity(reload_token=token)
    try:
        raw = yaml.safe_load(web_config.read_text(encoding="utf-8")) or {}
        parsed = _WebConfigFile.model_validate(raw)
    except OSError as exc:
        raise WebConfigError(f"{web_config}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise WebConfigError(f"{web_config}: invalid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise WebConfigError(f"{web_config}: {problems}") from None
    context = None
    if parsed.tls_server_config is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(parsed.tls_server_config.cert_file,
                                    parsed.tls_server_config.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(f"{web_config}: tls_server_config: cannot load the certificate "
                                 f"or key: {exc}") from None
    users = {u: h.encode() for u, h in parsed.basic_auth_users.items()} or None
    return WebSecurity(ssl_context=context, users=users, reload_token=token)


def _read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise WebConfigError(f"{path}: cannot read the reload token: {exc.strerror}") from None
    if len(token) < 16:
        raise WebConfigError(f"{path}: the reload token must be at least 16 characters")
    return token
