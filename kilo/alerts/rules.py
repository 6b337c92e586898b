"""The alert rules: what should fire for an organization now. Each `Fired` carries its
once-only key (rule, subject, threshold, period); `kilo.alerts.evaluate` records it unless it
already fired. Spend comes from the usage rollups in SQL; money is integer micro-dollars.

- **budget**: a monthly budget (organization, team, or a member's monthly limit) whose
  month's spend is at or above a threshold percentage of it (default 50, 80, 100): spent x 100
  >= budget x threshold. Once per budget, threshold (with the budget's amount: a changed
  budget re-arms its thresholds) and calendar month (UTC).
- **daily_limit**: a member whose spend today (UTC) is at or above their daily limit. Once per
  member, limit and day.
- **balance**: the credit balance below the low-balance amount (billing's setting). Once per
  amount and "credit period": the period changes whenever credits are added (a ledger entry
  with a positive amount), so a top-up re-arms it.
- **runway**: the credits last fewer whole days than the setting at the average daily spend
  of the last 30 days (billing's runway). Once per setting and credit period.
- **anomaly**: today's spend (UTC, so far) of the organization, or of one member, is at least
  3 x the median of the 28 UTC days before today (days without usage count as $0) and at
  least the minimum (default $10, so tiny spends never alert). Once per subject and day.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from kilo import budgets, money
from kilo.alerts.settings import RuleSettings
from kilo.billing.ledger import average_daily_spend_micros, balance_micros, runway_days
from kilo.models import Budget, LedgerEntry, Member, UsageDailyMember

ANOMALY_FACTOR = 3
ANOMALY_WINDOW_DAYS = 28


@dataclass(frozen=True)
class Fired:
    rule: str
    subject: str
    threshold: str
    period: str
    title: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.rule}|{self.subject}|{self.threshold}|{self.period}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def budget_alerts(
    session: Session, *, org_id: int, rules: RuleSettings, today: date
) -> list[Fired]:
    out = []
    for b in session.exec(select(Budget).where(Budget.org_id == org_id)).all():
        spent = budgets.month_spent_micros(
            session, org_id=org_id, scope=b.scope, scope_id=b.scope_id, today=today
        )
        label = budgets.describe(
            b.scope, budgets.scope_name(session, org_id=org_id, scope=b.scope, scope_id=b.scope_id)
        )
        for pct in rules.budget_thresholds:
            if spent * 100 < b.amount_micros * pct:
                continue
            out.append(
                Fired(
                    rule="budget",
                    subject=f"{b.scope}:{b.scope_id}",
                    threshold=f"{pct}% of {b.amount_micros}",
                    period=f"{today:%Y-%m}",
                    title=f"{_cap(label)} reached {pct}%",
                    message=f"{_cap(label)}: {money.usd(spent)} of {money.usd(b.amount_micros)} "
                    f"spent in {today:%B %Y} (UTC), {pct}% or more"
                    + (" (hard: requests are refused once it is spent)." if b.hard else "."),
                    details={"budget_id": b.id, "spent_micros": spent, "hard": b.hard},
                )
            )
    return out


def daily_limit_alerts(session: Session, *, org_id: int, today: date) -> list[Fired]:
    d = UsageDailyMember
    rows = session.execute(
        select(Member.id, Member.name, Member.email, Member.daily_spend_limit_micros, d.cost_micros)
        .join(d, (d.member_id == Member.id) & (d.org_id == org_id) & (d.day == today))
        .where(
            Member.org_id == org_id,
            Member.removed_at.is_(None),
            Member.daily_spend_limit_micros.is_not(None),
            Member.daily_spend_limit_micros > 0,
        )
    ).all()
    return [
        Fired(
            rule="daily_limit",
            subject=f"member:{mid}",
            threshold=str(limit),
            period=today.isoformat(),
            title=f"{name} reached their daily limit",
            message=f"{name} <{email}> spent {money.usd(spent)} today ({today}, UTC), at or "
            f"above their daily limit of {money.usd(limit)}: the gateway refuses their "
            "requests until the day ends.",
            details={"member_id": mid, "spent_micros": spent, "limit_micros": limit},
        )
        for mid, name, email, limit, spent in rows
        if spent >= limit
    ]


def _credit_period(session: Session, org_id: int) -> str:
    last = session.execute(
        select(func.max(LedgerEntry.id)).where(
            LedgerEntry.org_id == org_id, LedgerEntry.amount_micros > 0
        )
    ).scalar()
    return f"credits-{last or 0}"


def balance_alerts(
    session: Session, *, org_id: int, rules: RuleSettings, today: date
) -> list[Fired]:
    if rules.low_balance_micros <= 0 and rules.runway_days <= 0:
        return []
    balance = balance_micros(session, org_id=org_id)
    period = _credit_period(session, org_id)
    out = []
    low = rules.low_balance_micros
    if low > 0 and balance < low:
        out.append(
            Fired(
                rule="balance",
                subject="organization",
                threshold=str(low),
                period=period,
                title=f"Credits below {money.usd(low)}",
                message=f"The credit balance is {money.usd(balance)}, below the alert amount "
                f"of {money.usd(low)}. Owners buy credits on the Invoices tab.",
                details={"balance_micros": balance},
            )
        )
    if rules.runway_days > 0:
        daily = average_daily_spend_micros(session, org_id=org_id, today=today)
        days = runway_days(balance, daily)
        if days is not None and days < rules.runway_days:
            out.append(
                Fired(
                    rule="runway",
                    subject="organization",
                    threshold=f"{rules.runway_days}d",
                    period=period,
                    title=f"Credits last fewer than {rules.runway_days} days",
                    message=f"The credit balance of {money.usd(balance)} lasts {days} more "
                    f"day(s) at the recent average of {money.usd(daily)} a day, fewer than "
                    f"the {rules.runway_days} days the alert is set to.",
                    details={"balance_micros": balance, "days": days, "daily_micros": daily},
                )
            )
    return out


def anomaly_threshold(history: list[int]) -> Fraction:
    """3 x the median of the trailing days' spend (the caller fills days without usage
    with 0): a day's spend at or above it (and above the minimum) is an anomaly."""
    return ANOMALY_FACTOR * Fraction(statistics.median(sorted(history)))


def anomaly_alerts(
    session: Session, *, org_id: int, rules: RuleSettings, today: date
) -> list[Fired]:
    if not rules.anomaly_enabled:
        return []
    start = today - timedelta(days=ANOMALY_WINDOW_DAYS)
    d = UsageDailyMember
    rows = session.execute(
        select(d.member_id, d.day, d.cost_micros).where(
            d.org_id == org_id, d.day >= start, d.day <= today
        )
    ).all()
    days = [start + timedelta(days=i) for i in range(ANOMALY_WINDOW_DAYS)]
    org_by_day: dict[date, int] = {}
    by_member: dict[int, dict[date, int]] = {}
    for member_id, day, cost in rows:
        org_by_day[day] = org_by_day.get(day, 0) + cost
        by_member.setdefault(member_id, {})[day] = cost
    series = {"organization": org_by_day} | {f"member:{m}": v for m, v in by_member.items()}
    names = {}
    if by_member:
        names = {
            f"member:{i}": f"{n} <{e}>"
            for i, n, e in session.execute(
                select(Member.id, Member.name, Member.email).where(Member.id.in_(by_member))
            ).all()
        }
    out = []
    for subject, spend in series.items():
        spent_today = spend.get(today, 0)
        if spent_today <= 0 or spent_today < rules.anomaly_min_micros:
            continue
        history = [spend.get(day, 0) for day in days]
        threshold = anomaly_threshold(history)
        if spent_today < threshold:
            continue
        median = Fraction(statistics.median(sorted(history)))
        who = "The organization" if subject == "organization" else names.get(subject, subject)
        out.append(
            Fired(
                rule="anomaly",
                subject=subject,
                threshold=f"{ANOMALY_FACTOR}x",
                period=today.isoformat(),
                title=f"Unusual spend today: {who}",
                message=f"{who} spent {money.usd(spent_today)} today ({today}, UTC so far), "
                f"at least {ANOMALY_FACTOR}x the median day of the previous "
                f"{ANOMALY_WINDOW_DAYS} days ({money.usd(int(median))}).",
                details={"spent_micros": spent_today, "median_micros": int(median)},
            )
        )
    return out


def due_alerts(session: Session, *, org_id: int, rules: RuleSettings, today: date) -> list[Fired]:
    """Every alert the organization's rules call for now (fired before or not)."""
    return [
        *budget_alerts(session, org_id=org_id, rules=rules, today=today),
        *daily_limit_alerts(session, org_id=org_id, today=today),
        *balance_alerts(session, org_id=org_id, rules=rules, today=today),
        *anomaly_alerts(session, org_id=org_id, rules=rules, today=today),
    ]
