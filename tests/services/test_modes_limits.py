"""Custom Modes import refuses what would exhaust the server: YAML anchors and aliases (an
"alias bomb"), documents over 1 MB, and nesting deeper than Python recurses. In the
service, so the tab and `python -m kilo modes-import` refuse alike."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kilo import modes
from kilo.__main__ import main
from tests.factories import create_team

ROOT = Path(__file__).resolve().parents[2]

# 489 bytes that name 9**9 (387 million) strings through nested aliases. Building the
# Python value is cheap (aliases share one list), but anything that walks it (validation
# messages quote a bad entry) expands every alias: minutes of CPU, gigabytes of memory.
BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
    "customModes:\n"
    "  - slug: lol\n"
    "    name: Lol\n"
    "    roleDefinition: r\n"
    "    groups: [*i]\n"
    "  # padded to the 489 bytes of the security review's file --------\n"
)
VALID = "customModes:\n  - slug: ok-mode\n    name: Ok\n    roleDefinition: r\n    groups: []\n"
ALIASED = (
    "customModes:\n"
    "  - &base\n"
    "    slug: first\n"
    "    name: First\n"
    "    roleDefinition: r\n"
    "    groups: [read]\n"
    "  - slug: second\n"
    "    name: Second\n"
    "    roleDefinition: r\n"
    "    groups: *groups\n"
)


def _limit_memory() -> None:  # in the child: a runaway expansion fails instead of swapping
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_alias_bomb_is_refused_at_once_without_expanding():
    assert len(BOMB.encode()) == 489  # the size of the reported file
    script = (
        "import sys, time\n"
        "from kilo import modes\n"
        "text = sys.stdin.read()\n"
        "t = time.perf_counter()\n"
        "problems = modes.parse_document(text).problems\n"
        "print(time.perf_counter() - t)\n"
        "print(problems)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=BOMB,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        preexec_fn=_limit_memory,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    seconds, problems = proc.stdout.splitlines()
    assert float(seconds) < 1.0
    assert "YAML anchor or alias (&name or *name) at line 1, column 4" in problems


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (ALIASED, "line 2, column 5"),  # an anchor, even one never used
        (VALID.replace("groups: []", "groups: *nothing"), "line 5, column 13"),
        ("base: &b {name: Ok}\n" + VALID, "line 1, column 7"),
    ],
)
def test_every_anchor_and_alias_is_refused_with_its_place(text, where):
    parsed = modes.parse_document(text)
    assert parsed.modes == []
    assert parsed.problems == [
        f"The document uses a YAML anchor or alias (&name or *name) at {where}. They are not "
        "accepted here (Kilo Code's files do not need them): write each value out in full."
    ]


def test_merge_keys_work_without_aliases_only():
    merged = modes.parse_document(VALID + "    <<: {description: merged}\n")
    assert merged.problems == [] and merged.modes[0].description == "merged"
    aliased = modes.parse_document("x: &x {description: d}\n" + VALID + "    <<: *x\n")
    assert aliased.modes == [] and "anchor or alias" in aliased.problems[0]


def test_documents_over_1_mb_are_refused_before_parsing():
    limit = modes.MAX_DOCUMENT_BYTES
    assert limit == 1_048_576
    at_limit = VALID + "#" * (limit - len(VALID) - 1) + "\n"
    assert len(at_limit.encode()) == limit
    assert modes.parse_document(at_limit).problems == []
    too_large = "The document is larger than 1 MB, the limit; import the modes in smaller files."
    assert modes.parse_document(at_limit + "#").problems == [too_large]
    # Bytes count, not characters: 600,000 two-byte characters are 1.2 MB.
    wide = VALID + "# " + "é" * 600_000 + "\n"
    assert len(wide) < limit < len(wide.encode())
    assert modes.parse_document(wide).problems == [too_large]
    # Refused without reading it: far faster than parsing it would be.
    huge = VALID + "#" * (50 * limit)
    started = time.perf_counter()
    assert modes.parse_document(huge).problems == [too_large]
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    "text",
    [
        "customModes: " + "[" * 5000 + "]" * 5000,
        '{"customModes": ' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
)
def test_nesting_too_deep_is_a_message_not_a_crash(text):
    assert modes.parse_document(text).problems == [
        "The document is nested too deeply to be a customModes document."
    ]


@pytest.fixture
def org_id(session):
    team = create_team(session)
    session.commit()
    return team["owner"].org_id


def test_cli_import_refuses_aliases_and_large_files(org_id, tmp_path, capsys):
    aliased = tmp_path / "aliased.yaml"
    aliased.write_text(ALIASED)
    assert main(["modes-import", str(aliased)]) == 2
    err = capsys.readouterr().err
    assert "invalid: The document uses a YAML anchor or alias" in err
    assert "nothing was imported" in err
    large = tmp_path / "large.yaml"
    large.write_text(VALID + "#" * (3 * modes.MAX_DOCUMENT_BYTES) + "\n")
    assert main(["modes-import", str(large)]) == 2
    assert "invalid: The document is larger than 1 MB" in capsys.readouterr().err
    assert main(["modes-import", str(large), "--dry-run"]) == 2
