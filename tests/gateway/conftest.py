"""A real LiteLLM proxy process (from .venv-litellm, the pinned version) with this project's
plugin, in front of a real dashboard server; models answer with `mock_response`, so no
request leaves the machine."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import ROOT
from tests.smtp_server import free_port

LITELLM = ROOT / ".venv-litellm" / "bin" / "litellm"
MASTER_KEY = "sk-test-master-key"
SONNET = "anthropic/claude-sonnet-4.5"
OPUS = "anthropic/claude-opus-4.5"
TRAINED = "acme/open-model"
FAILING = "anthropic/claude-haiku-4.5"  # its provider answers 500

MODELS = [  # (model the client asks for = the dashboard's model id, catalogue provider)
    (SONNET, "anthropic"),
    (OPUS, "anthropic"),
    (TRAINED, "trainy"),
    (FAILING, "anthropic"),
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/gateway/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.xdist_group("litellm"))


EXAMPLE = ROOT / "kilo_litellm" / "litellm.example.yaml"


def proxy_config() -> dict:
    """The config a team copies (README, "Connect a gateway": its plugin lines, as they are)
    with mocked models in place of the real ones."""
    example = yaml.safe_load(EXAMPLE.read_text())
    return {
        "model_list": [
            {
                "model_name": name,
                "litellm_params": {
                    "model": "openai/gpt-4o",  # priced by LiteLLM's local cost map
                    "api_key": "not-used",
                    "mock_response": "litellm.InternalServerError"
                    if name == FAILING
                    else "Hello from a mocked model.",
                },
                "model_info": {"kilo_provider": provider},
            }
            for name, provider in MODELS
        ],
        "general_settings": example["general_settings"] | {"master_key": MASTER_KEY},
        "litellm_settings": example["litellm_settings"],
    }


@contextmanager
def litellm_proxy(
    workdir: Path, *, dashboard_url: str, gateway_token: str, plugin: bool = True, **env_extra: str
) -> Iterator[str]:
    """`litellm --config` on a free port; yields its base URL (…/v1 for OpenAI clients)."""
    if not LITELLM.exists():
        pytest.fail(f"{LITELLM} is missing: `make test` installs requirements-litellm.lock")
    config = proxy_config()
    if not plugin:
        del config["general_settings"]["custom_auth"], config["litellm_settings"]
    path = workdir / ("litellm.yaml" if plugin else "litellm-plain.yaml")
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("KILO_", "OPENAI_", "DATABASE"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        KILO_DASHBOARD_URL=dashboard_url,
        KILO_GATEWAY_TOKEN=gateway_token,
        KILO_SPOOL_DIR=str(workdir / "spool"),
        **env_extra,
    )
    log = (workdir / "litellm.log").open("a")
    proc = subprocess.Popen(
        [str(LITELLM), "--config", str(path), "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/health/liveliness", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"litellm exited: see {log.name}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError("litellm did not start in 120 s") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
