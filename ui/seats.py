"""The seat-count form shared by the Organization and Invoices tabs' seat dialogs."""

from __future__ import annotations

import streamlit as st

import ui
from kilo import billing
from kilo.billing import StripeConfig
from kilo.permissions import Actor


def seats_form(
    actor: Actor,
    *,
    used: int,
    total: int,
    config: StripeConfig | None,
    prefix: str,
    price_cents: int | None = None,
) -> None:
    """Seats in use, a new count, and the change (prorated; Stripe or demo mode)."""
    price = f" at {ui.fmt_cents(price_cents)} per seat per month" if price_cents else ""
    st.write(f"**{used}** of **{total}** seats in use (members and pending invitations){price}.")
    seats = st.number_input(
        "Seats",
        min_value=1,
        max_value=billing.MAX_SEATS,
        value=total,
        step=1,
        key=f"{prefix}_seats_value",
    )
    st.caption(
        "The change is prorated for the rest of the billing period"
        + (
            " and updates the Stripe subscription."
            if config
            else "; the prorated amount gets its own invoice at once (demo mode: nothing is "
            "charged)."
        )
    )
    if st.button("Change seats", type="primary", key=f"{prefix}_seats_submit"):
        change = ui.run_action(
            lambda s: billing.change_seats(s, actor=actor, seats=int(seats), config=config),
            success=f"Seats set to {int(seats)}",
        )
        if change is not None:
            ui.close_dialog()
            st.rerun()
