"""Passwords: the rule for new ones, hashing and checking.

New passwords (join, change, reset) must have 12-72 bytes, no space at either end (the
sign-in form would never match them) and must not be a common password. The demo accounts
keep `kilo-demo`: the rule applies to passwords people choose, not to the seeded demo.
"""

from __future__ import annotations

import hashlib
import re

import bcrypt

from kilo.errors import ValidationError

MIN_LENGTH = 12
MAX_BYTES = 72  # bcrypt's limit

# Common passwords of 12+ characters (shorter ones are refused by length already), from the
# published most-common lists, compared case-insensitively after dropping trailing digits
# and punctuation ("Password2026!" -> "password").
_COMMON = frozenset(
    """
    password passwordpassword password1234 iloveyouiloveyou qwertyuiopas qwertyuiop
    qwertyuiopasdfghjkl asdfghjklzxcvbnm qwertyqwerty qwerty qwertzuiop azertyuiop 1q2w3e4r5t6y
    1qaz2wsx3edc zaq12wsxcde3 abcdefghijkl abcdefghijklmnopqrstuvwxyz abc123abc123 letmein
    letmeinletmein welcome welcomewelcome changeme changemechangeme administrator admin
    adminadmin superman batman starwars trustno1 football baseball basketball princess
    sunshine monkey dragon master shadow michael jennifer jordan23 whatever freedom
    iloveyou lovelove passw0rd p@ssw0rd p@ssword pa55word secret secretsecret
    default kilocode kilo-code kilo-demo kilodemo
    correcthorsebatterystaple
    """.split()
)
_KEYBOARD_ROWS = (
    "1234567890",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "abcdefghijklmnopqrstuvwxyz",
)


def check_new_password(password: str, *, email: str = "") -> str:
    """The password if it may be chosen; otherwise a ValidationError saying why."""
    password = password or ""
    if password != password.strip():
        raise ValidationError(
            "The password cannot start or end with a space (the sign-in form would not match "
            "it); remove the spaces."
        )
    if len(password) < MIN_LENGTH:
        raise ValidationError(f"The password must have at least {MIN_LENGTH} characters.")
    if len(password.encode()) > MAX_BYTES:
        raise ValidationError(f"The password is too long (at most {MAX_BYTES} bytes).")
    if _is_common(password, email):
        raise ValidationError(
            "This password is too common or too easy to guess; choose a longer phrase that "
            "is not a dictionary word, a keyboard row or your e-mail address."
        )
    return password


def _is_common(password: str, email: str) -> bool:
    lowered = password.lower()
    core = re.sub(r"[\d\W_]+$", "", lowered) or lowered
    if lowered in _COMMON or core in _COMMON:
        return True
    if len(set(lowered)) <= 2:  # aaaaaaaaaaaa, abababababab
        return True
    if any(lowered in row * 3 or lowered in row[::-1] * 3 for row in _KEYBOARD_ROWS):
        return True
    local = email.lower().split("@", 1)[0]
    return bool(local) and (core == local or lowered == email.lower())


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


# A hash of the cost real accounts use, checked against when a username is unknown so that
# unknown and known usernames take the same time.
_DUMMY_HASH = bcrypt.hashpw(b"no such member", bcrypt.gensalt()).decode()


def verify(password: str, password_hash: str | None) -> bool:
    """bcrypt check in constant-ish time; a missing hash still costs one bcrypt round."""
    raw = (password or "").encode()
    if len(raw) > MAX_BYTES:  # bcrypt refuses these; still spend the same time
        raw = raw[:MAX_BYTES]
        bcrypt.checkpw(raw, (password_hash or _DUMMY_HASH).encode())
        return False
    try:
        ok = bcrypt.checkpw(raw, (password_hash or _DUMMY_HASH).encode())
    except ValueError:  # a malformed stored hash
        return False
    return ok and password_hash is not None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
