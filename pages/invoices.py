"""Invoices tab: credits and runway, buying credits, invoices with PDFs, payments, history,
credit ledger, billing details and the low-balance alert.

Owners buy credits, change seats, refund, adjust and edit billing details; admins view and
download; members have no access. With STRIPE_SECRET_KEY (environment or st.secrets),
"Buy credits" opens Stripe Checkout and the return (`?session_id=`) adds the credits once;
without it the tab is in a labelled demo mode that records purchases locally.
"""

from __future__ import annotations

import streamlit as st

import ui
from kilo import billing
from kilo.billing import StripeConfig, stripe_config
from kilo.permissions import Actor, allowed
from ui import billing_details, invoices_list, purchases
from ui.billing_details import details_tab

actor = ui.guard("billing.view")
can_buy = allowed(actor, "billing.purchase")
can_change = allowed(actor, "billing.change")
can_seats = allowed(actor, "organization.seats.change")
config: StripeConfig | None = stripe_config(st.secrets)


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_summary(actor: Actor, mode: str, _config: StripeConfig | None) -> billing.BillingSummary:
    """Cached per actor and mode ("stripe" or "demo"); `_config` is the mode's settings."""
    return ui.read(billing.get_billing_summary, actor=actor, config=_config)


# ---- return from Stripe Checkout (before the summary: it may add credits) ------------

link = purchases.checkout_return(actor, config)


# ---- page -------------------------------------------------------------------------

summary = load_summary(actor, "stripe" if config else "demo", config)
setup = ui.read(billing.invoice_setup, actor=actor)  # settings: read every run, not cached
st.title("Invoices & billing")
if config is None:
    st.badge(purchases.DEMO_LABEL, icon=":material/science:", color="orange")
    st.caption(
        "STRIPE_SECRET_KEY is not set: purchases and seat changes are recorded locally "
        "and nothing is charged."
    )
elif config.test_mode:
    st.badge("Stripe test mode", icon=":material/credit_card:", color="blue")
link.show()
flash = st.session_state.pop("inv_flash", None)
if flash:  # (level, Markdown made by ui.purchases.checkout_return)
    getattr(st, flash[0])(flash[1])

runway = "—" if summary.runway_days is None else f"{summary.runway_days:,} days"
c1, c2, c3, c4 = st.columns(4)
c1.metric(
    "Available credits",
    ui.fmt_micros(summary.balance_micros),
    border=True,
    help=f"Credits {ui.fmt_micros(summary.credits_micros)} (purchases, promotions, refunds, "
    f"adjustments) minus usage {ui.fmt_micros(summary.usage_micros)}.",
)
c2.metric(
    "Runway",
    runway,
    border=True,
    help="How long the credits last at the average daily spend of the last "
    f"{billing.RUNWAY_WINDOW_DAYS} days."
    if summary.runway_days is not None
    else "No usage in the last 30 days.",
)
c3.metric(
    "Average daily spend",
    ui.fmt_micros(summary.avg_daily_spend_micros),
    border=True,
    help=f"Usage cost of the last {billing.RUNWAY_WINDOW_DAYS} days divided by "
    f"{billing.RUNWAY_WINDOW_DAYS}.",
)
c4.metric(
    "Seats",
    f"{summary.seats_used} / {summary.seats}",
    border=True,
    help=f"{ui.fmt_cents(summary.monthly_seat_cents)} per month at "
    f"{ui.fmt_cents(summary.seat_price_cents)} per seat.",
)
if summary.low_balance_alert_micros:
    state = "below" if summary.below_alert else "above"
    st.caption(
        f"Low-balance alert at {ui.fmt_micros(summary.low_balance_alert_micros)}; "
        f"credits are {state} it."
    )

if can_buy:
    purchases.buy_section(can_seats=can_seats, can_change=can_change)

tab_inv, tab_pay, tab_hist, tab_ledger, tab_details = st.tabs(
    ["Invoices", "Payments", "Purchase history", "Credit ledger", "Billing details"]
)

with tab_inv:
    invoices_list.invoices_tab(actor, setup, can_change=can_change)
with tab_pay:
    invoices_list.payments_tab(actor)
with tab_hist:
    invoices_list.history_tab(actor)
with tab_ledger:
    invoices_list.ledger_tab(actor)
with tab_details:
    details_tab(summary, setup, can_change=can_change)

dialog_name, payload = ui.opened_dialog()
if dialog_name == "inv_buy":
    purchases.buy_dialog(actor, config, payload, setup.tax)
elif dialog_name == "inv_seats":
    purchases.seats_dialog(actor, config, summary)
elif dialog_name == "inv_refund":
    purchases.refund_dialog(actor, config, payload)
elif dialog_name == "inv_adjust":
    purchases.adjustment_dialog(actor)
elif dialog_name == "inv_details":
    billing_details.details_dialog(actor, summary)
elif dialog_name == "inv_alert":
    purchases.alert_dialog(actor, summary)
