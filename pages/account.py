"""Account: the signed-in member's own password, sessions and API keys; for owners and
admins, the weekly summary opt-in."""

import streamlit as st

import ui
from kilo import accounts, apikeys, sessions
from ui import alerts as alerts_ui
from ui import api_keys, auth
from ui.passwords import new_password_fields, passwords_match

actor = ui.current_actor()
st.title("Account")
st.caption(f"{ui.md_escape(actor.name)} · {ui.md_escape(actor.email)} · {actor.role}")

st.subheader("Change password")
with st.form("change_password", clear_on_submit=True):
    current = st.text_input("Current password", type="password", max_chars=1024)
    new, again = new_password_fields()
    submitted = st.form_submit_button("Change password", type="primary")
if submitted:
    if passwords_match(
        new, again, message="The two new passwords differ; type the same password twice."
    ):
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


# ---- API keys -------------------------------------------------------------------------

NEW_KEY = "account_new_key"  # session state: the new secret, for one run (ui.api_keys)


@st.dialog("Create API key", on_dismiss=ui.close_dialog)
def create_key_dialog() -> None:
    name = st.text_input(
        "Name",
        max_chars=100,
        key="account_key_name",
        placeholder="e.g. work laptop, CI job",
        help="Say where the key is used, to recognise it later.",
    )
    expires_at = api_keys.expiry_input("account_key_expiry")
    st.caption("The key is shown once, right after you create it; only a hash is stored.")
    if st.button("Create key", type="primary", key="account_key_create"):
        created = ui.run_action(
            lambda s: apikeys.create_api_key(s, actor=actor, name=name, expires_at=expires_at)
        )
        if created is not None:
            key, secret = created
            api_keys.keep_new_secret(
                NEW_KEY, what="API key", name=key.name, prefix=key.prefix, secret=secret
            )
            ui.close_dialog()
            st.rerun()


st.subheader("API keys")
st.caption(api_keys.ABOUT_KEYS)
api_keys.show_new_secret(NEW_KEY)

keys = ui.read(apikeys.list_api_keys, actor=actor, include_revoked=True)
live, shown = api_keys.keys_table(keys, toggle_key="account_keys_show_revoked", with_member=False)
if shown:
    st.caption(
        f"{len(live)} of at most {apikeys.MAX_KEYS_PER_MEMBER} keys not revoked (expired ones "
        f"count until revoked) · times in your time zone ({ui.viewer_timezone().key})"
    )
else:
    st.caption("You have no API keys.")

full = len(live) >= apikeys.MAX_KEYS_PER_MEMBER
create_col, pick_col, revoke_col = st.columns([1.2, 3, 1], vertical_alignment="bottom")
create_col.button(
    "Create API key",
    icon=":material/key:",
    key="account_key_open",
    width="stretch",
    on_click=ui.open_dialog,
    args=("account_key_create",),
    disabled=full,
    help=f"You have {len(live)} keys that are not revoked, the most allowed: revoke one you "
    "no longer use."
    if full
    else None,
)
if full:
    st.caption(
        f":material/lock: You have {apikeys.MAX_KEYS_PER_MEMBER} keys that are not revoked, "
        "the most allowed: revoke one you no longer use to create another."
    )
if live:
    labels = {k.id: api_keys.key_label(k, with_member=False) for k in live}
    api_keys.revoke_picker(
        pick_col,
        revoke_col,
        labels,
        kind="key",
        prefix="account_key",
        dialog="account_key_revoke",
        label="Key",
        placeholder="Choose a key to revoke",
    )

alerts_ui.weekly_summary_toggle(actor)

dialog_name, payload = ui.opened_dialog()
if dialog_name == "account_key_create":
    create_key_dialog()
elif dialog_name == "account_key_revoke":
    api_keys.revoke_key_dialog(actor, payload)
