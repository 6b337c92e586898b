"""kilo.mail against a real SMTP server (aiosmtpd in this process): settings, delivery of
text + HTML, TLS and login, clear errors, header-injection safety, the invitation message."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from kilo import mail
from kilo.__main__ import main
from kilo.errors import ValidationError
from tests import smtp_server as smtp
from tests.smtp_server import SmtpServer, configured, free_port

smtp_server, no_mail = smtp.smtp_server, smtp.no_mail  # fixtures


def test_send_mail_delivers_text_and_html(smtp_server):
    mail.send_mail("ada@example.com", "Hello  there", "Plain body\n", "<p>HTML body</p>")
    (msg,) = smtp_server.wait_for(1)
    assert smtp_server.envelopes == [("noreply@kilo.test", ["ada@example.com"])]
    assert msg["To"] == "ada@example.com" and msg["From"] == "Kilo <noreply@kilo.test>"
    assert msg["Subject"] == "Hello there" and msg["Date"] and msg["Message-ID"]
    assert msg.get_content_type() == "multipart/alternative"
    assert smtp_server.text(msg).strip() == "Plain body"
    assert smtp_server.html(msg).strip() == "<p>HTML body</p>"


def test_text_only_and_non_ascii(smtp_server):
    mail.send_mail("ada@example.com", "Grüße von Zoë", "Straße — ok\n")
    (msg,) = smtp_server.wait_for(1)
    assert msg.get_content_type() == "text/plain"
    assert msg["Subject"] == "Grüße von Zoë" and "Straße — ok" in smtp_server.text(msg)


def test_not_configured_is_a_clear_error(no_mail):
    assert mail.mail_settings() is None and not mail.is_configured()
    with pytest.raises(mail.MailNotConfigured, match="KILO_SMTP_HOST"):
        mail.send_mail("ada@example.com", "Hi", "Body")


@pytest.mark.parametrize(
    "env,message",
    [
        ({"KILO_SMTP_FROM": ""}, "KILO_SMTP_FROM is not set"),
        ({"KILO_SMTP_FROM": "not an address"}, "KILO_SMTP_FROM is"),
        ({"KILO_SMTP_PORT": "smtp"}, "KILO_SMTP_PORT"),
        ({"KILO_SMTP_PORT": "70000"}, "KILO_SMTP_PORT"),
        ({"KILO_SMTP_SECURITY": "tls"}, "KILO_SMTP_SECURITY"),
        ({"KILO_SMTP_PASSWORD": "x"}, "KILO_SMTP_USER is not"),
    ],
)
def test_incomplete_settings_name_the_setting(monkeypatch, no_mail, env, message):
    monkeypatch.setenv("KILO_SMTP_HOST", "mail.example.com")
    monkeypatch.setenv("KILO_SMTP_FROM", "noreply@example.com")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert mail.is_configured()
    with pytest.raises(mail.MailNotConfigured, match=message):
        mail.send_mail("ada@example.com", "Hi", "Body")


def test_settings_defaults(monkeypatch, no_mail):
    monkeypatch.setenv("KILO_SMTP_HOST", " mail.example.com ")
    monkeypatch.setenv("KILO_SMTP_FROM", "Kilo <noreply@example.com>")
    settings = mail.mail_settings()
    assert (settings.host, settings.port, settings.security) == (
        "mail.example.com",
        587,
        "starttls",
    )
    monkeypatch.setenv("KILO_SMTP_SECURITY", "SSL")
    assert (mail.mail_settings().port, mail.mail_settings().security) == (465, "ssl")
    monkeypatch.setenv("KILO_SMTP_USER", "u")
    monkeypatch.setenv("KILO_SMTP_PASSWORD", "hunter22")
    assert "hunter22" not in repr(mail.mail_settings())


@pytest.mark.parametrize(
    "to",
    [
        "",
        "nobody",
        "a@b.com, c@d.com",
        "Ada <ada@example.com>",
        "ada@example.com\r\nBcc: evil@example.com",
        "ada@example.com\nBcc: evil@example.com",
        "x" * 250 + "@example.com",
    ],
)
def test_bad_recipient_is_refused_and_nothing_sent(smtp_server, to):
    with pytest.raises(ValidationError):
        mail.send_mail(to, "Hi", "Body")
    assert smtp_server.messages == []


@pytest.mark.parametrize(
    "subject", ["", "   ", "Hi\r\nBcc: evil@example.com", "Hi\x00there", "x" * 251]
)
def test_bad_subject_is_refused(smtp_server, subject):
    if "\r\n" in subject:  # line breaks fold into spaces: no header can be injected
        mail.send_mail("ada@example.com", subject, "Body")
        (msg,) = smtp_server.wait_for(1)
        assert msg["Subject"] == "Hi Bcc: evil@example.com" and msg["Bcc"] is None
        assert smtp_server.envelopes[0][1] == ["ada@example.com"]
        return
    with pytest.raises(ValidationError, match="subject"):
        mail.send_mail("ada@example.com", subject, "Body")
    assert smtp_server.messages == []


def test_bodies_are_bounded(smtp_server):
    with pytest.raises(ValidationError, match="too long"):
        mail.send_mail("ada@example.com", "Hi", "x" * (mail.MAX_BODY + 1))
    with pytest.raises(ValidationError, match="plain-text body"):
        mail.send_mail("ada@example.com", "Hi", "  ", "<p>only html</p>")
    assert smtp_server.messages == []


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_tls_and_login(monkeypatch, no_mail, tls):
    server = SmtpServer(tls=tls, login=("kilo", "s3cret-pass"))
    with configured(server, monkeypatch):
        mail.send_mail("ada@example.com", "Over TLS", "Body")
        assert len(server.wait_for(1)) == 1
        monkeypatch.setenv("KILO_SMTP_PASSWORD", "wrong")
        with pytest.raises(mail.MailError, match="refused the user name or password"):
            mail.send_mail("ada@example.com", "Over TLS", "Body")
    assert len(server.messages) == 1


def test_untrusted_certificate_is_refused(monkeypatch, no_mail):
    server = SmtpServer(tls="starttls")
    with configured(server, monkeypatch):
        monkeypatch.delenv("SSL_CERT_FILE")
        with pytest.raises(
            mail.MailError, match="secure connection .* failed .self-signed certificate"
        ):
            mail.send_mail("ada@example.com", "Hi", "Body")
    assert server.messages == []


def test_starttls_against_a_server_without_it(smtp_server, monkeypatch):
    monkeypatch.setenv("KILO_SMTP_SECURITY", "starttls")
    with pytest.raises(mail.MailError, match="does not offer STARTTLS"):
        mail.send_mail("ada@example.com", "Hi", "Body")
    assert smtp_server.messages == []


def test_unreachable_server_is_a_clear_error(monkeypatch, no_mail):
    monkeypatch.setenv("KILO_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("KILO_SMTP_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("KILO_SMTP_FROM", "noreply@example.com")
    monkeypatch.setenv("KILO_SMTP_SECURITY", "none")
    with pytest.raises(mail.MailError, match=r"Could not reach the mail server 127\.0\.0\.1"):
        mail.send_mail("ada@example.com", "Hi", "Body")


def test_silent_server_times_out(monkeypatch, no_mail):
    with socket.socket() as silent:  # accepts connections, never says hello
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        monkeypatch.setenv("KILO_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("KILO_SMTP_PORT", str(silent.getsockname()[1]))
        monkeypatch.setenv("KILO_SMTP_FROM", "noreply@example.com")
        monkeypatch.setattr(mail, "TIMEOUT_SECONDS", 0.3)
        with pytest.raises(mail.MailError, match="timed out"):
            mail.send_mail("ada@example.com", "Hi", "Body")


def test_export_to_environ_from_secrets(monkeypatch, no_mail):
    monkeypatch.setenv("KILO_SMTP_PORT", "2525")  # already set: the environment wins
    mail.export_to_environ(
        {
            "auth": {"cookie_key": "x"},
            "smtp": {
                "host": "mail.example.com",
                "port": 587,
                "user": "kilo",
                "password": "pw",
                "from": "noreply@example.com",
                "security": "ssl",
            },
        }
    )
    settings = mail.mail_settings()
    assert (settings.host, settings.port, settings.user, settings.password) == (
        "mail.example.com",
        2525,
        "kilo",
        "pw",
    )
    assert (settings.sender, settings.security) == ("noreply@example.com", "ssl")
    mail.export_to_environ({})  # no section, no secrets file: nothing happens
    mail.export_to_environ(None)


def test_invitation_message_escapes_user_text():
    message = mail.invitation_message(
        org_name="Acme <script>alert(1)</script> & Co",
        inviter='Eve "the admin" <b>',
        role="admin",
        link="https://kilo.example.com/accept_invite?token=abc&x=1",
        expires_at=datetime(2026, 12, 9, 14, 30, tzinfo=UTC),
    )
    assert "<script>" not in message.html and "&lt;script&gt;" in message.html
    assert "<b>" not in message.html and "&quot;the admin&quot;" in message.html
    assert 'href="https://kilo.example.com/accept_invite?token=abc&amp;x=1"' in message.html
    assert "Acme <script>alert(1)</script> & Co" in message.text  # plain text stays as written
    assert "https://kilo.example.com/accept_invite?token=abc&x=1" in message.text
    assert "2026-12-09 14:30 UTC" in message.text and "as admin" in message.text
    assert (
        message.subject
        == 'Eve "the admin" <b> invited you to Acme <script>alert(1)</script> & Co on Kilo for Enterprise'
    )


def test_mail_test_command(smtp_server, capsys):
    assert main(["mail-test", "--to", "ops@example.com"]) == 0
    (msg,) = smtp_server.wait_for(1)
    assert msg["To"] == "ops@example.com" and "test message" in msg["Subject"]
    assert "Sent a test message to ops@example.com" in capsys.readouterr().out


def test_mail_test_command_not_configured(no_mail, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(mail, "load_secrets_file", lambda path=None: None)
    assert main(["mail-test", "--to", "ops@example.com"]) == 2
    assert "error: E-mail is not configured" in capsys.readouterr().err


def test_secrets_file_for_commands(no_mail, tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text('[smtp]\nhost = "mail.example.com"\nfrom = "noreply@example.com"\n')
    mail.load_secrets_file(path)
    assert mail.mail_settings().host == "mail.example.com"
    path.write_text("[smtp\n")
    with pytest.raises(mail.MailNotConfigured, match="could not be read"):
        mail.load_secrets_file(path)
    mail.load_secrets_file(tmp_path / "missing.toml")
