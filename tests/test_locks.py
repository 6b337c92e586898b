"""The hash locks agree with the human-edited requirements files.

requirements.txt, requirements-dev.txt and requirements-litellm.txt are edited by hand; `make
lock` turns them into requirements.lock, requirements-dev.lock and requirements-litellm.lock
(every version pinned, every file hashed), which `make run` and `make test` install with
`pip install --require-hashes`. A requirement added
or changed without `make lock` fails here, naming the file and the package.
"""

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PAIRS = [
    ("requirements.txt", "requirements.lock"),
    ("requirements-dev.txt", "requirements-dev.lock"),
    ("requirements-litellm.txt", "requirements-litellm.lock"),
]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>[^\s;\\]+)(?P<rest>.*)$")


def requirements(path: Path) -> list[Requirement]:
    """The requirements of a file, following `-r other.txt` lines."""
    found: list[Requirement] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r"):
            found += requirements(path.parent / line[2:].strip())
        elif line:
            found.append(Requirement(line))
    return found


def pins(path: Path) -> dict[str, list[tuple[Version, list[str]]]]:
    """name -> [(version, hashes)] of a lock (a name repeats when markers split it)."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    found: dict[str, list[tuple[Version, list[str]]]] = {}
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if match:
            hashes = re.findall(r"--hash=(sha256:[0-9a-f]{64})", match["rest"])
            found.setdefault(canonicalize_name(match["name"]), []).append(
                (Version(match["version"]), hashes)
            )
    return found


@pytest.mark.parametrize(("source", "lock"), PAIRS)
def test_every_requirement_is_pinned_and_hashed(source, lock):
    assert (ROOT / lock).exists(), f"{lock} is missing: run `make lock`"
    locked = pins(ROOT / lock)
    for req in requirements(ROOT / source):
        versions = [v for v, _ in locked.get(canonicalize_name(req.name), [])]
        assert versions, f"{source} needs {req.name}, which {lock} does not pin: run `make lock`"
        assert any(req.specifier.contains(v, prereleases=True) for v in versions), (
            f"{lock} pins {req.name} {versions}, outside {source}'s {req.specifier}: "
            "run `make lock`"
        )
    for name, entries in locked.items():
        assert all(hashes for _, hashes in entries), f"{lock}: {name} has no hash"


def test_the_dev_lock_pins_the_runtime_versions():
    runtime, dev = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements-dev.lock")
    differ = {n: (runtime[n], dev.get(n)) for n in runtime if runtime[n] != dev.get(n)}
    assert not differ, f"the locks disagree (run `make lock`): {sorted(differ)}"


def test_litellm_is_one_exact_version():
    """A LiteLLM release (1.107.0) was compromised in 2026: never a range."""
    (req,) = [r for r in requirements(ROOT / "requirements-litellm.txt") if r.name == "litellm"]
    assert str(req.specifier).startswith("==") and len(req.specifier) == 1, req
    assert "1.107.0" not in str(req.specifier)
    assert [v for v, _ in pins(ROOT / "requirements-litellm.lock")["litellm"]] == [
        Version(str(req.specifier)[2:])
    ]


def test_make_installs_from_the_locks_with_hashes():
    makefile = (ROOT / "Makefile").read_text()
    for lock in ("requirements.lock", "requirements-dev.lock", "requirements-litellm.lock"):
        assert f"pip install -q --require-hashes -r {lock}" in makefile
