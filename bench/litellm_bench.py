"""The LiteLLM proxy with and without this project's plugin, side by side, in one run.

    make test            # once: installs .venv-litellm (requirements-litellm.lock)
    .venv/bin/python -m bench.litellm_bench [--clients 16] [--seconds 20]

Builds the demo organization in a fresh SQLite database, starts the dashboard
(`streamlit run server.py`) and two LiteLLM proxies with the same mocked model
(`mock_response`, no network): one plain (clients use its master key), one with the plugin
(`custom_auth` + the usage logger; clients use a member's Kilo API key). The same load, N
concurrent clients on keep-alive connections posting chat completions for --seconds, runs
through each in turn; it prints requests/s, p50 and p95 of both and the ratio, then checks
that every request through the plugin reached the dashboard's usage.

Target: the plugin costs at most 10% of throughput and adds at most 5 ms at p95.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from bench.gateway_bench import MODEL, PROVIDER, ROOT, free_port, pct, prepare, start_server

LITELLM = ROOT / ".venv-litellm" / "bin" / "litellm"
MASTER_KEY = "sk-bench-master-key"


def config(plugin: bool, parts: tuple[str, ...] = ("auth", "usage")) -> dict:
    cfg = {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_key": "not-used",
                    "mock_response": "Hello from a mocked model.",
                },
                "model_info": {"kilo_provider": PROVIDER},
            }
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }
    if plugin and "auth" in parts:
        cfg["general_settings"]["custom_auth"] = "kilo_litellm.auth.user_api_key_auth"
    if plugin and "usage" in parts:
        cfg["litellm_settings"] = {"callbacks": "kilo_litellm.usage.usage_logger"}
    return cfg


def start_proxy(
    workdir: Path, plugin: bool, env_extra: dict[str, str], parts: tuple[str, ...] = ()
) -> tuple:
    name = "-".join(parts) if plugin else "plain"
    path = workdir / f"litellm-{name}.yaml"
    path.write_text(yaml.safe_dump(config(plugin, parts)))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("KILO_")}
    env.update(PYTHONPATH=str(ROOT), LITELLM_LOCAL_MODEL_COST_MAP="True", **env_extra)
    log = workdir / f"litellm-{name}.log"
    cmd = [str(LITELLM), "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        cmd, cwd=workdir, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/liveliness", timeout=2)
            return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"the {name} proxy did not start; see {log}") from None
            time.sleep(0.5)


def load(port: int, key: str, clients: int, seconds: float) -> dict:
    """`clients` threads posting chat completions for `seconds`; latencies of 200s."""
    body = json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": "Say hello"}]}
    ).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    failures: list[int] = []
    call_ids: list[str] = []
    lock = threading.Lock()
    end = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, bad, ids = [], [], []
        while time.perf_counter() < end:
            t = time.perf_counter()
            conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                mine.append((time.perf_counter() - t) * 1000)
                ids.append(resp.getheader("x-litellm-call-id") or "")
            else:
                bad.append(resp.status)
        conn.close()
        with lock:
            latencies.extend(mine)
            failures.extend(bad)
            call_ids.extend(ids)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - started
    return {
        "rate": len(latencies) / elapsed,
        "p50": pct(latencies, 50),
        "p95": pct(latencies, 95),
        "failures": failures,
        "call_ids": call_ids,
    }


def stored_ids(url: str, org_id: int) -> set[str]:
    from sqlmodel import select

    from kilo.db import read_session
    from kilo.models import UsageEvent

    with read_session(url) as s:
        rows = s.exec(select(UsageEvent.external_id).where(UsageEvent.org_id == org_id)).all()
    return {r for r in rows if r}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--parts",
        action="store_true",
        help="also run the plugin's decisions without its usage logger",
    )
    args = parser.parse_args()
    if not LITELLM.exists():
        raise SystemExit(f"{LITELLM} is missing: run `make test` once (it installs LiteLLM)")
    workdir = Path(tempfile.mkdtemp(prefix="kilo-litellm-bench-"))
    url = f"sqlite:///{workdir / 'kilo.db'}"
    ctx = prepare(url)
    port = free_port()
    server = start_server(url, port, workdir / "streamlit.log")
    procs = [server]
    try:
        plain, plain_port = start_proxy(workdir, False, {})
        procs.append(plain)
        env = {
            "KILO_DASHBOARD_URL": f"http://127.0.0.1:{port}",
            "KILO_GATEWAY_TOKEN": ctx["token"],
            "KILO_SPOOL_DIR": str(workdir / "spool"),
        }
        runs = [("without plugin", plain_port, MASTER_KEY)]
        variants = [("with plugin", ("auth", "usage"), ctx["key"])]
        if args.parts:
            # Usage alone cannot run: without the plugin's decisions no member is known.
            variants.append(("decisions only", ("auth",), ctx["key"]))
        for name, parts, key in variants:
            proc, p = start_proxy(workdir, True, env, parts)
            procs.append(proc)
            runs.append((name, p, key))
        results = {}
        for name, p, key in runs:
            load(p, key, args.clients, args.warmup)  # warm-up, not counted
            results[name] = load(p, key, args.clients, args.seconds)
        print(f"LiteLLM proxy, mocked model, {args.clients} clients, {args.seconds:g} s each")
        for name, r in results.items():
            print(
                f"{name:15s} {r['rate']:7.1f} req/s   p50 {r['p50']:6.1f} ms   "
                f"p95 {r['p95']:6.1f} ms   failed {len(r['failures'])}"
            )
        base, plug = results["without plugin"], results["with plugin"]
        print(
            f"plugin: {plug['rate'] / base['rate']:.1%} of the throughput, "
            f"p95 {plug['p95'] - base['p95']:+.1f} ms"
        )
        wanted = set(plug["call_ids"])
        deadline = time.monotonic() + 60
        while not wanted <= stored_ids(url, ctx["org_id"]) and time.monotonic() < deadline:
            time.sleep(0.5)
        missing = len(wanted - stored_ids(url, ctx["org_id"]))
        print(f"usage of the plugin's {len(wanted):,} requests on the dashboard: missing {missing}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
