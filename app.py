"""Kilo for Enterprise dashboard: entry point. Prepares the database, signs in, routes.

Every page is registered for every signed-in member so that opening an admin page's URL
shows a refusal (from the page's own guard) instead of a silent redirect; the sidebar only
links the pages the member's role may see. Services enforce permissions regardless.
"""

import logging

import streamlit as st

import ui
from kilo import billing, stripe_gateway
from kilo.errors import KiloError
from kilo.permissions import allowed
from ui import auth

st.set_page_config(page_title="Kilo for Enterprise", page_icon=":material/bolt:", layout="wide")

PAGES = [
    # (file, title, icon, action needed to see it in the sidebar)
    ("pages/organization.py", "Organization", ":material/domain:", "organization.view"),
    ("pages/usage.py", "Usage", ":material/monitoring:", "usage.view_own"),
    ("pages/model_access.py", "Model Access", ":material/verified_user:", "access.view"),
    ("pages/custom_modes.py", "Custom Modes", ":material/tune:", "modes.view"),
    ("pages/audit_logs.py", "Audit Logs", ":material/history:", "audit.view"),
    ("pages/invoices.py", "Invoices", ":material/receipt_long:", "billing.view"),
]
ACCEPT = st.Page(
    "pages/accept_invite.py",
    title="Accept invitation",
    icon=":material/mail:",
    url_path="accept_invite",
)


def login_page() -> None:
    st.title("Kilo for Enterprise")
    st.caption("Sign in to manage your organization's AI coding assistant.")
    authenticator.login(location="main", key="login")
    if st.session_state.get("authentication_status") is False:
        st.error("Username or password is incorrect.")
    if auth.is_demo_database():
        st.info(
            "**Demo database.** Sign in as `owner`, `admin` or `member` with the password "
            "`kilo-demo`.",
            icon=":material/info:",
        )


def frame(actor) -> None:  # noqa: ANN001
    with st.sidebar:
        st.markdown(f"**{ui.md_escape(actor.name)}**  \n{ui.md_escape(actor.email)}")
        st.caption(f"Role: {actor.role}")
        if st.button("Sign out", key="app_sign_out", icon=":material/logout:"):
            auth.sign_out(authenticator)
            st.rerun()


try:
    auth.prepare_database()
    auth.cookie_key()
except auth.InsecureKeyError as exc:
    st.error(str(exc), icon=":material/key_off:")
    st.stop()

# The authenticator renders a cookie component whose first value triggers a rerun; it is
# created after st.navigation so that rerun stays on the page the URL asked for.
if not st.session_state.get("authentication_status"):
    # Every tab's URL shows the sign-in form, so a deep link lands on the page asked for.
    sign_in = [st.Page(login_page, title="Sign in", icon=":material/login:", default=True)]
    sign_in += [
        st.Page(
            login_page, title="Sign in", url_path=path.removeprefix("pages/").removesuffix(".py")
        )
        for path, *_ in PAGES
    ]
    nav = st.navigation([*sign_in, ACCEPT], position="hidden")
    authenticator = auth.authenticator()
    authenticator.login(location="unrendered")  # restores a session from its cookie
    if st.session_state.get("authentication_status"):
        st.rerun()  # same URL, now with the signed-in pages
    nav.run()
    st.stop()

actor = auth.resolve_actor()
if actor is None:
    st.error("Your account no longer exists in this organization. Ask an owner or admin.")
    auth.sign_out(auth.authenticator())
    st.stop()

pages = [
    st.Page(path, title=title, icon=icon, default=i == 0)
    for i, (path, title, icon, _) in enumerate(PAGES)
]
nav = st.navigation([*pages, ACCEPT], position="hidden")
authenticator = auth.authenticator()
with st.sidebar:
    st.subheader(":material/bolt: Kilo for Enterprise")
    for page, (_, _, _, action) in zip(pages, PAGES, strict=True):
        if allowed(actor, action):
            st.page_link(page)
    st.divider()
frame(actor)
stripe_gateway.export_to_environ(auth.secrets_mapping())
low_balance = ui.read(billing.low_balance_warning, actor=actor)
if low_balance:
    st.warning(ui.md_escape(low_balance), icon=":material/account_balance_wallet:")

try:
    nav.run()
except KiloError as exc:  # a service refused: show its message, never a traceback
    st.error(ui.md_escape(exc), icon=":material/error:")
except Exception:  # noqa: BLE001
    logging.getLogger("kilo.ui").exception("page failed")
    st.error("Something went wrong on this page. The error was logged; nothing was changed.")
