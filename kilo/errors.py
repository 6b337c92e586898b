"""Errors a user can cause. Their message is shown as-is in the UI and the CLI."""


class KiloError(Exception):
    """Base class: the message explains what went wrong and what to do."""


class ValidationError(KiloError):
    """Bad input; nothing was changed."""


class PermissionDenied(KiloError):
    """The actor's role does not allow this action."""


class NotFound(KiloError):
    """The thing asked for does not exist (or is not in the actor's organization)."""


class Conflict(KiloError):
    """The change clashes with the current state (duplicate, last owner, seats...)."""
