"""The weekly summary: the past 7 days' spend, top teams, top models, budget status and the
spend anomalies of the week, e-mailed to each owner and admin who opted in (Account page).

It goes out once per ISO week per member, by the same once-only alert key as every alert
(rule `weekly_summary`, subject the member, period the ISO week, e.g. 2026-W49): the first
evaluation run of the week records it with one e-mail delivery to the member's address. The
7 days are the UTC days before the run's day. Team figures are left out while per-member
analytics are off (a team's spend is its members' sums).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from kilo import audit, budgets, money
from kilo.alerts.evaluate import record_alert
from kilo.alerts.rules import Fired
from kilo.models import (
    Alert,
    Budget,
    Member,
    Organization,
    Team,
    UsageDailyMember,
    UsageDailyModel,
)
from kilo.permissions import Actor, ensure_allowed
from kilo.rollups.query import total_cost_micros

TOP = 5


def get_weekly_summary(session: Session, *, actor: Actor) -> bool:
    """Whether the actor (an owner or admin) gets the weekly summary."""
    ensure_allowed(actor, "alerts.manage")
    member = session.get(Member, actor.id) if actor.id is not None else None
    return bool(member and member.org_id == actor.org_id and member.weekly_summary)


def set_weekly_summary(session: Session, *, actor: Actor, enabled: bool) -> None:
    """An owner or admin opts in to (or out of) the weekly summary e-mail."""
    ensure_allowed(actor, "alerts.manage")
    member = session.get(Member, actor.id) if actor.id is not None else None
    if member is None or member.org_id != actor.org_id:
        return
    if member.weekly_summary == bool(enabled):
        return
    member.weekly_summary = bool(enabled)
    session.add(member)
    audit.record(
        session,
        actor=actor,
        action="alerts.summary.change",
        target=member.email,
        message=f"Weekly summary e-mail {'on' if enabled else 'off'} for {member.email}",
        details={"member_id": member.id, "enabled": bool(enabled)},
    )


def summary_text(session: Session, *, org_id: int, today: date) -> str:
    """The summary of the 7 UTC days before `today`, as plain text."""
    start, end = today - timedelta(days=7), today - timedelta(days=1)
    org = session.get(Organization, org_id)
    lines = [f"{org.name}: the week {start} to {end} (UTC)", ""]
    lines.append(
        f"Spend: {money.usd(total_cost_micros(session, org_id=org_id, start=start, end=end))}"
    )
    if org.usage_analytics_enabled:
        d = UsageDailyMember
        cost = func.sum(d.cost_micros)
        teams = session.execute(
            select(func.coalesce(Team.name, "No team"), cost)
            .select_from(d)
            .join(Member, Member.id == d.member_id)
            .outerjoin(Team, Team.id == Member.team_id)
            .where(d.org_id == org_id, d.day >= start, d.day <= end)
            .group_by(Team.name)
            .order_by(cost.desc())
            .limit(TOP)
        ).all()
        lines += ["", "Top teams:"] + [f"  {n}: {money.usd(int(c))}" for n, c in teams]
        if not teams:
            lines.append("  no usage")
    m = UsageDailyModel
    mcost = func.sum(m.cost_micros)
    models = session.execute(
        select(m.model_id, mcost)
        .where(m.org_id == org_id, m.day >= start, m.day <= end)
        .group_by(m.model_id)
        .order_by(mcost.desc())
        .limit(TOP)
    ).all()
    lines += ["", "Top models:"] + [f"  {n}: {money.usd(int(c))}" for n, c in models]
    if not models:
        lines.append("  no usage")
    lines += ["", f"Budgets ({today:%B %Y} so far):"]
    rows = session.exec(select(Budget).where(Budget.org_id == org_id)).all()
    for b in rows:
        if b.scope != "organization" and not org.usage_analytics_enabled:
            continue
        spent = budgets.month_spent_micros(
            session, org_id=org_id, scope=b.scope, scope_id=b.scope_id, today=today
        )
        name = budgets.scope_name(session, org_id=org_id, scope=b.scope, scope_id=b.scope_id)
        lines.append(
            f"  {budgets.describe(b.scope, name)}: {money.usd(spent)} of "
            f"{money.usd(b.amount_micros)} ({spent * 100 // b.amount_micros}%)"
        )
    if not rows:
        lines.append("  no budgets")
    anomalies = session.exec(
        select(Alert.title).where(
            Alert.org_id == org_id,
            Alert.rule == "anomaly",
            Alert.period >= start.isoformat(),
            Alert.period <= end.isoformat(),
        )
    ).all()
    lines += ["", "Spend anomalies:"] + [f"  {t}" for t in anomalies]
    if not anomalies:
        lines.append("  none")
    return "\n".join(lines)


def weekly_summaries(session: Session, *, org_id: int, now: datetime) -> list[Alert]:
    """Record this ISO week's summary for each opted-in owner and admin who has none yet."""
    readers = session.exec(
        select(Member).where(
            Member.org_id == org_id,
            Member.weekly_summary.is_(True),
            Member.removed_at.is_(None),
            Member.role.in_(("owner", "admin")),
        )
    ).all()
    if not readers:
        return []
    today = now.date()
    year, week, _ = today.isocalendar()
    period = f"{year}-W{week:02d}"
    done = set(
        session.exec(
            select(Alert.subject).where(
                Alert.org_id == org_id, Alert.rule == "weekly_summary", Alert.period == period
            )
        ).all()
    )
    readers = [m for m in readers if f"member:{m.id}" not in done]
    if not readers:  # the usual case: this week's summaries went out already
        return []
    text = summary_text(session, org_id=org_id, today=today)
    out = []
    for member in readers:
        fired = Fired(
            rule="weekly_summary",
            subject=f"member:{member.id}",
            threshold="-",
            period=period,
            title=f"Kilo weekly summary, {period}",
            message=f"The weekly summary e-mailed to {member.email}.",
            details={"text": text, "member_id": member.id},
        )
        alert = record_alert(
            session, org_id=org_id, fired=fired, now=now, recipients=[(None, "email", member.email)]
        )
        if alert is not None:
            out.append(alert)
    return out
