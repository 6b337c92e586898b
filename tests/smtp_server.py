"""A real SMTP server for tests: aiosmtpd in a thread of this process, on a free port.

    from tests import smtp_server as smtp
    smtp_server = smtp.smtp_server    # the fixture, in a test module or conftest

    def test_x(smtp_server):          # KILO_SMTP_* point at it (security "none")
        ...send...
        msg = smtp_server.wait_for(1)[0]  # email.message.EmailMessage
        smtp_server.link(msg)             # the first http(s) link of its text part

For a dashboard started in a subprocess (browser tests), start `SmtpServer()` yourself and
pass `server.env` to the subprocess' environment. `SmtpServer(tls="starttls" | "ssl")`
serves a self-signed certificate for localhost; `server.env` then also sets SSL_CERT_FILE so
the client trusts it. `SmtpServer(login=("user", "secret"))` requires that login.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import re
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

LINK_RE = re.compile(r"https?://\S+")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost / 127.0.0.1 and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Collector:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, _server, _session, envelope) -> str:  # noqa: ANN001, N802
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.server.lock:
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.server.messages.append(msg)
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on 127.0.0.1:<free port>, keeping every message it receives."""

    def __init__(
        self,
        *,
        tls: str | None = None,
        login: tuple[str, str] | None = None,
        sender: str = "Kilo <noreply@kilo.test>",
    ) -> None:
        self.tls, self.login, self.sender = tls, login, sender
        self.host, self.port = "localhost", free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory(prefix="kilo-smtp-")
        self.cert_file: Path | None = None
        kwargs: dict = {}
        if tls:
            self.cert_file, key_file = _self_signed(Path(self._dir.name))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_file, key_file)
            kwargs["ssl_context" if tls == "ssl" else "tls_context"] = context
        if login:
            kwargs["authenticator"] = self._authenticate
            # aiosmtpd does not count implicit TLS ("ssl") as TLS for AUTH; the client side
            # (kilo.mail) is what these tests check.
            kwargs["auth_require_tls"] = False
        self._controller = Controller(
            _Collector(self), hostname="127.0.0.1", port=self.port, **kwargs
        )

    def _authenticate(self, _server, _session, _envelope, _mechanism, data) -> AuthResult:  # noqa: ANN001
        ok = (
            isinstance(data, LoginPassword)
            and (
                data.login.decode(),
                data.password.decode(),
            )
            == self.login
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
        self._dir.cleanup()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def env(self) -> dict[str, str]:
        """KILO_SMTP_* (and SSL_CERT_FILE with TLS) pointing the dashboard at this server."""
        env = {
            "KILO_SMTP_HOST": self.host,
            "KILO_SMTP_PORT": str(self.port),
            "KILO_SMTP_FROM": self.sender,
            "KILO_SMTP_SECURITY": self.tls or "none",
        }
        if self.login:
            env["KILO_SMTP_USER"], env["KILO_SMTP_PASSWORD"] = self.login
        if self.cert_file:
            env["SSL_CERT_FILE"] = str(self.cert_file)
        return env

    def wait_for(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        """The messages received once there are at least `count` (delivery is synchronous
        for smtplib, but a subprocess sender may still be talking)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")

    @staticmethod
    def text(msg: EmailMessage) -> str:
        return msg.get_body(preferencelist=("plain",)).get_content()

    @staticmethod
    def html(msg: EmailMessage) -> str:
        return msg.get_body(preferencelist=("html",)).get_content()

    @classmethod
    def link(cls, msg: EmailMessage) -> str:
        """The first http(s) link in the plain-text part."""
        match = LINK_RE.search(cls.text(msg))
        assert match, cls.text(msg)
        return match.group(0)


@contextmanager
def configured(server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """Start `server` and point KILO_SMTP_* (and SSL_CERT_FILE) at it until the block ends."""
    for name in ("KILO_SMTP_USER", "KILO_SMTP_PASSWORD"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    with server:
        yield server


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """A running SMTP server (no TLS, no login); KILO_SMTP_* point at it for this test."""
    with configured(SmtpServer(), monkeypatch) as server:
        yield server


@pytest.fixture
def no_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mail not configured, whatever the environment running the tests says."""
    for name in ("HOST", "PORT", "USER", "PASSWORD", "FROM", "SECURITY"):
        # set first, so that variables the test itself sets later are removed afterwards
        monkeypatch.setenv(f"KILO_SMTP_{name}", "")
        monkeypatch.delenv(f"KILO_SMTP_{name}")
