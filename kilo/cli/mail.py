"""`python -m kilo mail-test`: check the SMTP settings with a test message."""

from __future__ import annotations

from typing import Any

from kilo import mail


def register_cli(sub: Any) -> None:
    p = sub.add_parser(
        "mail-test",
        help="send a test e-mail to check the SMTP settings",
        description="Send a short test message through the configured SMTP server "
        "(KILO_SMTP_HOST and the other KILO_SMTP_* settings). Prints what went wrong, "
        "with the setting to fix, when it cannot be sent.",
    )
    p.add_argument("--to", required=True, help="recipient address")
    p.set_defaults(func=cmd_mail_test)


def cmd_mail_test(args: Any) -> int:
    mail.load_secrets_file()
    message = mail.check_message()
    mail.send_mail(args.to, message.subject, message.text, message.html)
    settings = mail.mail_settings()
    print(f"Sent a test message to {args.to} through {settings.host}:{settings.port}.")
    return 0
