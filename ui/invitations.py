"""Invitation links on the Organization tab: e-mailing a new link once its transaction has
committed, and the banner that shows the link once (only its hash is stored).

A failed e-mail keeps the invitation: the admin sees why it failed and gets the link to send
another way (or "Resend" later). Rolling back instead would need the e-mail inside the
database transaction, holding the write lock for up to the SMTP timeout.
"""

from __future__ import annotations

import logging

import streamlit as st

import ui
from kilo import invitations, mail
from kilo.errors import KiloError
from kilo.models import Invitation
from kilo.permissions import Actor

log = logging.getLogger("kilo.ui")
LAST = "org_last_invite"  # session state: the outcome shown by banner()
NOT_CONFIGURED = (
    "E-mail is not configured, so invitations are not e-mailed: copy each link and send it "
    "yourself. (An operator sets KILO_SMTP_HOST, see the README's E-mail section.)"
)


def link_for(token: str) -> str:
    return invitations.invitation_url(ui.public_base_url(), token)


def deliver(actor: Actor, invitation: Invitation, token: str, *, kind: str, email: bool) -> None:
    """Remember the new link for the banner and, if asked and mail is configured, e-mail it.

    `kind` is "invite", "resend" or "copy" (a new link to copy, not e-mailed).
    """
    outcome = {
        "kind": kind,
        "email": invitation.email,
        "link": link_for(token),
        "configured": mail.is_configured(),
        "emailed": False,
        "error": None,
    }
    if email and outcome["configured"]:
        try:
            with st.spinner(f"E-mailing the invitation to {invitation.email}…"):
                ui.read(
                    invitations.email_invitation,
                    actor=actor,
                    invitation_id=invitation.id,
                    token=token,
                    base_url=ui.public_base_url(),
                )
            outcome["emailed"] = True
        except KiloError as exc:
            outcome["error"] = str(exc)
        except Exception:  # a bug must not lose the link: it is shown only now
            log.exception("invitation e-mail failed")
            outcome["error"] = "An unexpected error stopped the e-mail; it was logged."
    st.session_state[LAST] = outcome


def banner(kinds: tuple[str, ...]) -> None:
    """The last new link (if its kind is one of `kinds`): e-mailed or not, and why, and the
    link itself, shown once."""
    outcome = st.session_state.get(LAST)
    if not outcome or outcome["kind"] not in kinds:
        return
    who = ui.md_escape(outcome["email"])
    once = "It works once, expires in 7 days and is shown only this once."
    previous = "" if outcome["kind"] == "invite" else " The previous link no longer works."
    if outcome["emailed"]:
        what = "Invitation" if outcome["kind"] == "invite" else "A new invitation link was"
        st.success(
            f"{what} e-mailed to {who}.{previous} The link is also shown here, in case you "
            f"want to send it another way. {once}",
            icon=":material/mail:",
        )
    elif outcome["error"]:
        what = (
            "The invitation was created"
            if outcome["kind"] == "invite"
            else "A new link was created (the previous link no longer works)"
        )
        st.warning(
            f"{what}, but the e-mail to {who} could not be sent: "
            f"{ui.md_escape(outcome['error'])} Send this link yourself, or use Resend on the "
            f"pending invitation later. {once}",
            icon=":material/mail_lock:",
        )
    else:
        reason = (
            "E-mail is not configured, so nothing was e-mailed. "
            if not outcome["configured"]
            else ""
        )
        what = (
            f"Send this link to {who} yourself."
            if outcome["kind"] == "invite"
            else f"New link for {who}.{previous} Send it to them yourself."
        )
        st.info(f"{reason}{what} {once}", icon=":material/link:")
    st.code(outcome["link"], language=None)
    if st.button("Done", key="org_invite_done"):
        del st.session_state[LAST]
        st.rerun()
