"""The Custom Modes tab's mode form and its dialogs: new, edit, duplicate, delete, reset.

A dialog stays open across reruns while `st.session_state[DIALOG]` names it (the page opens
the one named there); saving or dismissing closes it. Each dialog takes the actor and the
mode (a row of the page's loader) as arguments.
"""

from __future__ import annotations

import streamlit as st

import ui
from kilo import modes
from kilo.errors import ValidationError
from kilo.modes import ModeConfig
from kilo.permissions import Actor

DIALOG = "custom_modes_dialog"


def config_of(row: dict) -> ModeConfig:
    return ModeConfig(
        row["slug"],
        row["name"],
        row["role_definition"],
        row["when_to_use"],
        row["description"],
        row["custom_instructions"],
        list(row["groups"]),
    )


def open_dialog(kind: str, slug: str = "") -> None:
    st.session_state[DIALOG] = (kind, slug)


def close_dialog() -> None:
    st.session_state.pop(DIALOG, None)


# ---- dialogs ------------------------------------------------------------------------


def mode_form(original: ModeConfig | None, *, builtin: bool) -> ModeConfig:
    """The mode's fields as widgets; returns what the form currently says."""
    p = f"custom_modes_form_{original.slug if original else 'new'}"
    o = original or ModeConfig("", "", "", groups=["read"])
    c1, c2 = st.columns(2)
    slug = c1.text_input(
        "Slug",
        value=o.slug,
        key=f"{p}_slug",
        max_chars=modes.SLUG_MAX,
        disabled=builtin,
        placeholder="e.g. test-engineer",
        help="Lower-case letters, digits and dashes; unique in the organization.",
    )
    name = c2.text_input("Name", value=o.name, key=f"{p}_name", max_chars=modes.NAME_MAX)
    role = st.text_area(
        "Role definition",
        value=o.role_definition,
        key=f"{p}_role",
        help="Who the assistant is in this mode (required).",
    )
    when = st.text_area(
        "When to use",
        value=o.when_to_use,
        key=f"{p}_when",
        height=80,
        help="Helps the Orchestrator and members pick this mode.",
    )
    desc = st.text_input(
        "Description",
        value=o.description,
        key=f"{p}_desc",
        help="A short summary shown in the mode picker.",
    )
    instr = st.text_area("Custom instructions", value=o.custom_instructions, key=f"{p}_instr")
    st.markdown("**Tools**")
    opts = {
        g if isinstance(g, str) else g[0]: ({} if isinstance(g, str) else g[1]) for g in o.groups
    }
    cols = st.columns(len(modes.TOOL_GROUPS))
    checked = {
        g: col.checkbox(
            g, value=g in opts, key=f"{p}_group_{g}", help=modes.GROUP_LABELS[g].capitalize()
        )
        for g, col in zip(modes.TOOL_GROUPS, cols, strict=True)
    }
    edit_opts = opts.get("edit", {})
    regex, regex_desc = "", ""
    if checked["edit"]:
        e1, e2 = st.columns(2)
        regex = e1.text_input(
            "Edit only files matching (fileRegex)",
            value=edit_opts.get("fileRegex", ""),
            key=f"{p}_edit_regex",
            placeholder=r"e.g. \.md$",
            help="Empty: any file may be edited.",
        )
        regex_desc = e2.text_input(
            "Which files these are",
            value=edit_opts.get("description", ""),
            key=f"{p}_edit_regex_desc",
            placeholder="e.g. Markdown files only",
        )
    new_options = dict(opts) | {
        "edit": {
            k: v
            for k, v in (("fileRegex", regex.strip()), ("description", regex_desc.strip()))
            if v
        }
    }
    # Keep the mode's own order of groups; newly ticked groups go last.
    order = [g for g in opts if checked.get(g)] + [
        g for g in modes.TOOL_GROUPS if checked[g] and g not in opts
    ]
    groups = [[g, new_options[g]] if new_options.get(g) else g for g in order]
    return ModeConfig(slug.strip(), name.strip(), role, when, desc, instr, groups)


def show_preview(config: ModeConfig) -> None:
    st.markdown("\n".join(f"- {line}" for line in modes.describe_mode(config)))


@st.dialog("Mode", width="large", on_dismiss=close_dialog)
def edit_dialog(actor: Actor, row: dict | None) -> None:
    builtin = row is not None and row["kind"] == "built-in"
    if row is None:
        st.subheader("New custom mode")
    else:
        st.subheader(f"Edit {ui.md_escape(row['name'])} ({'built-in' if builtin else 'custom'})")
        if builtin:
            st.caption(
                "Your changes replace Kilo Code's definition for everyone in the "
                "organization. “Reset to default” brings the original back."
            )
    config = mode_form(config_of(row) if row else None, builtin=builtin)
    with st.expander("Preview: what this mode can do", expanded=True):
        show_preview(config)
    if st.button("Save", type="primary", key="custom_modes_form_save"):
        # Check first so the problems can be shown with regexes intact (escaped Markdown);
        # the service checks again inside the transaction.
        try:
            modes.validate_mode(config)
        except ValidationError as exc:
            st.error(ui.md_escape(str(exc)), icon=":material/error:")
            return
        if row is None:
            done = ui.run_action(
                lambda s: modes.create_mode(s, actor=actor, mode=config),
                success=f"Created mode {config.name}",
            )
        else:
            done = ui.run_action(
                lambda s: modes.update_mode(s, actor=actor, slug=row["slug"], mode=config),
                success=f"Saved mode {config.name}",
            )
        if done is not None:
            close_dialog()
            st.rerun()


@st.dialog("Duplicate mode", on_dismiss=close_dialog)
def duplicate_dialog(actor: Actor, row: dict, slugs_in_use: list[str]) -> None:
    """`slugs_in_use`: the organization's modes, so the suggested slug is a free one."""
    st.markdown(
        f"Make a new custom mode from **{ui.md_escape(row['name'])}** ({ui.md_code(row['slug'])})."
    )
    taken = set(slugs_in_use) | set(modes.BUILTIN_SLUGS)
    suggestion, n = f"{row['slug']}-copy"[: modes.SLUG_MAX], 2
    while suggestion in taken:
        suggestion, n = f"{row['slug'][: modes.SLUG_MAX - 8]}-copy-{n}", n + 1
    slug = st.text_input("Slug", value=suggestion, key="custom_modes_dup_slug")
    name = st.text_input(
        "Name", value=f"{row['name']} (copy)"[: modes.NAME_MAX], key="custom_modes_dup_name"
    )
    if st.button("Duplicate", type="primary", key="custom_modes_dup_submit"):
        if (
            ui.run_action(
                lambda s: modes.duplicate_mode(
                    s, actor=actor, slug=row["slug"], new_slug=slug.strip(), new_name=name.strip()
                ),
                success=f"Created mode {name}",
            )
            is not None
        ):
            close_dialog()
            st.rerun()


@st.dialog("Delete mode", on_dismiss=close_dialog)
def delete_dialog(actor: Actor, row: dict) -> None:
    st.markdown(
        f"Delete the custom mode **{ui.md_escape(row['name'])}** ({ui.md_code(row['slug'])})?"
    )
    st.caption("Members' editors stop offering it. Export the modes first to keep a copy.")
    if st.button("Delete", type="primary", key="custom_modes_delete_confirm"):
        if ui.run_action(
            lambda s: modes.delete_mode(s, actor=actor, slug=row["slug"]) or True,
            success=f"Deleted mode {row['name']}",
        ):
            close_dialog()
            st.rerun()


@st.dialog("Reset to default", on_dismiss=close_dialog)
def reset_dialog(actor: Actor, row: dict) -> None:
    st.write(
        f"Replace the organization's **{ui.md_escape(row['name'])}** mode with Kilo Code's default "
        "definition? The adjusted version is kept in the audit log."
    )
    if st.button("Reset", type="primary", key="custom_modes_reset_confirm"):
        if (
            ui.run_action(
                lambda s: modes.reset_builtin(s, actor=actor, slug=row["slug"]),
                success=f"{row['name']} reset to Kilo Code's default",
            )
            is not None
        ):
            close_dialog()
            st.rerun()
