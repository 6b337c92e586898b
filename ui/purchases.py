"""The Invoices tab's money actions: buying credits (demo mode or Stripe Checkout) and the
return from Checkout, seats, refunds, ledger adjustments and the low-balance alert.

Each dialog takes what it shows and acts on as arguments."""

from __future__ import annotations

import re

import streamlit as st

import ui
from kilo import billing, money
from kilo.billing import StripeConfig
from kilo.errors import ValidationError
from kilo.permissions import Actor
from ui.seats import seats_form
from ui.url_state import LinkParams

DEMO_LABEL = "Demo mode — no real payment"
CHECKOUT_SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]+")  # Stripe's form of the return id


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


def checkout_return(actor: Actor, config: StripeConfig | None) -> LinkParams:
    """Apply a return from Stripe Checkout (`?session_id=` or `?checkout=cancelled`) once:
    the outcome is queued for the page's flash message and the parameters are dropped.
    Returns the page's link parameters, for `link.show()` under the title."""
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
    return link


def buy_section(*, can_seats: bool, can_change: bool) -> None:
    """Preset and custom amounts to buy, and the seats, adjustment and alert buttons."""
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
