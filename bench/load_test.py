"""Load test of the REST API: concurrent clients sending single reviews to POST /predict.

Starts `python -m sentiment_core serve --run RUN` on a free 127.0.0.1 port (its own process, access
log off), waits for /health, warms it up, then runs `--clients` async clients, each sending one
review per request and waiting for the answer before the next, until `--duration` seconds or
`--requests` requests, whichever comes first. Prints requests/s, p50/p90/p99/max latency and errors,
and whether the target (>= 200 requests/s, p99 < 150 ms, no errors) was met; stops the server.

`--mix` measures the isolation of explanations from predictions on the same server: first
predictions only (`--clients`, default 8, for `--duration` seconds), then the same prediction load
while `--explain-clients` (2) clients send POST /explain continuously (`--explain-steps` 200 steps
of Integrated Gradients on a test review of about `--explain-words` 800 words; after a 503 a client
waits its Retry-After). Prints /predict's p50/p90/p99 and requests/s in both phases and their ratio,
/explain's answered / 503 / other counts and latencies, the deepest queues /health reported, and
whether the target (/predict p99 < 100 ms and at least half its predictions-only throughput;
/explain answered or refused with 503, nothing else) was met.

    IMDB_DATA=../shared/data/imdb python bench/load_test.py --run bow-full [--clients 16] [--duration 20]
        [--requests 20000] [--workers 1] [--reviews 500] [--json]
    IMDB_DATA=../shared/data/imdb python bench/load_test.py --run transformer-full --mix [--duration 30]
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
MIX_TARGET_P99_MS, MIX_TARGET_RATIO = 100.0, 0.5
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reviews(source: str | None, n: int, seed: int = 0) -> list[str]:
    """n test reviews from the data source, or the hand-written examples when it cannot be read."""
    from sentiment_core.data.examples import HAND_WRITTEN_EXAMPLES

    try:
        import datasets

        from sentiment_core.data.imdb import load_imdb

        datasets.disable_progress_bars()
        test = load_imdb(source)["test"].shuffle(seed=seed)
        texts = list(test.select(range(min(n, len(test))))["text"])
        if texts:
            return texts
    except (ValueError, OSError) as error:
        print(f"(test split unreadable: {error}; using the hand-written reviews)", file=sys.stderr)
    return list(HAND_WRITTEN_EXAMPLES.values())


def start_server(run_id: str | None, port: int, workers: int, log_path: Path,
                 env: dict[str, str] | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "sentiment_core", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    if run_id:
        command += ["--run", run_id]
    log = log_path.open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=os.getcwd(),
                            env={**os.environ, **(env or {})})


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
def api_server(url: str | None, run_id: str | None, workers: int, startup_timeout: float,
               env: dict[str, str] | None = None):
    """The already-running loopback server at `url`, or `serve --run run_id` on a free 127.0.0.1 port
    (with `env` added to its environment), healthy; a started server is stopped on exit. Yields a `Server`."""
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
            process = start_server(run_id, port, workers, log_path, env)
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

    async def post(self, path: str, payload: dict, timeout: float) -> tuple[int, dict[str, str], dict | None]:
        async with self.session.post(f"{self.url}{path}", json=payload,
                                     timeout=self.aiohttp.ClientTimeout(total=timeout)) as response:
            headers = {key.lower(): value for key, value in response.headers.items()}
            return response.status, headers, await response.json(content_type=None)

    async def get(self, path: str) -> dict:
        async with self.session.get(f"{self.url}{path}") as response:
            return await response.json()

    async def close(self) -> None:
        await self.session.close()


class HttpxClient:
    def __init__(self, url: str, clients: int, headers: dict[str, str]):
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        self.client = httpx.AsyncClient(base_url=url, limits=limits, timeout=30, headers=headers)

    async def post_predict(self, text: str) -> tuple[int, dict | None]:
        response = await self.client.post("/predict", json={"texts": [text]})
        return response.status_code, response.json() if response.status_code == 200 else None

    async def post(self, path: str, payload: dict, timeout: float) -> tuple[int, dict[str, str], dict | None]:
        response = await self.client.post(path, json=payload, timeout=timeout)
        return response.status_code, {key.lower(): value for key, value in response.headers.items()}, response.json()

    async def get(self, path: str) -> dict:
        return (await self.client.get(path)).json()

    async def close(self) -> None:
        await self.client.aclose()


def make_client(kind: str, url: str, clients: int, headers: dict[str, str]):
    if kind == "auto":
        kind = "aiohttp" if importlib.util.find_spec("aiohttp") else "httpx"
    return (AiohttpClient if kind == "aiohttp" else HttpxClient)(url, clients, headers)


def percentiles_ms(seconds: list[float]) -> dict:
    """p50/p90/p99/max of latencies given in seconds, in ms (None without any)."""
    ms = np.array(seconds) * 1000
    return {name: round(float(np.percentile(ms, q)), 1) if len(ms) else None
            for name, q in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99), ("max_ms", 100))}


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
    errors = sum(count for key, count in statuses.items() if key != "200")
    return {
        "requests": len(latencies), "seconds": round(elapsed, 2), "clients": clients,
        "requests_per_s": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        **percentiles_ms(latencies), "errors": errors, "statuses": statuses,
    }


# --- the mix: predictions while explanations run ----------------------------------------------

def long_review(source: str | None, words: int) -> str:
    """The test review whose length is nearest `words` words (else hand-written ones repeated to that length)."""
    from sentiment_core.data.examples import HAND_WRITTEN_EXAMPLES

    try:
        import datasets

        from sentiment_core.data.imdb import load_imdb

        datasets.disable_progress_bars()
        texts = load_imdb(source)["test"]["text"]
        return min(texts, key=lambda text: abs(len(text.split()) - words))
    except (ValueError, OSError) as error:
        print(f"(test split unreadable: {error}; using the hand-written reviews)", file=sys.stderr)
    pool = " ".join(HAND_WRITTEN_EXAMPLES.values()).split()
    return " ".join(pool[i % len(pool)] for i in range(words))


async def explain_load(url: str, text: str, steps: int, clients: int, duration: float, headers: dict[str, str],
                       timeout: float, client_kind: str) -> dict:
    """`clients` clients sending /explain for `duration` seconds (each finishes the request it has in
    flight); after a 503 a client waits its Retry-After (at most until the end)."""
    client = make_client(client_kind, url, clients, headers)
    answered: list[float] = []
    refused: list[float] = []
    other: dict[str, int] = {}
    payload = {"text": text, "method": "integrated_gradients", "steps": steps}
    deadline = time.perf_counter() + duration

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            try:
                status, answer_headers, body = await client.post("/explain", payload, timeout)
            except Exception as error:  # noqa: BLE001 - a transport error or a client time-out
                other[type(error).__name__] = other.get(type(error).__name__, 0) + 1
                continue
            seconds = time.perf_counter() - began
            if status == 200 and body.get("words"):
                answered.append(seconds)
            elif status == 503 and "retry-after" in answer_headers:
                refused.append(seconds)
                await asyncio.sleep(max(0.0, min(float(answer_headers["retry-after"]), deadline - time.perf_counter())))
            else:
                key = "503 without Retry-After" if status == 503 else str(status)
                other[key] = other.get(key, 0) + 1

    try:
        await asyncio.gather(*(one_client() for _ in range(clients)))
    finally:
        await client.close()
    answered_s = {key.replace("_ms", "_s"): None if value is None else round(value / 1000, 2)
                  for key, value in percentiles_ms(answered).items()}
    return {"clients": clients, "steps": steps, "words": len(text.split()), "answered": len(answered),
            "refused_503": len(refused), "other": sum(other.values()), "other_statuses": other,
            "answered_latency": answered_s, "refused_latency_ms": percentiles_ms(refused)["p50_ms"]}


async def watch_queues(url: str, headers: dict[str, str], until: float, client_kind: str) -> dict:
    """The deepest queues /health reported, sampled every 0.5 s until `until` (perf_counter)."""
    client = make_client(client_kind, url, 1, headers)
    deepest: dict[str, int] = {}
    try:
        while time.perf_counter() < until:
            with contextlib.suppress(Exception):
                for key, value in (await client.get("/health"))["queues"].items():
                    deepest[key] = max(deepest.get(key, 0), value)
            await asyncio.sleep(0.5)
    finally:
        await client.close()
    return deepest


async def run_mix(url: str, texts: list[str], long_text: str, args, headers: dict[str, str]) -> dict:
    """Predictions only, then predictions with explanations, on the same server."""
    health_client = make_client(args.client, url, 1, headers)
    try:
        health = await health_client.get("/health")
        limits = health.get("limits", {})
        deadline = time.perf_counter() + args.startup_timeout
        while health.get("queues", {}).get("explainers_ready", 0) < limits.get("explain_concurrency", 1):
            if time.perf_counter() > deadline:
                raise SystemExit("the server's explanation processes did not start in time")
            await asyncio.sleep(0.5)
            health = await health_client.get("/health")
        # warm the explanation process (Captum's first call), not counted
        await health_client.post("/explain", {"text": texts[0], "steps": 5}, args.startup_timeout)
    finally:
        await health_client.close()
    timeout = 2 * float(limits.get("explain_timeout_s", 60)) + 30  # a queued wait, then the run
    alone = await run_load(url, texts, args.clients, args.duration, args.requests, headers, client_kind=args.client)
    until = time.perf_counter() + args.duration
    mixed, explained, queues = await asyncio.gather(
        run_load(url, texts, args.clients, args.duration, args.requests, headers, warmup=0, client_kind=args.client),
        explain_load(url, long_text, args.explain_steps, args.explain_clients, args.duration, headers, timeout,
                     args.client),
        watch_queues(url, headers, until, args.client))
    ratio = round(mixed["requests_per_s"] / alone["requests_per_s"], 2) if alone["requests_per_s"] else 0.0
    met = (mixed["p99_ms"] is not None and mixed["p99_ms"] < MIX_TARGET_P99_MS and ratio >= MIX_TARGET_RATIO
           and mixed["errors"] == 0 and explained["other"] == 0)
    return {"predict_alone": alone, "predict_mixed": mixed, "throughput_ratio": ratio, "explain": explained,
            "deepest_queues": queues, "limits": limits, "target_met": met}


def print_mix(result: dict) -> None:
    def line(name: str, r: dict) -> None:
        print(f"{name}: {r['requests']} requests in {r['seconds']} s from {r['clients']} clients: "
              f"{r['requests_per_s']} requests/s; latency ms p50 {r['p50_ms']}  p90 {r['p90_ms']}  "
              f"p99 {r['p99_ms']}  max {r['max_ms']}; errors {r['errors']} {r['statuses']}")

    explained = result["explain"]
    line("/predict alone", result["predict_alone"])
    line(f"/predict with {explained['clients']} /explain clients", result["predict_mixed"])
    print(f"/predict throughput with explanations / alone: {result['throughput_ratio']}")
    latency = explained["answered_latency"]
    print(f"/explain ({explained['steps']} steps, {explained['words']} words): answered {explained['answered']} "
          f"(s: p50 {latency['p50_s']}  p90 {latency['p90_s']}  max {latency['max_s']}), "
          f"503 {explained['refused_503']} (median {explained['refused_latency_ms']} ms), "
          f"other {explained['other']} {explained['other_statuses']}")
    print(f"deepest queues seen on /health: {result['deepest_queues']}; limits: {result['limits']}")
    print(f"target (/predict p99 < {MIX_TARGET_P99_MS:.0f} ms and >= {MIX_TARGET_RATIO} of its predictions-only "
          f"throughput; /explain answered or 503, nothing else): {'met' if result['target_met'] else 'NOT met'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="run to serve (default: the best finished run)")
    parser.add_argument("--url", help="test this already-running server (loopback only) instead of starting one")
    parser.add_argument("--clients", type=int, help="concurrent /predict clients (default 16; 8 with --mix)")
    parser.add_argument("--duration", type=float,
                        help="seconds of load at most (default 20; with --mix, 30 for each of the two phases)")
    parser.add_argument("--requests", type=int, default=20_000, help="requests at most (default 20000)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the started server (default 1)")
    parser.add_argument("--reviews", type=int, default=500, help="distinct test reviews to send (default 500)")
    parser.add_argument("--data", metavar="SRC", help="IMDB source for the reviews (default: IMDB_DATA)")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--client", choices=["auto", "aiohttp", "httpx"], default="auto",
                        help="HTTP client of the load generator (auto: aiohttp when installed, else httpx)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line too")
    mix = parser.add_argument_group("the mix (--mix): predictions alone, then with explanations")
    mix.add_argument("--mix", action="store_true", help="measure /predict alone, then while clients send /explain")
    mix.add_argument("--explain-clients", type=int, default=2, help="clients sending /explain (default 2)")
    mix.add_argument("--explain-steps", type=int, default=200, help="Integrated Gradients steps (default 200)")
    mix.add_argument("--explain-words", type=int, default=800, help="words of the review to explain (default 800)")
    args = parser.parse_args(argv)
    args.clients = args.clients or (8 if args.mix else 16)
    args.duration = args.duration or (30.0 if args.mix else 20.0)
    if args.client == "auto":
        args.client = "aiohttp" if importlib.util.find_spec("aiohttp") else "httpx"
    if not (1 <= args.clients <= 256 and 0 < args.duration <= 600 and 1 <= args.requests <= 1_000_000
            and 1 <= args.explain_clients <= 16 and 1 <= args.explain_steps <= 500 and 1 <= args.explain_words <= 5000):
        parser.error("keep the load bounded: 1-256 clients, at most 600 s and 1,000,000 requests; "
                     "1-16 explain clients, 1-500 steps, 1-5000 words")

    from sentiment_core.core.settings import get_settings

    api_key = get_settings().api_key
    headers = {"X-API-Key": api_key.get_secret_value()} if api_key and api_key.get_secret_value() else {}
    texts = reviews(args.data, args.reviews)
    if args.mix:
        return main_mix(args, texts, headers)
    with api_server(args.url, args.run, args.workers, args.startup_timeout) as server:
        process, health = server.process, server.health
        print(f"server: {server.url} run {health.get('run')} ({health.get('family')}, {health.get('device')}, "
              f"{health.get('runtime', 'torch')}), "
              f"{args.workers if process else '?'} worker(s); {len(texts)} distinct reviews, "
              f"median {int(np.median([len(t) for t in texts]))} characters; client: {args.client}")
        cpu_before = cpu_seconds(process.pid if process else None)
        client_cpu_before = time.process_time()
        result = asyncio.run(run_load(server.url, texts, args.clients, args.duration, args.requests, headers,
                                      client_kind=args.client))
        client_cpu = time.process_time() - client_cpu_before
        cpu_after = cpu_seconds(process.pid if process else None)
    result.update(run=health.get("run"), family=health.get("family"), runtime=health.get("runtime"),
                  workers=args.workers if process else None, client=args.client)
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


def main_mix(args, texts: list[str], headers: dict[str, str]) -> int:
    long_text = long_review(args.data, args.explain_words)
    with api_server(args.url, args.run, args.workers, args.startup_timeout) as server:
        health = server.health
        print(f"server: {server.url} run {health.get('run')} ({health.get('family')}, {health.get('device')}, "
              f"{health.get('runtime', 'torch')}), "
              f"{args.workers if server.process else '?'} worker(s); client: {args.client}; "
              f"{args.duration:g} s of /predict alone, then {args.duration:g} s with /explain", flush=True)
        result = asyncio.run(run_mix(server.url, texts, long_text, args, headers))
    result.update(run=health.get("run"), family=health.get("family"), runtime=health.get("runtime"),
                  runtime_note=health.get("runtime_note"), client=args.client)
    print_mix(result)
    if args.json:
        print(json.dumps(result))
    failed = result["predict_mixed"]["errors"] + result["predict_alone"]["errors"] + result["explain"]["other"]
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
