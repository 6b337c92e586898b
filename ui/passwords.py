"""The "new password, typed twice" fields of the Account, reset-password and accept-invitation
forms, and the check after submitting that both say the same."""

from __future__ import annotations

import streamlit as st

from kilo import passwords

DIFFER = "The two passwords differ; type the same password twice."


def new_password_fields(
    label: str = "New password",
    repeat_label: str = "Repeat the new password",
    *,
    key: str | None = None,
    repeat_key: str | None = None,
    max_chars: int | None = 1024,
) -> tuple[str, str]:
    """Inside a form: the new password (its label says the minimum length) and the same again.

    Returns both as typed; `passwords_match` checks them once the form is submitted."""
    password = st.text_input(
        f"{label} (at least {passwords.MIN_LENGTH} characters)",
        type="password",
        max_chars=max_chars,
        key=key,
    )
    again = st.text_input(repeat_label, type="password", max_chars=max_chars, key=repeat_key)
    return password, again


def passwords_match(password: str, again: str, *, message: str = DIFFER) -> bool:
    """Whether the two fields say the same; if not, shows `message` as an error."""
    if password != again:
        st.error(message)
        return False
    return True
