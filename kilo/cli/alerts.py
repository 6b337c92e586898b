"""`python -m kilo alerts run`: evaluate every organization's alert rules and send what is
due (for cron, beside or instead of the server's background runner)."""

from __future__ import annotations

from typing import Any

from kilo import alerts, mail
from kilo.db import migrate


def cmd_run(args: Any) -> int:
    mail.load_secrets_file()
    migrate()
    counts = alerts.run_once()
    print(
        f"{counts['alerts']} new alert(s); deliveries: {counts['sent']} sent, "
        f"{counts['pending']} to retry, {counts['failed']} failed."
    )
    if counts["errors"]:
        print(f"error: evaluating {counts['errors']} organization(s) failed; see the log.")
        return 1
    return 0


def register_cli(subparsers: Any) -> None:
    group = subparsers.add_parser(
        "alerts",
        help="evaluate alert rules and deliver alerts",
        description="Alerts: budgets, limits, balance, runway, spend anomalies and the "
        "weekly summary (see the README's Alerts section).",
    )
    sub = group.add_subparsers(dest="alerts_command", required=True, metavar="SUBCOMMAND")
    p = sub.add_parser(
        "run",
        help="evaluate every organization's rules once and send what is due",
        description="Evaluate every organization's alert rules once, record each new alert "
        "(once per rule, subject, threshold and period), and send the deliveries that are "
        "due, retrying failed ones with backoff. Idempotent: safe from cron while the server "
        "runs its own background runner (KILO_ALERTS_INTERVAL).",
    )
    p.set_defaults(func=cmd_run)
