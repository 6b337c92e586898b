"""A real `streamlit run server.py` (dashboard and HTTP API) on a fresh demo database, and
headless Debian Chromium."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.smtp_server import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("KILO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@contextmanager
def dashboard(workdir: Path, port: int | None = None, **env_extra: str) -> Iterator[str]:
    """`streamlit run server.py` (dashboard and /api/) on `port` (a free one by default) with
    its own SQLite database in `workdir` (an empty one is seeded with the demo on first run
    unless KILO_DEMO=0); yields its URL."""
    port = port or free_port()
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{workdir / 'kilo.db'}",
        KILO_COOKIE_KEY=secrets.token_urlsafe(32),
        KILO_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    env.pop("KILO_TEST_DATABASE_URL", None)
    env.update(env_extra)
    log = (workdir / "streamlit.log").open("a")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "server.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"streamlit exited: see {log.name}") from None
                time.sleep(0.5)
        else:
            raise RuntimeError("streamlit did not become healthy in 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard on a free port with its own empty database (seeded on first run)."""
    with dashboard(tmp_path_factory.mktemp("e2e")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make test` (installs chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
