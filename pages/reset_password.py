"""Choose a new password through a single-use reset link (…/reset_password?token=…)."""

import re

import streamlit as st

import ui
from kilo import accounts
from kilo.errors import KiloError
from ui.passwords import new_password_fields, passwords_match
from ui.url_state import LinkParams

RESET_TOKEN = re.compile(r"[A-Za-z0-9_-]+")  # secrets.token_urlsafe

st.title("Choose a new password")
link = LinkParams()
token = link.text("token", max_chars=200, pattern=RESET_TOKEN)
link.show()
if not token:
    st.error("This page needs the password reset link you were sent (it ends in ?token=…).")
    st.stop()

done = st.session_state.get("reset_done")
if done:
    st.success(
        f"Your password was changed. Sign in as **{ui.md_escape(done)}** with the new password."
    )
    # Signed out, app.py serves the sign-in form under every tab's URL path (see accept_invite).
    st.page_link(
        st.Page(lambda: None, title="Go to sign in", url_path="organization"),
        label="Go to sign in",
        icon=":material/login:",
    )
    st.stop()

try:
    with ui.read_session() as session:
        _, member = accounts.find_reset(session, token=token)
except KiloError as exc:
    st.error(ui.md_escape(exc), icon=":material/link_off:")
    st.stop()

st.write(f"For **{ui.md_escape(member.email)}**. Every session of this account will end.")
with st.form("reset_form"):
    new, again = new_password_fields()
    submitted = st.form_submit_button("Set password", type="primary")
if submitted:
    if passwords_match(new, again):
        changed = ui.run_action(lambda s: accounts.reset_password(s, token=token, new_password=new))
        if changed is not None:
            st.session_state["reset_done"] = changed.username
            st.rerun()
