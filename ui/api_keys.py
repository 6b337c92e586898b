"""Members' API keys and the organization's API tokens on the Account page and the
Organization tab: the key tables, the expiry date picker, the confirmation before revoking,
and the new secret, shown once.

A new secret exists only in the run that shows it: it is kept in session state just long
enough to survive the rerun that closes the dialog, and `show_new_secret` takes it out of
session state as it draws it, so the next rerun or a visit to another page no longer has it
(only its hash is stored).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import streamlit as st

import ui
from kilo import apikeys
from kilo.apikeys import KeyRow
from kilo.models import utcnow
from kilo.permissions import Actor

KEY_COLUMNS = ["Name", "Key", "Created", "Last used", "Expires", "Status"]
ABOUT_KEYS = (
    "An API key identifies you to a gateway connected to this dashboard: the gateway sends "
    "it with the requests it forwards for you and asks the dashboard whether to let each "
    "one through (your key, the organization's model access, your daily spend limit, the "
    "credit balance). Keep it secret like a password; revoke it when a device or job no "
    "longer needs it or if it may have leaked."
)
ABOUT_TOKENS = (
    "API tokens authenticate programs, not people. Scope **gateway**: a gateway that checks "
    "members' API keys with this dashboard and reports their usage. Scope **read**: a tool "
    "that reads the organization's usage figures. Revoking a token refuses it from then on."
)
SCOPES = {
    "gateway": "gateway: check members' keys and report usage",
    "read": "read: read usage figures",
}


def keys_table(
    rows: list[KeyRow], *, toggle_key: str, with_member: bool
) -> tuple[list[KeyRow], list[KeyRow]]:
    """The keys' table, revoked ones behind a "Show revoked keys" toggle: (live keys, shown)."""
    live = [k for k in rows if k.revoked_at is None]
    show_revoked = st.toggle("Show revoked keys", key=toggle_key, disabled=len(live) == len(rows))
    shown = rows if show_revoked else live
    if shown:
        st.dataframe(
            key_frame(shown, with_member=with_member).drop(columns=["id"]),
            hide_index=True,
            width="stretch",
        )
    return live, shown


def key_frame(rows: list[KeyRow], *, with_member: bool) -> pd.DataFrame:
    """Keys as a table (times in the viewer's time zone), with the member for admins."""
    member_cols = ["Member", "Email"] if with_member else []
    records = [
        {
            "id": r.id,
            "Member": r.member_name,
            "Email": r.member_email,
            "Name": r.name,
            "Key": f"{r.prefix}…",
            "Created": ui.fmt_datetime(r.created_at),
            "Last used": ui.fmt_datetime(r.last_used_at) if r.last_used_at else "never",
            "Expires": ui.fmt_datetime(r.expires_at) if r.expires_at else "never",
            "Status": r.status
            if r.revoked_at is None
            else f"revoked {ui.fmt_datetime(r.revoked_at)}",
        }
        for r in rows
    ]
    return pd.DataFrame(records, columns=["id", *member_cols, *KEY_COLUMNS])


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def key_label(row: KeyRow, *, with_member: bool) -> str:
    label = f"{row.name} ({row.prefix}…)"
    return f"{label} of {row.member_name} <{row.member_email}>" if with_member else label


# ---- the expiry date ----------------------------------------------------------------


def expiry_bounds(now: datetime | None = None) -> tuple[date, date]:
    """The first and last day a key may expire on, in the viewer's time zone: today, and the
    last day whose end is within the services' limit (a year from now)."""
    tz = ui.viewer_timezone()
    now = now or utcnow()
    limit = (now + apikeys.MAX_EXPIRY).astimezone(tz)
    return now.astimezone(tz).date(), limit.date() - timedelta(days=1)


def end_of_day_utc(day: date) -> datetime:
    """The last second of `day` in the viewer's time zone, as a UTC datetime to store."""
    tz = ui.viewer_timezone()
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz).astimezone(UTC)


def expiry_input(key: str) -> datetime | None:
    """A date picker for an optional expiry; the key stops working at the end of that day."""
    first, last = expiry_bounds()
    day = st.date_input(
        "Expires on (optional)",
        value=None,
        min_value=first,
        max_value=last,
        key=key,
        format="YYYY-MM-DD",
        help=(
            "The key stops working at the end of this day (23:59:59 in your time zone, "
            f"{ui.viewer_timezone().key}), at most a year ahead. Leave it empty for a key "
            "that does not expire."
        ),
    )
    return None if day is None else end_of_day_utc(day)


# ---- the new secret, shown once -----------------------------------------------------


def keep_new_secret(slot: str, *, what: str, name: str, prefix: str, secret: str) -> None:
    """Hold a new secret for the next run only (see `show_new_secret`)."""
    st.session_state[slot] = {"what": what, "name": name, "prefix": prefix, "secret": secret}


def show_new_secret(slot: str) -> None:
    """Show the secret kept in `slot`, taking it out of session state: never shown twice."""
    new = st.session_state.pop(slot, None)
    if not new:
        return
    st.success(
        f"{new['what']} “{ui.md_escape(new['name'])}” created. **Copy it now: it won't be shown "
        "again.** Only a hash of it is stored, so nobody can show it to you later; if you lose "
        "it, revoke it and create another.",
        icon=":material/key:",
    )
    st.code(new["secret"], language=None)


# ---- confirming a revocation ----------------------------------------------------------

KEY_EFFECT = (
    "A gateway connected to this dashboard refuses it from then on; whoever uses it needs a "
    "new key."
)
TOKEN_EFFECT = "Programs that use it are refused from then on."


def revoke_picker(
    pick_col,  # noqa: ANN001  (a Streamlit column)
    button_col,  # noqa: ANN001
    labels: dict[int, str],
    *,
    kind: str,
    prefix: str,
    dialog: str,
    label: str,
    placeholder: str,
) -> None:
    """A selectbox of keys or tokens and a Revoke button opening `dialog` for the one picked
    (widget keys `<prefix>_pick` and `<prefix>_revoke`)."""
    picked = pick_col.selectbox(
        label,
        list(labels),
        format_func=labels.get,
        index=None,
        key=f"{prefix}_pick",
        placeholder=placeholder,
    )
    button_col.button(
        "Revoke",
        icon=":material/block:",
        key=f"{prefix}_revoke",
        width="stretch",
        disabled=picked is None,
        on_click=ui.open_dialog,
        args=(dialog, {"kind": kind, "id": picked, "label": labels.get(picked), "prefix": prefix}),
    )


def _confirm_revoke(actor: Actor, item: dict) -> None:
    kind = "API key" if item["kind"] == "key" else "API token"
    st.write(f"Revoke the {kind} **{ui.md_escape(item['label'])}**?")
    st.caption((KEY_EFFECT if item["kind"] == "key" else TOKEN_EFFECT) + " It cannot be undone.")
    prefix = item["prefix"]
    confirm_col, cancel_col = st.columns(2)
    if confirm_col.button("Revoke", type="primary", key=f"{prefix}_revoke_confirm"):
        if item["kind"] == "key":
            done = ui.run_action(
                lambda s: apikeys.revoke_api_key(s, actor=actor, key_id=item["id"]),
                success=f"Revoked {item['label']}",
            )
        else:
            done = ui.run_action(
                lambda s: apikeys.revoke_token(s, actor=actor, token_id=item["id"]),
                success=f"Revoked {item['label']}",
            )
        if done is not None:
            ui.close_dialog()
            st.rerun()
    if cancel_col.button("Cancel", key=f"{prefix}_revoke_cancel"):
        ui.close_dialog()
        st.rerun()


@st.dialog("Revoke API key", on_dismiss=ui.close_dialog)
def revoke_key_dialog(actor: Actor, item: dict) -> None:
    """Confirm, then revoke the key `item` ({"kind": "key", "id", "label", "prefix"})."""
    _confirm_revoke(actor, item)


@st.dialog("Revoke API token", on_dismiss=ui.close_dialog)
def revoke_token_dialog(actor: Actor, item: dict) -> None:
    """Confirm, then revoke the token `item` ({"kind": "token", "id", "label", "prefix"})."""
    _confirm_revoke(actor, item)


ORG_NEW_TOKEN = "org_new_token"  # session state: the new token's secret, for one run


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_all_keys(actor: Actor) -> list[KeyRow]:
    return ui.read(apikeys.list_api_keys, actor=actor, everyone=True, include_revoked=True)


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_tokens(actor: Actor) -> pd.DataFrame:
    rows = [
        {
            "id": t.id,
            "Name": t.name,
            "Scope": t.scope,
            "Token": f"{t.prefix}…",
            "Created": ui.fmt_datetime(t.created_at),
            "Last used": ui.fmt_datetime(t.last_used_at) if t.last_used_at else "never",
        }
        for t in ui.read(apikeys.list_tokens, actor=actor)
    ]
    return pd.DataFrame(rows, columns=["id", "Name", "Scope", "Token", "Created", "Last used"])


@st.dialog("Create API token", on_dismiss=ui.close_dialog)
def create_token_dialog(actor: Actor) -> None:
    name = st.text_input(
        "Name",
        max_chars=100,
        key="org_token_name",
        placeholder="e.g. production gateway, finance export",
        help="Say which program uses the token, to recognise it later.",
    )
    scope = st.radio(
        "Scope",
        list(SCOPES),
        format_func=SCOPES.get,
        key="org_token_scope",
    )
    st.caption("The token is shown once, right after you create it; only a hash is stored.")
    if st.button("Create token", type="primary", key="org_token_create"):
        created = ui.run_action(
            lambda s: apikeys.create_token(s, actor=actor, name=name, scope=scope)
        )
        if created is not None:
            token, secret = created
            keep_new_secret(
                ORG_NEW_TOKEN, what="API token", name=token.name, prefix=token.prefix, secret=secret
            )
            ui.close_dialog()
            st.rerun()


def org_keys_section(actor: Actor) -> None:
    """Organization tab: every member's API keys, with revoke (keys.manage)."""
    st.subheader("API keys")
    st.caption(
        "Every member's API keys. Members create and revoke their own on the Account page; "
        "removing a member revokes theirs. Times in your time zone."
    )
    all_keys = load_all_keys(actor)
    live_keys, _ = keys_table(all_keys, toggle_key="org_keys_show_revoked", with_member=True)
    holders = len({k.member_id for k in live_keys})
    st.caption(
        f"{plural(len(live_keys), 'key')} not revoked, held by {plural(holders, 'member')}"
        if live_keys
        else "No member has an API key that is not revoked."
    )
    if live_keys:
        key_labels = {k.id: key_label(k, with_member=True) for k in live_keys}
        kc1, kc2 = st.columns([4, 1], vertical_alignment="bottom")
        revoke_picker(
            kc1,
            kc2,
            key_labels,
            kind="key",
            prefix="org_key",
            dialog="org_revoke_key",
            label="API key",
            placeholder="Choose a key to revoke",
        )


def org_tokens_section(actor: Actor) -> None:
    """Organization tab: the organization's API tokens, create and revoke (gateway.tokens)."""
    st.subheader("API tokens")
    st.caption(ABOUT_TOKENS)
    show_new_secret(ORG_NEW_TOKEN)
    tokens = load_tokens(actor)
    if tokens.empty:
        st.caption("No API tokens.")
    else:
        st.dataframe(tokens.drop(columns=["id"]), hide_index=True, width="stretch")
    tc1, tc2, tc3 = st.columns([1.2, 3, 1], vertical_alignment="bottom")
    tc1.button(
        "Create API token",
        icon=":material/key:",
        key="org_token_open",
        width="stretch",
        on_click=ui.open_dialog,
        args=("org_create_token",),
    )
    if not tokens.empty:
        token_labels = {int(t.id): f"{t.Name} ({t.Scope}, {t.Token})" for t in tokens.itertuples()}
        revoke_picker(
            tc2,
            tc3,
            token_labels,
            kind="token",
            prefix="org_token",
            dialog="org_revoke_token",
            label="API token",
            placeholder="Choose a token to revoke",
        )
