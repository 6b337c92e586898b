"""Custom Modes tab: Kilo Code's built-in modes as the organization has them, custom modes,
a plain-words preview, and import/export in Kilo Code's `customModes` format.

Owners and admins change modes; members see them and export them. Dialogs stay open
through `st.session_state["custom_modes_dialog"]` until saved or dismissed.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict

import pandas as pd
import streamlit as st

import ui
from kilo import modes
from kilo.permissions import Actor, allowed
from ui.mode_dialogs import (
    DIALOG,
    close_dialog,
    config_of,
    delete_dialog,
    duplicate_dialog,
    edit_dialog,
    open_dialog,
    reset_dialog,
    show_preview,
)

actor = ui.guard("modes.view")
can_edit = allowed(actor, "modes.change")
IMPORT_PREVIEW = "custom_modes_import_plan"  # (input, document, ImportPlan or why unreadable)


# ---- loaders (plain data, cached) ---------------------------------------------------


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_modes(actor: Actor) -> list[dict]:
    return [asdict(v) for v in ui.read(modes.list_modes, actor=actor)]


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_export(actor: Actor, fmt: str, include_builtins: bool) -> str:
    return ui.read(modes.export_modes, actor=actor, fmt=fmt, include_builtins=include_builtins)


def status_of(row: dict) -> str:
    if row["kind"] == "custom":
        return "Custom"
    parts = ["Adjusted" if row["overridden"] else "Kilo Code default"]
    if row["disabled"]:
        parts.append("disabled")
    return " · ".join(parts)


def read_import(actor: Actor, upload, pasted: str) -> tuple[str, modes.ImportPlan | str]:  # noqa: ANN001
    """The document (the upload, else the pasted text) and its import plan, or why the
    upload cannot be read."""
    if upload is None:
        source = pasted
    else:
        try:
            source = upload.getvalue().decode("utf-8")
        except UnicodeDecodeError:
            return "", "The file is not UTF-8 text; save it as UTF-8 and try again."
    return source, ui.read(modes.plan_import, actor=actor, text=source)


def show_import_plan(actor: Actor, source: str, plan: modes.ImportPlan) -> None:
    """The previewed import: problems, what changes, and the button that imports `source`."""
    if plan.problems:
        st.error(
            f"{len(plan.problems)} problem(s); nothing can be imported until "
            "they are fixed:\n" + "\n".join(f"- {ui.md_escape(p)}" for p in plan.problems),
            icon=":material/error:",
        )
    if plan.items:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Slug": i.slug,
                        "Name": i.name,
                        "Kind": i.kind,
                        "Action": i.action,
                        "Changes": ", ".join(i.changed),
                    }
                    for i in plan.items
                ]
            ),
            hide_index=True,
            width="stretch",
            key="custom_modes_import_preview",
        )
    if plan.ignored:  # field names from the document: escaped
        st.caption(
            "Not kept (editor-only fields): " + ", ".join(ui.md_escape(f) for f in plan.ignored)
        )
    todo = plan.count("create") + plan.count("update")
    if plan.ok:
        st.markdown(
            f"**{plan.count('create')}** to create, **{plan.count('update')}** "
            f"to update, **{plan.count('unchanged')}** unchanged."
        )
    if st.button(
        f"Import {todo} mode(s)",
        type="primary",
        key="custom_modes_import_submit",
        disabled=not plan.ok or todo == 0,
    ):
        if (
            ui.run_action(
                lambda s: modes.import_modes(s, actor=actor, text=source),
                success=f"Imported {todo} mode(s)",
            )
            is not None
        ):
            st.session_state.pop("custom_modes_import_text", None)
            st.session_state.pop(IMPORT_PREVIEW, None)
            st.rerun()


# ---- page ---------------------------------------------------------------------------

all_modes = load_modes(actor)
by_slug = {r["slug"]: r for r in all_modes}

st.title("Custom Modes")
st.caption(
    "A mode tells Kilo Code who to be and which tools it may use. Members' editors get "
    "the enabled modes below: Kilo Code's built-ins as your organization adjusted them, "
    "then your custom modes."
)
if not can_edit:
    st.info(
        "Owners and admins change modes. You can view and export them.",
        icon=":material/visibility:",
    )

tab_modes, tab_preview, tab_io = st.tabs(["Modes", "Preview", "Import & export"])

with tab_modes:
    st.subheader("Built-in modes")
    for row in (r for r in all_modes if r["kind"] == "built-in"):
        slug = row["slug"]
        with st.container(border=True):
            left, right = st.columns([3, 2], vertical_alignment="center")
            left.markdown(f"**{ui.md_escape(row['name'])}** {ui.md_code(slug)} · {status_of(row)}")
            left.caption(
                f"{ui.md_escape(row['description'])} · Tools: {ui.md_escape(modes.tools_summary(row['groups']))}"
            )
            if can_edit:
                b1, b2, b3 = right.columns(3)
                if b1.button("Edit", key=f"custom_modes_edit_{slug}", icon=":material/edit:"):
                    open_dialog("edit", slug)
                if row["overridden"] and b2.button(
                    "Reset", key=f"custom_modes_reset_{slug}", icon=":material/restart_alt:"
                ):
                    open_dialog("reset", slug)
                enabled = b3.toggle(
                    "Enabled", value=not row["disabled"], key=f"custom_modes_enabled_{slug}"
                )
                if enabled == row["disabled"]:
                    if (
                        ui.run_action(
                            lambda s, slug=slug, enabled=enabled: modes.set_builtin_disabled(
                                s, actor=actor, slug=slug, disabled=not enabled
                            ),
                            success=f"{row['name']} {'enabled' if enabled else 'disabled'}",
                        )
                        is not None
                    ):
                        st.rerun()

    st.subheader("Custom modes")
    s1, s2 = st.columns([3, 1], vertical_alignment="bottom")
    search = s1.text_input(
        "Search", key="custom_modes_search", placeholder="Slug, name, description or when to use"
    )
    if can_edit and s2.button(
        "New mode", type="primary", key="custom_modes_new", icon=":material/add:"
    ):
        open_dialog("new")
    needle = search.strip().casefold()
    custom = [r for r in all_modes if r["kind"] == "custom"]
    shown = [
        r
        for r in custom
        if not needle
        or any(needle in r[f].casefold() for f in ("slug", "name", "description", "when_to_use"))
    ]
    if not custom:
        st.info(
            "No custom modes yet."
            + (" Create one, or import a .kilocodemodes file." if can_edit else ""),
            icon=":material/info:",
        )
    elif not shown:
        st.info(f"No custom mode matches “{ui.md_escape(search)}”.", icon=":material/search_off:")
    for row in shown:
        slug = row["slug"]
        with st.container(border=True):
            left, right = st.columns([3, 2], vertical_alignment="center")
            left.markdown(f"**{ui.md_escape(row['name'])}** {ui.md_code(slug)}")
            left.caption(
                " · ".join(
                    x
                    for x in (
                        ui.md_escape(row["description"]),
                        f"Tools: {ui.md_escape(modes.tools_summary(row['groups']))}",
                        f"Updated {ui.fmt_datetime(row['updated_at'])}",
                    )
                    if x
                )
            )
            if can_edit:
                b1, b2, b3 = right.columns(3)
                if b1.button("Edit", key=f"custom_modes_edit_{slug}", icon=":material/edit:"):
                    open_dialog("edit", slug)
                if b2.button(
                    "Duplicate",
                    key=f"custom_modes_duplicate_{slug}",
                    icon=":material/content_copy:",
                ):
                    open_dialog("duplicate", slug)
                if b3.button("Delete", key=f"custom_modes_delete_{slug}", icon=":material/delete:"):
                    open_dialog("delete", slug)

with tab_preview:
    labels = {r["slug"]: f"{r['name']} ({r['slug']})" for r in all_modes}
    chosen = st.selectbox(
        "Mode", list(labels), format_func=labels.get, key="custom_modes_preview_mode"
    )
    row = by_slug[chosen]
    config = config_of(row)
    st.markdown(f"### {ui.md_escape(row['name'])}")
    st.caption(f"{ui.md_code(row['slug'])} · {status_of(row)}")
    if row["disabled"]:
        st.warning(
            "This built-in mode is disabled: members' editors do not offer it.",
            icon=":material/block:",
        )
    if row["description"]:
        st.markdown(f"**Description:** {ui.md_escape(row['description'])}")
    if row["when_to_use"]:
        st.markdown(f"**When to use:** {ui.md_escape(row['when_to_use'])}")
    st.markdown("**Tools and restrictions**")
    show_preview(config)
    path = st.text_input(
        "Try a file path",
        key="custom_modes_preview_path",
        placeholder="e.g. docs/plan.md or src/app.py",
    )
    if path.strip():
        verdict = "may" if modes.can_edit_file(config, path.strip()) else "may not"
        st.markdown(f"{ui.md_escape(row['name'])} **{verdict}** edit {ui.md_code(path.strip())}.")
    with st.expander("Role definition"):
        st.text(row["role_definition"])
    if row["custom_instructions"]:
        with st.expander("Custom instructions"):
            st.text(row["custom_instructions"])
    if can_edit and st.button(
        "Duplicate as a custom mode",
        key="custom_modes_preview_duplicate",
        icon=":material/content_copy:",
    ):
        open_dialog("duplicate", chosen)

with tab_io:
    st.subheader("Export")
    scope = st.radio(
        "What to export",
        ["org", "all"],
        key="custom_modes_export_scope",
        horizontal=True,
        format_func={
            "org": "Custom and adjusted built-in modes (.kilocodemodes)",
            "all": "Every enabled mode, as members' editors see them",
        }.get,
    )
    include = scope == "all"
    yaml_text = load_export(actor, "yaml", include)
    json_text = load_export(actor, "json", include)
    d1, d2, _ = st.columns([1, 1, 3])
    d1.download_button(
        "Download YAML",
        yaml_text,
        file_name="custom_modes.yaml",
        mime="application/yaml",
        key="custom_modes_download_yaml",
        icon=":material/download:",
    )
    d2.download_button(
        "Download JSON",
        json_text,
        file_name="custom_modes.json",
        mime="application/json",
        key="custom_modes_download_json",
        icon=":material/download:",
    )
    st.caption(
        "Save the YAML as `.kilocodemodes` in a project, or as Kilo Code's global "
        "`custom_modes.yaml`. Disabled built-ins cannot be expressed in this format."
    )
    with st.expander("Show YAML"):
        st.code(yaml_text, language="yaml")

    st.subheader("Import")
    if not can_edit:
        st.caption("Owners and admins import modes.")
    else:
        st.caption(
            "A `customModes` document from Kilo Code or Roo Code (`.kilocodemodes`, "
            "`.roomodes`, `custom_modes.yaml`, YAML or JSON, at most 1 MB). A slug of a "
            "built-in adjusts that built-in; nothing is deleted. All modes are imported or none."
        )
        upload = st.file_uploader("File", key="custom_modes_import_file", max_upload_size=1)
        pasted = st.text_area(
            "…or paste the document",
            key="custom_modes_import_text",
            height=150,
            max_chars=modes.MAX_DOCUMENT_BYTES,
        )
        # Reading a document costs time: only on request, never on every keystroke.
        given = (
            ("file", upload.file_id)
            if upload is not None
            else ("text", hashlib.sha256(pasted.encode("utf-8", "replace")).hexdigest())
        )
        if st.button(
            "Preview import",
            key="custom_modes_import_preview_run",
            icon=":material/preview:",
            disabled=upload is None and not pasted.strip(),
        ):
            st.session_state[IMPORT_PREVIEW] = (given, *read_import(actor, upload, pasted))
        if (previewed := st.session_state.get(IMPORT_PREVIEW)) is not None:
            previewed_input, source, outcome = previewed
            if previewed_input != given:
                st.caption("The document changed since the preview; preview it again to import.")
            elif isinstance(outcome, str):
                st.error(outcome, icon=":material/error:")
            else:
                show_import_plan(actor, source, outcome)


# ---- open dialog (kept open across reruns until saved or dismissed) ------------------

if can_edit and (pending := st.session_state.get(DIALOG)):
    kind, slug = pending
    target = by_slug.get(slug)
    if kind == "new":
        edit_dialog(actor, None)
    elif target is None:
        close_dialog()
    elif kind == "edit":
        edit_dialog(actor, target)
    elif kind == "duplicate":
        duplicate_dialog(actor, target, list(by_slug))
    elif kind == "delete" and target["kind"] == "custom":
        delete_dialog(actor, target)
    elif kind == "reset" and target["kind"] == "built-in":
        reset_dialog(actor, target)
