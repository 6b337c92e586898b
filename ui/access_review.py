"""Model Access tab: the review dialog every change goes through (what changes, which
models members gain or lose) before it is applied, and the labels its titles use."""

from __future__ import annotations

import streamlit as st

import ui
from kilo import access
from kilo.access import AccessChange
from kilo.errors import KiloError
from kilo.permissions import Actor

DIALOG = "model_access_change"


def shown_label(items: list[str], noun: str = "") -> str:
    """ "all 3 providers shown", "the 1 model shown"; without a noun "all 3 shown"."""
    n = len(items)
    what = f"{n} " + (ui.plural(n, noun).split(" ", 1)[1] + " " if noun else "")
    return f"{'the' if n == 1 else 'all'} {what}shown"


def short(items: list[str], limit: int = 12) -> str:
    """Ids as Markdown code spans (safe whatever backticks an id holds)."""
    shown = ", ".join(ui.md_code(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def ask(title: str, change: AccessChange) -> None:
    """Open the review dialog for `change` (kept open across reruns until closed)."""
    ui.open_dialog(DIALOG, (title, change))


@st.dialog("Review the change", width="large", on_dismiss=ui.close_dialog)
def confirm_dialog(actor: Actor, title: str, change: AccessChange) -> None:
    """`title` is Markdown built by this page (user text in it already escaped)."""
    st.markdown(f"**{title}**")
    try:
        preview = ui.read(access.preview_access_change, actor=actor, change=change)
    except KiloError as exc:
        st.error(ui.md_escape(exc), icon=":material/error:")
        if st.button("Close", key="model_access_confirm_close"):
            ui.close_dialog()
            st.rerun()
        return
    for label, items in (
        ("Enable models", preview.enabled_models),
        ("Disable models", preview.disabled_models),
        ("Enable providers", preview.enabled_providers),
        ("Disable providers", preview.disabled_providers),
        ("Rules", preview.pattern_changes),
    ):
        if items:
            st.markdown(f"- **{label} ({len(items)}):** {short(items)}")
    if preview.unchanged:
        st.caption(
            f"{preview.unchanged} of the chosen are already in that state and stay as they are."
        )
    if preview.changes_anything:
        st.markdown(
            f"Members **gain** access to {ui.plural(len(preview.newly_usable), 'model')} and "
            f"**lose** access to {ui.plural(len(preview.newly_blocked), 'model')}."
        )
        if preview.newly_blocked:
            st.caption(f"Losing access: {short(preview.newly_blocked, 8)}")
    if preview.problem:
        st.error(ui.md_escape(preview.problem), icon=":material/block:")
    elif not preview.changes_anything:
        st.info("Nothing would change.", icon=":material/info:")
    c1, c2 = st.columns(2)
    apply = c1.button(
        "Apply",
        type="primary",
        key="model_access_confirm_apply",
        disabled=bool(preview.problem) or not preview.changes_anything,
    )
    if c2.button("Cancel", key="model_access_confirm_cancel"):
        ui.close_dialog()
        st.rerun()
    if apply:
        done = ui.run_action(
            lambda s: access.change_access(s, actor=actor, change=change),
            success="Model access updated",
        )
        if done is not None:
            ui.close_dialog()
            st.rerun()
