"""Password reset links on the Organization tab: e-mailed after their transaction commits
(like invitations, see ui/invitations.py), and shown once to copy."""

from __future__ import annotations

import logging

import streamlit as st

import ui
from kilo import accounts, mail
from kilo.errors import KiloError
from kilo.permissions import Actor

log = logging.getLogger("kilo.ui")


def deliver(actor: Actor, member_id: int, email: str, token: str) -> dict:
    """E-mail the new link when mail is configured; the outcome for `show`."""
    outcome = {
        "member_id": member_id,
        "email": email,
        "link": accounts.reset_url(ui.public_base_url(), token),
        "emailed": False,
        "error": None,
    }
    if mail.is_configured():
        try:
            with st.spinner(f"E-mailing the link to {email}…"):
                ui.read(
                    accounts.email_reset_link,
                    actor=actor,
                    token=token,
                    base_url=ui.public_base_url(),
                )
            outcome["emailed"] = True
        except KiloError as exc:
            outcome["error"] = str(exc)
        except Exception:  # a bug must not lose the link: it is shown only now
            log.exception("reset e-mail failed")
            outcome["error"] = "The e-mail could not be sent (the error was logged)."
    return outcome


def show(outcome: dict, member_id: int) -> None:
    if outcome.get("member_id") != member_id:
        return
    email = ui.md_escape(outcome["email"])
    if outcome["emailed"]:
        st.success(f"Reset link e-mailed to {email}.", icon=":material/mark_email_read:")
    elif outcome["error"]:
        st.warning(
            f"The link was created but not e-mailed: {ui.md_escape(outcome['error'])}",
            icon=":material/warning:",
        )
    st.caption("Copy the link now; it is shown only once (only a hash is stored).")
    st.code(outcome["link"], language=None)
