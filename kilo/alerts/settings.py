"""An organization's alert rules: budget thresholds, the runway alert, the spend-anomaly
alert. Owners and admins change them (`alerts.manage`), audited in the same transaction.

The balance rule has no setting of its own: it uses the low-balance amount owners set on the
Invoices tab (`Organization.low_balance_alert_micros`, `kilo.billing.set_low_balance_alert`),
the same amount behind the warning every page shows, so there is one mechanism.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from kilo import audit, money
from kilo.errors import ValidationError
from kilo.models import AlertSettings, Organization, utcnow
from kilo.permissions import Actor, ensure_allowed

DEFAULT_THRESHOLDS = (50, 80, 100)
DEFAULT_ANOMALY_MIN_MICROS = 10 * money.MICROS_PER_DOLLAR
MAX_THRESHOLDS = 5
MAX_RUNWAY_DAYS = 365
MAX_ANOMALY_MIN_MICROS = 1_000_000 * money.MICROS_PER_DOLLAR


@dataclass(frozen=True)
class RuleSettings:
    budget_thresholds: tuple[int, ...]  # percent of a budget, ascending
    runway_days: int  # alert when the credits last fewer days than this; 0: off
    anomaly_enabled: bool
    anomaly_min_micros: int  # no anomaly alert for a day's spend below this
    low_balance_micros: int  # alert when the balance is below this; 0: off (billing's)


def settings_for(session: Session, org_id: int) -> RuleSettings:
    """The organization's rules (the defaults where it never changed them)."""
    row = session.get(AlertSettings, org_id)
    org = session.get(Organization, org_id)
    low = org.low_balance_alert_micros if org else 0
    if row is None:
        return RuleSettings(DEFAULT_THRESHOLDS, 0, True, DEFAULT_ANOMALY_MIN_MICROS, low)
    return RuleSettings(
        tuple(sorted(int(t) for t in row.budget_thresholds)),
        row.runway_days,
        row.anomaly_enabled,
        row.anomaly_min_micros,
        low,
    )


def get_settings(session: Session, *, actor: Actor) -> RuleSettings:
    ensure_allowed(actor, "alerts.manage")
    return settings_for(session, actor.org_id)


def parse_thresholds(text: str) -> tuple[int, ...]:
    """ "50, 80, 100" -> (50, 80, 100), or ValidationError naming what is wrong."""
    parts = [p.strip().rstrip("%").strip() for p in str(text).replace(";", ",").split(",")]
    parts = [p for p in parts if p]
    if not parts:
        raise ValidationError("Give at least one budget threshold, e.g. 50, 80, 100.")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValidationError(
            "Budget thresholds are whole percentages separated by commas, e.g. 50, 80, 100."
        ) from None
    return check_thresholds(values)


def check_thresholds(values: object) -> tuple[int, ...]:
    if not isinstance(values, list | tuple) or not values:
        raise ValidationError("Give at least one budget threshold, e.g. 50, 80, 100.")
    if len(values) > MAX_THRESHOLDS:
        raise ValidationError(f"At most {MAX_THRESHOLDS} budget thresholds.")
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 1000:
            raise ValidationError("Each budget threshold is a whole percentage from 1 to 1000.")
    if len(set(values)) != len(values):
        raise ValidationError("Each budget threshold once only.")
    return tuple(sorted(values))


def update_settings(
    session: Session,
    *,
    actor: Actor,
    budget_thresholds: tuple[int, ...] | list[int],
    runway_days: int,
    anomaly_enabled: bool,
    anomaly_min_micros: int,
) -> RuleSettings:
    """Change the organization's alert rules."""
    ensure_allowed(actor, "alerts.manage")
    thresholds = check_thresholds(list(budget_thresholds))
    if not isinstance(runway_days, int) or not 0 <= runway_days <= MAX_RUNWAY_DAYS:
        raise ValidationError(f"Runway days must be from 0 (off) to {MAX_RUNWAY_DAYS}.")
    if (
        not isinstance(anomaly_min_micros, int)
        or not 0 <= anomaly_min_micros <= MAX_ANOMALY_MIN_MICROS
    ):
        raise ValidationError(
            f"The anomaly minimum must be from $0 to {money.usd(MAX_ANOMALY_MIN_MICROS)}."
        )
    before = settings_for(session, actor.org_id)
    row = session.get(AlertSettings, actor.org_id) or AlertSettings(org_id=actor.org_id)
    row.budget_thresholds = list(thresholds)
    row.runway_days = runway_days
    row.anomaly_enabled = bool(anomaly_enabled)
    row.anomaly_min_micros = anomaly_min_micros
    row.updated_at = utcnow()
    session.add(row)
    after = settings_for(session, actor.org_id)
    names = ("budget_thresholds", "runway_days", "anomaly_enabled", "anomaly_min_micros")
    changes = {
        n: [_plain(getattr(before, n)), _plain(getattr(after, n))]
        for n in names
        if getattr(before, n) != getattr(after, n)
    }
    if changes:
        audit.record(
            session,
            actor=actor,
            action="alerts.settings.change",
            target="alert rules",
            message="Alert rules: "
            + "; ".join(f"{n.replace('_', ' ')} {a} → {b}" for n, (a, b) in changes.items()),
            details={"changes": changes},
        )
    return after


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
