"""Accept an invitation: the invitee sets a name and password and becomes a member."""

import re

import streamlit as st

import ui
from kilo import invitations
from kilo.errors import KiloError
from ui.passwords import new_password_fields, passwords_match
from ui.url_state import LinkParams

INVITATION_TOKEN = re.compile(r"[A-Za-z0-9_-]+")  # secrets.token_urlsafe


def _sign_in() -> None:
    """Never runs: app.py's sign-in page answers the URL this link points at."""


st.title("Join your organization")
link = LinkParams()
token = link.text("token", max_chars=200, pattern=INVITATION_TOKEN)
link.show()
if not token:
    st.error("This page needs the invitation link you were sent (it ends in ?token=…).")
    st.stop()
if ui.auth.signed_in():
    st.info("You are signed in. Sign out first to accept an invitation for another account.")
    st.stop()

done = st.session_state.get("accept_done")
if done:
    st.success(
        f"Welcome! Sign in with the username **{ui.md_escape(done)}** and the password you chose."
    )
    # In-app navigation, same browser tab. Signed out, app.py registers the sign-in form
    # (a callable page) under every tab's URL path; a page with the same url_path is that
    # page (Streamlit identifies pages by url_path), and after signing in the same URL is
    # the Organization tab.
    st.page_link(
        st.Page(_sign_in, title="Go to sign in", url_path="organization"),
        label="Go to sign in",
        icon=":material/login:",
    )
    st.stop()

try:
    with ui.read_session() as session:
        invitation = invitations.find_invitation(session, token=token)
except KiloError as exc:
    st.error(ui.md_escape(exc), icon=":material/link_off:")
    st.stop()

st.write(
    f"You were invited to join as **{invitation.role}** with the email "
    f"**{ui.md_escape(invitation.email)}**."
)
with st.form("accept_form"):
    name = st.text_input("Your name", key="accept_name")
    password, confirm = new_password_fields(
        "Password",
        "Repeat the password",
        key="accept_password",
        repeat_key="accept_confirm",
        max_chars=None,
    )
    submitted = st.form_submit_button("Join", type="primary")
if submitted:
    if passwords_match(password, confirm):
        member = ui.run_action(
            lambda s: invitations.accept_invitation(s, token=token, name=name, password=password)
        )
        if member is not None:
            st.session_state["accept_done"] = member.username
            st.rerun()
