"""Demo data: two custom modes and an adjusted architect, written by the owner (a step of
`python -m kilo seed`)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from kilo.members import actor_for
from kilo.modes.builtins import builtin_default
from kilo.modes.service import import_modes, update_mode

DEMO_MODES = """\
customModes:
  - slug: test-engineer
    name: 🧪 Test Engineer
    roleDefinition: You are Kilo Code, a QA engineer for Acme Robotics' firmware and fleet \
services. You write focused, deterministic tests (pytest for services, GoogleTest for firmware) \
and explain every failure you find.
    whenToUse: Use this mode to add or fix tests, raise coverage before a release, or reproduce \
a reported bug as a failing test.
    description: Write and fix tests
    groups:
      - read
      - command
      - - edit
        - fileRegex: (^|/)(tests?|__tests__)/|_test\\.(py|cc|go)$|\\.test\\.(ts|tsx)$
          description: Test files only
    customInstructions: |-
      - Run the narrowest test command first, then the package's suite.
      - Never weaken an assertion to make a test pass; report the bug instead.
      - Hardware-in-the-loop tests live in hil/ and need a lab slot: do not run them.
  - slug: security-reviewer
    name: 🔒 Security Reviewer
    roleDefinition: You are Kilo Code, an application security reviewer. You read code changes \
for injection, authentication and authorization flaws, secrets in code, unsafe deserialization \
and dependency risks, and you report findings with severity and a concrete fix.
    whenToUse: Use this mode before merging changes that touch authentication, the fleet API, \
or anything that parses input from robots in the field.
    description: Review changes for security issues
    groups:
      - read
      - - edit
        - fileRegex: ^docs/security/.*\\.md$
          description: Security review notes only
      - mcp
"""


def seed_demo(session: Session, org: Any, owner_member: Any, rng: Any) -> None:
    """Two custom modes and an adjusted architect (may also edit diagrams), by the owner."""
    actor = actor_for(owner_member)
    import_modes(session, actor=actor, text=DEMO_MODES)
    architect = builtin_default("architect")
    architect.groups[1] = [
        "edit",
        {"fileRegex": r"\.(md|mmd|puml)$", "description": "Markdown and diagram files only"},
    ]
    architect.custom_instructions += (
        "\n\nAcme Robotics: architecture decision records go in docs/adr/ as "
        "NNNN-title.md; draw sequence diagrams in PlantUML (.puml)."
    )
    update_mode(session, actor=actor, slug="architect", mode=architect)
