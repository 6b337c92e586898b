"""Invoices tab: credits and runway, buying credits, invoices with PDFs, payments, history,
credit ledger, billing details and the low-balance alert.

Owners buy credits, change seats, refund, adjust and edit billing details; admins view and
download; members have no access. With STRIPE_SECRET_KEY (environment or st.secrets),
"Buy credits" opens Stripe Checkout and the return (`?session_id=`) adds the credits once;
without it the tab is in a labelled demo mode that records purchases locally.
"""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

import ui
from kilo import billing, money
from kilo.billing import StripeConfig, stripe_config
from kilo.errors import ValidationError
from kilo.permissions import Actor, allowed
from ui import billing_details
from ui.billing_details import details_tab
from ui.seats import seats_form
from ui.url_state import LinkParams

actor = ui.guard("billing.view")
can_buy = allowed(actor, "billing.purchase")
can_change = allowed(actor, "billing.change")
can_seats = allowed(actor, "organization.seats.change")
config: StripeConfig | None = stripe_config(st.secrets)
DEMO_LABEL = "Demo mode — no real payment"
CHECKOUT_SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]+")  # Stripe's form of the return id


# ---- loaders (plain data, cached) ---------------------------------------------------


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_summary(actor: Actor, mode: str, _config: StripeConfig | None) -> billing.BillingSummary:
    """Cached per actor and mode ("stripe" or "demo"); `_config` is the mode's settings."""
    return ui.read(billing.get_billing_summary, actor=actor, config=_config)


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_invoices(actor: Actor) -> pd.DataFrame:
    rows = [
        {
            "id": i.id,
            "Number": i.number,
            "Date": ui.local_time(i.issued_at),
            "Period": f"{i.period_start:%Y-%m-%d} – {i.period_end:%Y-%m-%d}",
            "Kind": billing.INVOICE_KIND_LABELS.get(i.kind, i.kind),
            "Amount": ui.fmt_cents(i.total_cents),
            "Status": i.status,
            "Refunded": ui.fmt_cents(i.refunded_cents) if i.refunded_cents else "",
            "Note": i.note,
            "refundable_cents": i.refundable_cents,
        }
        for i in ui.read(billing.list_invoices, actor=actor)
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "id",
            "Number",
            "Date",
            "Period",
            "Kind",
            "Amount",
            "Status",
            "Refunded",
            "Note",
            "refundable_cents",
        ],
    )


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_payments(actor: Actor) -> pd.DataFrame:
    rows = [
        {
            "Date": ui.local_time(p.at),
            "Amount": ui.fmt_cents(p.amount_cents),
            "Currency": p.currency,
            "Status": p.status,
            "Method": p.method,
            "Invoice": p.invoice_number or "",
            "Description": p.description,
            "Reference": p.reference,
            "Failure": p.failure_message,
        }
        for p in ui.read(billing.list_payments, actor=actor)
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "Date",
            "Amount",
            "Currency",
            "Status",
            "Method",
            "Invoice",
            "Description",
            "Reference",
            "Failure",
        ],
    )


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_history(actor: Actor) -> pd.DataFrame:
    rows = [
        {
            "Date": ui.local_time(h.at),
            "Type": h.kind,
            "Description": h.description,
            "Amount": ui.fmt_micros(h.amount_micros),
            "By": h.actor_name,
            "Reference": h.reference,
        }
        for h in ui.read(billing.list_purchase_history, actor=actor)
    ]
    return pd.DataFrame(rows, columns=["Date", "Type", "Description", "Amount", "By", "Reference"])


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_ledger(actor: Actor) -> pd.DataFrame:
    rows = [
        {
            "Date": ui.local_time(r.at),
            "Kind": billing.LEDGER_KIND_LABELS.get(r.kind, r.kind)
            + (" (derived)" if r.kind == "usage" else ""),
            "Description": r.description,
            "Amount": ui.fmt_micros(r.amount_micros),
            "Balance after": ui.fmt_micros(r.balance_micros),
            "Reference": r.reference,
        }
        for r in ui.read(billing.list_ledger, actor=actor)
    ]
    return pd.DataFrame(
        rows, columns=["Date", "Kind", "Description", "Amount", "Balance after", "Reference"]
    )


def amount_text(cents: int) -> str:
    return ui.fmt_cents(cents).removeprefix("$")


# ---- dialogs: each takes what it shows and acts on as arguments -----------------------


def open_buy(cents: int) -> None:
    st.session_state.pop("inv_checkout", None)
    ui.open_dialog("inv_buy", cents)


def close_buy() -> None:
    st.session_state.pop("inv_checkout", None)
    ui.close_dialog()


@st.dialog("Buy credits", on_dismiss=close_buy)
def buy_dialog(actor: Actor, config: StripeConfig | None, amount_cents: int, tax: str) -> None:
    started = st.session_state.get("inv_checkout")
    if started:  # Stripe Checkout created: the owner pays on Stripe's page
        st.write(
            f"Pay **{ui.fmt_cents(started['amount_cents'])}** on Stripe's secure checkout "
            "page. You come back here when done, and the credits are added once Stripe "
            "confirms the payment."
        )
        st.link_button("Pay on Stripe", started["url"], type="primary", icon=":material/lock:")
        return
    st.write(f"Buy **{ui.fmt_cents(amount_cents)}** of Kilo Gateway credits?")
    if config is None:
        st.warning(
            f"**{DEMO_LABEL}.** The credits are added at once and nothing is charged.",
            icon=":material/science:",
        )
        st.caption(ui.md_escape(tax))  # the invoice adds tax on top of the credits
    else:
        st.caption("You pay on Stripe's checkout page; card details never reach this dashboard.")
    if st.button(
        "Continue to payment" if config else "Add demo credits",
        type="primary",
        key="inv_buy_confirm",
    ):
        start = ui.run_action(
            lambda s: billing.start_credit_purchase(
                s,
                actor=actor,
                amount_cents=amount_cents,
                config=config,
                return_url=f"{ui.public_base_url()}/invoices",
            ),
            success=None if config else f"Added {ui.fmt_cents(amount_cents)} of credits (demo)",
        )
        if start is None:
            return
        if start.mode == "stripe":
            st.session_state["inv_checkout"] = {
                "url": start.checkout_url,
                "amount_cents": start.amount_cents,
            }
        else:
            st.session_state["inv_pick_newest"] = True  # show the new invoice first
            ui.close_dialog()
        st.rerun()


@st.dialog("Change seats", on_dismiss=ui.close_dialog)
def seats_dialog(
    actor: Actor, config: StripeConfig | None, summary: billing.BillingSummary
) -> None:
    seats_form(
        actor,
        used=summary.seats_used,
        total=summary.seats,
        config=config,
        prefix="inv",
        price_cents=summary.seat_price_cents,
    )


@st.dialog("Refund unused credits", on_dismiss=ui.close_dialog)
def refund_dialog(actor: Actor, config: StripeConfig | None, row: dict) -> None:
    st.write(
        f"Refund credits bought with invoice **{ui.md_escape(row['Number'])}** "
        f"({ui.md_escape(row['Amount'])}). "
        "Only unused credits can be refunded; they are removed from the balance."
    )
    amount = st.text_input(
        "Amount to refund (USD)",
        value=amount_text(row["refundable_cents"]),
        key="inv_refund_amount",
    )
    if st.button("Refund", type="primary", key="inv_refund_confirm"):

        def refund(s):  # noqa: ANN001, ANN202
            return billing.refund_purchase(
                s,
                actor=actor,
                invoice_id=row["id"],
                amount_cents=money.parse_usd_cents(amount),
                config=config,
            )

        if ui.run_action(refund, success=f"Refunded part of {row['Number']}") is not None:
            ui.close_dialog()
            st.rerun()


@st.dialog("Add credits or an adjustment", on_dismiss=ui.close_dialog)
def adjustment_dialog(actor: Actor) -> None:
    kind = st.selectbox(
        "Kind",
        billing.MANUAL_KINDS,
        key="inv_adjust_kind",
        format_func=lambda k: billing.LEDGER_KIND_LABELS[k],
    )
    amount = st.text_input(
        "Amount (USD; negative removes credits)",
        key="inv_adjust_amount",
        placeholder="25.00 or -10",
    )
    reason = st.text_input("Reason (shown in the history and audit log)", key="inv_adjust_reason")
    if st.button("Add to ledger", type="primary", key="inv_adjust_submit"):

        def add(s):  # noqa: ANN001, ANN202
            return billing.add_ledger_entry(
                s,
                actor=actor,
                kind=kind,
                amount_micros=money.parse_usd(amount, signed=True),
                description=reason,
            )

        if ui.run_action(add, success="Ledger entry added") is not None:
            ui.close_dialog()
            st.rerun()


@st.dialog("Low-balance alert", on_dismiss=ui.close_dialog)
def alert_dialog(actor: Actor, summary: billing.BillingSummary) -> None:
    value = st.text_input(
        "Warn when credits fall below (USD; 0 turns the warning off)",
        value=amount_text(summary.low_balance_alert_micros // money.MICROS_PER_CENT),
        key="inv_alert_value",
    )
    if st.button("Save", type="primary", key="inv_alert_save"):
        ok = ui.run_action(
            lambda s: billing.set_low_balance_alert(
                s, actor=actor, threshold_micros=ui.dollars_to_micros(value)
            ),
            success="Low-balance alert saved",
        )
        if ok is not None:
            ui.close_dialog()
            st.rerun()


# ---- return from Stripe Checkout ------------------------------------------------------

link = LinkParams()
returned = link.text("session_id", max_chars=255, pattern=CHECKOUT_SESSION_ID)
cancelled = link.choice("checkout", ["cancelled"], default="") == "cancelled"
for name in ("session_id", "checkout"):  # one-shot: a reload must not repeat them
    if name in st.query_params:
        del st.query_params[name]
if returned:
    st.session_state.pop("inv_checkout", None)
    ui.close_dialog()
    if config is None:
        st.session_state["inv_flash"] = (
            "warning",
            "Stripe is not configured, so the checkout "
            "cannot be checked here; run `python -m kilo "
            "sync-stripe` where it is.",
        )
    else:
        outcome = ui.run_action(
            lambda s: billing.complete_checkout(
                s, actor=actor, stripe_session_id=returned, config=config
            )
        )
        if outcome is not None:
            level = "success" if outcome.status in ("applied", "already_applied") else "info"
            st.session_state["inv_pick_newest"] = True
            st.session_state["inv_flash"] = (level, ui.md_escape(outcome.message))
if cancelled:
    st.session_state.pop("inv_checkout", None)
    st.session_state["inv_flash"] = ("info", "Checkout cancelled; nothing was charged.")


# ---- page -------------------------------------------------------------------------

summary = load_summary(actor, "stripe" if config else "demo", config)
setup = ui.read(billing.invoice_setup, actor=actor)  # settings: read every run, not cached
st.title("Invoices & billing")
if config is None:
    st.badge(DEMO_LABEL, icon=":material/science:", color="orange")
    st.caption(
        "STRIPE_SECRET_KEY is not set: purchases and seat changes are recorded locally "
        "and nothing is charged."
    )
elif config.test_mode:
    st.badge("Stripe test mode", icon=":material/credit_card:", color="blue")
link.show()
flash = st.session_state.pop("inv_flash", None)
if flash:  # (level, Markdown made by this page)
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
    with st.container(border=True):
        st.subheader("Buy credits")
        cols = st.columns(len(billing.PRESET_PURCHASE_CENTS) + 2, vertical_alignment="bottom")
        for col, cents in zip(cols, billing.PRESET_PURCHASE_CENTS, strict=False):
            col.button(
                ui.fmt_cents(cents).removesuffix(".00"),
                key=f"inv_buy_{cents // money.CENTS_PER_DOLLAR}",
                width="stretch",
                on_click=open_buy,
                args=(cents,),
            )
        custom = cols[-2].text_input(
            "Custom amount (USD)",
            key="inv_buy_custom",
            placeholder=f"{billing.MIN_PURCHASE_CENTS // money.CENTS_PER_DOLLAR}–"
            f"{billing.MAX_PURCHASE_CENTS // money.CENTS_PER_DOLLAR:,}",
        )
        if cols[-1].button("Buy", key="inv_buy_custom_go", type="primary", width="stretch"):
            try:
                cents = billing.check_purchase_amount(money.parse_usd_cents(custom))
            except ValidationError as exc:
                st.error(ui.md_escape(exc), icon=":material/error:")
            else:
                open_buy(cents)
        actions = st.columns(4)
        if can_seats:
            actions[0].button(
                "Change seats",
                key="inv_seats_open",
                icon=":material/event_seat:",
                width="stretch",
                on_click=ui.open_dialog,
                args=("inv_seats",),
            )
        if can_change:
            actions[1].button(
                "Credits or adjustment",
                key="inv_adjust_open",
                icon=":material/tune:",
                width="stretch",
                on_click=ui.open_dialog,
                args=("inv_adjust",),
            )
            actions[2].button(
                "Low-balance alert",
                key="inv_alert_open",
                icon=":material/notifications:",
                width="stretch",
                on_click=ui.open_dialog,
                args=("inv_alert",),
            )

tab_inv, tab_pay, tab_hist, tab_ledger, tab_details = st.tabs(
    ["Invoices", "Payments", "Purchase history", "Credit ledger", "Billing details"]
)

with tab_inv:
    invoices = load_invoices(actor)
    if invoices.empty:
        st.info("No invoices yet.")
    else:
        st.dataframe(
            invoices.drop(columns=["id", "refundable_cents"]),
            hide_index=True,
            width="stretch",
            column_config={
                "Date": st.column_config.DatetimeColumn(
                    format="YYYY-MM-DD", help="Issue date (the PDF's too)"
                ),
                "Note": st.column_config.TextColumn(
                    width="large",
                    help="Seat changes: the change a prorated invoice bills, or the seat "
                    "counts from each change date in a seat invoice's period",
                ),
            },
        )
        by_id = {int(r["id"]): r for r in invoices.to_dict("records")}
        if st.session_state.pop("inv_pick_newest", False):
            # Set before the widget exists: the browser still holds the old choice, and
            # dropping the key alone would let that stale value come back on the rerun.
            st.session_state["inv_pdf_pick"] = next(iter(by_id))
        pick_col, dl_col, refund_col = st.columns([3, 1, 1], vertical_alignment="bottom")
        picked = pick_col.selectbox(
            "Invoice",
            list(by_id),
            key="inv_pdf_pick",
            format_func=lambda i: (
                f"{by_id[i]['Number']} · {by_id[i]['Kind']} · "
                f"{by_id[i]['Amount']} · {by_id[i]['Status']}"
            ),
        )
        row = by_id[picked]
        if setup.seller is None:  # no final invoice without a seller: say what to set
            dl_col.button("Download PDF", key="inv_pdf_unavailable", disabled=True, width="stretch")
            st.error(ui.md_escape(setup.problem), icon=":material/storefront:")
        else:
            dl_col.download_button(
                "Download PDF",
                key="inv_pdf_download",
                icon=":material/download:",
                width="stretch",
                data=lambda: ui.read(billing.invoice_pdf, actor=actor, invoice_id=picked),
                file_name=f"invoice-{row['Number']}.pdf",
                mime="application/pdf",
            )
        if can_change and row["refundable_cents"] > 0:
            refund_col.button(
                "Refund…",
                key="inv_refund_open",
                width="stretch",
                on_click=ui.open_dialog,
                args=(
                    "inv_refund",
                    {k: row[k] for k in ("id", "Number", "Amount", "refundable_cents")},
                ),
            )

with tab_pay:
    payments = load_payments(actor)
    if payments.empty:
        st.info("No payments yet.")
    else:
        st.dataframe(
            payments,
            hide_index=True,
            width="stretch",
            column_config={"Date": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
        )

with tab_hist:
    st.caption(
        "Credit purchases, seat changes (with the prorated amount), refunds, "
        "promotional credits and adjustments."
    )
    history = load_history(actor)
    st.dataframe(
        history,
        hide_index=True,
        width="stretch",
        column_config={"Date": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )

with tab_ledger:
    st.caption(
        "Every credit movement with the balance after it. Usage is derived from the "
        "recorded requests and shown per month."
    )
    st.dataframe(
        load_ledger(actor),
        hide_index=True,
        width="stretch",
        column_config={"Date": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )

with tab_details:
    details_tab(summary, setup, can_change=can_change)

dialog_name, payload = ui.opened_dialog()
if dialog_name == "inv_buy":
    buy_dialog(actor, config, payload, setup.tax)
elif dialog_name == "inv_seats":
    seats_dialog(actor, config, summary)
elif dialog_name == "inv_refund":
    refund_dialog(actor, config, payload)
elif dialog_name == "inv_adjust":
    adjustment_dialog(actor)
elif dialog_name == "inv_details":
    billing_details.details_dialog(actor, summary)
elif dialog_name == "inv_alert":
    alert_dialog(actor, summary)
