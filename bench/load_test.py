"""Load test of the REST API: concurrent clients sending single reviews to POST /predict.

Starts `python -m sentiment_core serve --run RUN` on a free 127.0.0.1 port (its own process, access
log off), waits for /health, warms it up, then runs `--clients` async httpx clients, each sending one
review per request and waiting for the answer before the next, until `--duration` seconds or
`--requests` requests, whichever comes first. Prints requests/s, p50/p90/p99/max latency and errors,
and whether the target (>= 200 requests/s, p99 < 150 ms, no errors) was met; stops the server.

    IMDB_DATA=../shared/data/imdb python bench/load_test.py --run bow-full [--clients 16] [--duration 20]
        [--requests 20000] [--workers 1] [--reviews 500] [--json]
    python bench/load_test.py --url http://127.0.0.1:8000      # a server that is already running

Reviews come from the test split of IMDB_DATA (or --data) when it can be read, else hand-written ones.
Only loopback addresses are ever targeted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_RPS, TARGET_P99_MS = 200.0, 150.0
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reviews(source: str | None, n: int, seed: int = 0) -> list[str]:
    """n test reviews from the data source, or the hand-written examples when it cannot be read."""
    from sentiment_core.examples import HAND_WRITTEN_EXAMPLES

    try:
        import datasets

        from sentiment_core.data import load_imdb

        datasets.disable_progress_bars()
        test = load_imdb(source)["test"].shuffle(seed=seed)
        texts = list(test.select(range(min(n, len(test))))["text"])
        if texts:
            return texts
    except (ValueError, OSError) as error:
        print(f"(test split unreadable: {error}; using the hand-written reviews)", file=sys.stderr)
    return list(HAND_WRITTEN_EXAMPLES.values())


def start_server(run_id: str | None, port: int, workers: int, log_path: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "sentiment_core", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    if run_id:
        command += ["--run", run_id]
    log = log_path.open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=os.getcwd())


def wait_healthy(url: str, process: subprocess.Popen | None, timeout: float, log_path: Path | None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:] if log_path else ""
            raise SystemExit(f"the server exited with status {process.returncode}:\n{tail}")
        try:
            response = httpx.get(f"{url}/health", timeout=2)
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the server did not answer {url}/health within {timeout:.0f} s")


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system) used so far by a process and its children (the uvicorn workers)."""
    if pid is None:
        return None
    try:
        import psutil

        root = psutil.Process(pid)
        total = 0.0
        for process in [root, *root.children(recursive=True)]:
            times = process.cpu_times()
            total += times.user + times.system
        return total
    except Exception:  # noqa: BLE001 - psutil missing or the process gone: no CPU figure
        return None


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass
class Server:
    """The server under test: its URL, the process when this script started it, its /health answer,
    and (once stopped) the started server's log."""

    url: str
    process: subprocess.Popen | None
    health: dict
    log: str = ""


@contextlib.contextmanager
def api_server(url: str | None, run_id: str | None, workers: int, startup_timeout: float):
    """The already-running loopback server at `url`, or `serve --run run_id` on a free 127.0.0.1 port,
    healthy; a started server is stopped on exit. Yields a `Server`."""
    if url and urlparse(url).hostname not in LOOPBACK:
        print("error: --url must be a loopback address (127.0.0.1, localhost, ::1)", file=sys.stderr)
        raise SystemExit(2)
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server.log"
        process = None
        if url:
            url = url.rstrip("/")
        else:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            process = start_server(run_id, port, workers, log_path)
        server = None
        try:
            server = Server(url, process, wait_healthy(url, process, startup_timeout, log_path if process else None))
            yield server
        finally:
            if process is not None:
                stop_server(process)
                if server is not None:
                    server.log = log_path.read_text(errors="replace")


class AiohttpClient:
    """The few calls run_load makes, on aiohttp: a third of httpx's CPU per request, which matters
    when the load generator shares two cores with the server it measures."""

    def __init__(self, url: str, clients: int, headers: dict[str, str]):
        import aiohttp

        self.aiohttp = aiohttp
        self.url = url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=clients), headers=headers,
            timeout=aiohttp.ClientTimeout(total=30))

    async def post_predict(self, text: str) -> tuple[int, dict | None]:
        async with self.session.post(f"{self.url}/predict", json={"texts": [text]}) as response:
            return response.status, await response.json() if response.status == 200 else None

    async def close(self) -> None:
        await self.session.close()


class HttpxClient:
    def __init__(self, url: str, clients: int, headers: dict[str, str]):
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        self.client = httpx.AsyncClient(base_url=url, limits=limits, timeout=30, headers=headers)

    async def post_predict(self, text: str) -> tuple[int, dict | None]:
        response = await self.client.post("/predict", json={"texts": [text]})
        return response.status_code, response.json() if response.status_code == 200 else None

    async def close(self) -> None:
        await self.client.aclose()


def make_client(kind: str, url: str, clients: int, headers: dict[str, str]):
    if kind == "auto":
        kind = "aiohttp" if importlib.util.find_spec("aiohttp") else "httpx"
    return (AiohttpClient if kind == "aiohttp" else HttpxClient)(url, clients, headers)


async def run_load(url: str, texts: list[str], clients: int, duration: float, max_requests: int,
                   headers: dict[str, str], warmup: int = 50, client_kind: str = "auto") -> dict:
    client = make_client(client_kind, url, clients, headers)
    try:
        for index in range(warmup):  # first requests pay for lazy set-up; they are not counted
            await client.post_predict(texts[index % len(texts)])
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        sent = 0
        started = time.perf_counter()
        deadline = started + duration

        async def one_client(offset: int) -> None:
            nonlocal sent
            index = offset
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                text = texts[index % len(texts)]
                index += clients
                began = time.perf_counter()
                try:
                    status, body = await client.post_predict(text)
                    key = str(status)
                    if status == 200 and len(body["predictions"]) != 1:
                        key = "bad-body"
                except Exception as error:  # noqa: BLE001 - any transport error is counted, by its name
                    key = type(error).__name__
                latencies.append(time.perf_counter() - began)
                statuses[key] = statuses.get(key, 0) + 1

        await asyncio.gather(*(one_client(offset) for offset in range(clients)))
        elapsed = time.perf_counter() - started
    finally:
        await client.close()
    ms = np.array(latencies) * 1000
    errors = sum(count for key, count in statuses.items() if key != "200")
    return {
        "requests": len(latencies), "seconds": round(elapsed, 2), "clients": clients,
        "requests_per_s": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
        "p90_ms": round(float(np.percentile(ms, 90)), 1) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 1) if len(ms) else None,
        "max_ms": round(float(ms.max()), 1) if len(ms) else None,
        "errors": errors, "statuses": statuses,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="run to serve (default: the best finished run)")
    parser.add_argument("--url", help="test this already-running server (loopback only) instead of starting one")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load at most (default 20)")
    parser.add_argument("--requests", type=int, default=20_000, help="requests at most (default 20000)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the started server (default 1)")
    parser.add_argument("--reviews", type=int, default=500, help="distinct test reviews to send (default 500)")
    parser.add_argument("--data", metavar="SRC", help="IMDB source for the reviews (default: IMDB_DATA)")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--client", choices=["auto", "aiohttp", "httpx"], default="auto",
                        help="HTTP client of the load generator (auto: aiohttp when installed, else httpx)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line too")
    args = parser.parse_args(argv)
    if args.client == "auto":
        args.client = "aiohttp" if importlib.util.find_spec("aiohttp") else "httpx"
    if not (1 <= args.clients <= 256 and 0 < args.duration <= 600 and 1 <= args.requests <= 1_000_000):
        parser.error("keep the load bounded: 1-256 clients, at most 600 s and 1,000,000 requests")

    from sentiment_core.settings import get_settings

    api_key = get_settings().api_key
    headers = {"X-API-Key": api_key.get_secret_value()} if api_key and api_key.get_secret_value() else {}
    texts = reviews(args.data, args.reviews)
    with api_server(args.url, args.run, args.workers, args.startup_timeout) as server:
        process, health = server.process, server.health
        print(f"server: {server.url} run {health.get('run')} ({health.get('family')}, {health.get('device')}), "
              f"{args.workers if process else '?'} worker(s); {len(texts)} distinct reviews, "
              f"median {int(np.median([len(t) for t in texts]))} characters; client: {args.client}")
        cpu_before = cpu_seconds(process.pid if process else None)
        client_cpu_before = time.process_time()
        result = asyncio.run(run_load(server.url, texts, args.clients, args.duration, args.requests, headers,
                                      client_kind=args.client))
        client_cpu = time.process_time() - client_cpu_before
        cpu_after = cpu_seconds(process.pid if process else None)
    result.update(run=health.get("run"), family=health.get("family"), workers=args.workers if process else None,
                  client=args.client)
    if cpu_before is not None and cpu_after is not None and result["requests"]:
        result["server_cpu_ms_per_request"] = round((cpu_after - cpu_before) * 1000 / result["requests"], 2)
    if result["requests"]:
        result["client_cpu_ms_per_request"] = round(client_cpu * 1000 / result["requests"], 2)
    met = (result["requests_per_s"] >= TARGET_RPS and result["p99_ms"] is not None
           and result["p99_ms"] < TARGET_P99_MS and result["errors"] == 0)
    result["target_met"] = met
    print(f"{result['requests']} requests in {result['seconds']} s from {args.clients} clients: "
          f"{result['requests_per_s']} requests/s")
    print(f"latency ms: p50 {result['p50_ms']}  p90 {result['p90_ms']}  p99 {result['p99_ms']}  max {result['max_ms']}")
    print(f"errors: {result['errors']}  statuses: {result['statuses']}")
    if "server_cpu_ms_per_request" in result:
        print(f"server CPU per request: {result['server_cpu_ms_per_request']} ms "
              "(user + system time of the server processes over the measured requests)")
    if "client_cpu_ms_per_request" in result:
        print(f"client CPU per request: {result['client_cpu_ms_per_request']} ms (this load generator shares "
              f"the machine's {os.cpu_count()} cores with the server)")
    print(f"target (>= {TARGET_RPS:.0f} requests/s, p99 < {TARGET_P99_MS:.0f} ms, no errors): "
          f"{'met' if met else 'NOT met'}")
    if args.json:
        print(json.dumps(result))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
