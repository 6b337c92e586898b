"""Kilo for Enterprise dashboard: entry point. Prepares the database, signs in, routes.

Every page is registered for every signed-in member so that opening an admin page's URL
shows a refusal (from the page's own guard) instead of a silent redirect; the sidebar only
links the pages the member's role may see. Services enforce permissions regardless.

The signed-in member is read from the database on every run (`ui.auth.current_actor`):
an ended session, a removed member or a changed role takes effect on the next run.
"""

import logging
from pathlib import Path

import streamlit as st

import ui
from kilo import billing, mail, organization, stripe_gateway
from kilo.billing import seller
from kilo.errors import KiloError
from kilo.permissions import allowed
from ui import auth

# The favicon is a file of ours: a Material icon as page_icon makes every browser fetch it
# from fonts.gstatic.com, a request off the internal network on every page load.
FAVICON = str(Path(__file__).resolve().parent / "ui" / "favicon.png")
st.set_page_config(page_title="Kilo for Enterprise", page_icon=FAVICON, layout="wide")

PAGES = [
    # (file, title, icon, action needed to see it in the sidebar)
    ("pages/organization.py", "Organization", ":material/domain:", "organization.view"),
    ("pages/usage.py", "Usage", ":material/monitoring:", "usage.view_own"),
    ("pages/model_access.py", "Model Access", ":material/verified_user:", "access.view"),
    ("pages/custom_modes.py", "Custom Modes", ":material/tune:", "modes.view"),
    ("pages/audit_logs.py", "Audit Logs", ":material/history:", "audit.view"),
    ("pages/invoices.py", "Invoices", ":material/receipt_long:", "billing.view"),
    ("pages/account.py", "Account", ":material/account_circle:", "organization.view"),
]
# Pages reached by a link while signed out (and also while signed in).
PUBLIC = [
    st.Page(
        "pages/accept_invite.py",
        title="Accept invitation",
        icon=":material/mail:",
        url_path="accept_invite",
    ),
    st.Page(
        "pages/reset_password.py",
        title="Reset password",
        icon=":material/lock_reset:",
        url_path="reset_password",
    ),
]


def login_page() -> None:
    st.title("Kilo for Enterprise")
    if not auth.has_organization():
        st.info(organization.NO_ORGANIZATION_HELP, icon=":material/domain_add:")
        return
    st.caption("Sign in to manage your organization's AI coding assistant.")
    auth.sign_in_form()
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
        st.button("Sign out", key="app_sign_out", icon=":material/logout:", on_click=auth.sign_out)


try:
    auth.prepare_database()
    auth.cookie_key()
except (auth.InsecureKeyError, KiloError) as exc:  # a setting to fix: say which, no traceback
    st.error(ui.md_escape(exc), icon=":material/key_off:")
    st.stop()
# SMTP, seller and Stripe settings from secrets.toml reach kilo/ through the environment
# (signed-out pages such as a password reset may send mail too).
mail.export_to_environ(auth.secrets_mapping())
seller.export_to_environ(auth.secrets_mapping())

actor = auth.current_actor()
if actor is None:
    # Every tab's URL shows the sign-in form, so a deep link lands on the page asked for.
    sign_in = [st.Page(login_page, title="Sign in", icon=":material/login:", default=True)]
    sign_in += [
        st.Page(
            login_page, title="Sign in", url_path=path.removeprefix("pages/").removesuffix(".py")
        )
        for path, *_ in PAGES
    ]
    nav = st.navigation([*sign_in, *PUBLIC], position="hidden")
    auth.apply_cookie()
    nav.run()
    st.stop()

pages = [
    st.Page(path, title=title, icon=icon, default=i == 0)
    for i, (path, title, icon, _) in enumerate(PAGES)
]
nav = st.navigation([*pages, *PUBLIC], position="hidden")
with st.sidebar:
    st.subheader(":material/bolt: Kilo for Enterprise")
    for page, (_, _, _, action) in zip(pages, PAGES, strict=True):
        if allowed(actor, action):
            st.page_link(page)
    st.divider()
frame(actor)
auth.apply_cookie()
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
