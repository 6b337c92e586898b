"""Account: the signed-in member's own password and sessions."""

import streamlit as st

import ui
from kilo import accounts, passwords, sessions
from ui import auth

actor = ui.current_actor()
st.title("Account")
st.caption(f"{ui.md_escape(actor.name)} · {ui.md_escape(actor.email)} · {actor.role}")

st.subheader("Change password")
with st.form("change_password", clear_on_submit=True):
    current = st.text_input("Current password", type="password", max_chars=1024)
    new = st.text_input(
        f"New password (at least {passwords.MIN_LENGTH} characters)",
        type="password",
        max_chars=1024,
    )
    again = st.text_input("Repeat the new password", type="password", max_chars=1024)
    submitted = st.form_submit_button("Change password", type="primary")
if submitted:
    if new != again:
        st.error("The two new passwords differ; type the same password twice.")
    else:
        token = st.session_state.get(auth.SESSION_KEY)
        ended = ui.run_action(
            lambda s: accounts.change_password(
                s, actor=actor, current=current, new=new, keep_token=token
            )
        )
        if ended is not None:
            st.success(
                "Password changed. "
                + (f"{ended} other session(s) were signed out." if ended else "")
            )

st.subheader("Sessions")
st.caption(
    "Each browser you signed in with. Signing out everywhere ends them all, this one "
    "included; changing your password ends all but this one."
)
token = st.session_state.get(auth.SESSION_KEY)
rows = [
    {
        "Signed in": ui.fmt_datetime(s.created_at),
        "Last seen": ui.fmt_datetime(s.last_seen_at),
        "Expires": ui.fmt_datetime(s.expires_at),
        "Address": s.client or "—",
        "This browser": "yes" if sessions.is_current(s, token) else "",
    }
    for s in ui.read(sessions.list_sessions, actor=actor)
]
st.dataframe(rows, hide_index=True, width="stretch")


def _sign_out_everywhere() -> None:
    with ui.write_session() as session:
        accounts.sign_out_everywhere(session, actor=actor)
    auth.sign_out()


st.button(
    "Sign out everywhere",
    icon=":material/logout:",
    on_click=_sign_out_everywhere,
    key="sign_out_everywhere",
)
