"""Every service that writes an audit entry (i.e. changes something) checks permissions.

A static walk of kilo/ and its subpackages: a public function that can reach
`audit.record(...)` must also reach `ensure_allowed(...)`, unless it is listed below with the
reason it is authorised otherwise.
A new mutating service without a permission check makes this test fail.
"""

import ast
from pathlib import Path

from kilo.permissions import ACTIONS, ROLES, Actor, allowed

KILO = Path(__file__).resolve().parents[2] / "kilo"

# function name -> why it needs no role check
AUTHORISED_OTHERWISE = {
    "accept_invitation": "the single-use invitation token is the authorisation",
    "sign_in": "the password is the authorisation (throttled, failures audited)",
    "sign_out": "the session's own token ends that session",
    "change_password": "the member's own account; the current password is required",
    "sign_out_everywhere": "the member's own sessions",
    "reset_password": "the single-use reset token is the authorisation",
    "seed": "demo seeding runs from the command line on an empty database",
    "seed_demo": "a step of the demo seed",
    "demo_events": "billing's steps of the demo seed (kilo.demo runs them)",
    # Money that Stripe reports as paid or refunded: authorised by Stripe, not by a role.
    # Reached only from a signature-verified webhook, a session fetched from Stripe's API,
    # or an owner's checked call (start_credit_purchase / refund_purchase / complete_checkout).
    "apply_webhook": "the Stripe-Signature header is verified with the webhook secret",
    "apply_event": "called by apply_webhook after signature verification",
    "invoice_paid": "a verified Stripe event",
    "invoice_payment_failed": "a verified Stripe event",
    "charge_refunded": "a verified Stripe event",
    "upsert_stripe_invoice": "an invoice from a verified event or from Stripe's API during "
    "sync_stripe, which checks its actor (billing.change)",
    "apply_checkout_session": "a Checkout Session retrieved from Stripe's API",
    "record_credit_purchase": "called only with a payment confirmed by Stripe or demo mode",
    "record_refund": "called only with a refund confirmed by Stripe or an owner's refund",
}


def _graph() -> tuple[dict[str, set[str]], dict[str, ast.FunctionDef]]:
    calls: dict[str, set[str]] = {}
    defs: dict[str, ast.FunctionDef] = {}
    for path in KILO.glob("**/*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        module = ".".join(path.relative_to(KILO).with_suffix("").parts)  # e.g. modes.service
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                key = f"{module}.{node.name}"
                defs[key] = node
                names = set()
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Call):
                        f = sub.func
                        if isinstance(f, ast.Name):
                            names.add(f.id)
                        elif isinstance(f, ast.Attribute):
                            names.add(f.attr)
                            if isinstance(f.value, ast.Name) and f.value.id == "audit":
                                names.add("audit.record" if f.attr == "record" else f.attr)
                calls[key] = names
    return calls, defs


def _reaches(calls: dict[str, set[str]], start: str, target: str) -> bool:
    by_name: dict[str, list[str]] = {}
    for key in calls:
        by_name.setdefault(key.rsplit(".", 1)[1], []).append(key)
    seen, stack = set(), [start]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        for name in calls.get(key, ()):
            if name == target:
                return True
            stack.extend(by_name.get(name, []))
    return False


def test_every_mutating_service_checks_permissions():
    calls, defs = _graph()
    missing = []
    for key in defs:
        module, name = key.rsplit(".", 1)
        package = module.split(".")[0]  # kilo/audit.py or kilo/audit/*.py alike
        # (cli: commands run on the server as the trusted system actor, like __main__)
        if name.startswith("_") or package in {"audit", "__main__", "demo", "cli"}:
            continue
        if not _reaches(calls, key, "audit.record"):
            continue
        if name in AUTHORISED_OTHERWISE:
            continue
        if not _reaches(calls, key, "ensure_allowed"):
            missing.append(key)
    assert not missing, f"mutating services without ensure_allowed: {missing}"


def test_walk_finds_known_services():
    calls, _ = _graph()
    assert _reaches(calls, "invitations.invite_member", "audit.record")
    assert _reaches(calls, "invitations.invite_member", "ensure_allowed")
    assert not _reaches(calls, "invitations.find_invitation", "audit.record")


# Actions no role may take: only the server operator, from the command line.
OPERATOR_ONLY = {"catalog.import"}


def test_role_table_is_complete_and_system_is_trusted():
    for action, roles in ACTIONS.items():
        assert roles <= set(ROLES), action
        if action in OPERATOR_ONLY:
            assert not roles, f"{action} belongs to the server operator"
        else:
            assert "owner" in roles, f"owners can do everything in their organization: {action}"
        system = Actor(id=None, org_id=1, role="system", name="cli", email="")
        assert allowed(system, action)
