"""Fuzz the REST API with schemathesis and by hand: generated and odd requests, no 5xx allowed.

Starts `python -m sentiment_core serve --run RUN` on a free 127.0.0.1 port twice, without an API key
and then with one (`--key-modes`), and against each: loads /openapi.json with schemathesis and, for
every operation, sends `--examples` requests generated from the schema (positive mode: valid by the
schema) and as many violating it (negative mode: wrong types, missing fields, extra fields...);
then hand-made bad bodies the schema cannot express (invalid UTF-8, malformed JSON, an oversized body,
the wrong content type; with a key: no key, a wrong one, a Bearer one); then very long texts (at the
character limit the server publishes, in several scripts, one 20,000-character word, every text of a
full request at the limit; one character over); then a burst of `--burst` requests of all these kinds
from `--concurrency` threads at once. Prints the number of requests, the status codes seen, every 5xx
with a way to replay it, and the schema-conformance failures of the responses; exits 1 on any 5xx or
when fewer than `--min-requests` requests were sent.

The started servers get room for the burst (SENTIMENT_EXPLAIN_QUEUE = --concurrency, a 600 s
SENTIMENT_EXPLAIN_TIMEOUT_S): a busy 503 or a 504 there would be the design working, not a bug; the
load mix (`load_test.py --mix`) and tests/test_api.py cover those answers.

    python bench/fuzz_api.py --run tiny-bow [--examples 150] [--min-requests 1000] [--seed 0]
    python bench/fuzz_api.py --url http://127.0.0.1:8000          # a running server (loopback only)
"""

from __future__ import annotations

import argparse
import builtins
import json
import secrets
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from load_test import api_server  # noqa: E402

# schemathesis reports several failures at once as an exception group (BaseExceptionGroup, Python 3.11+).
FAILURES = (Exception, getattr(builtins, "BaseExceptionGroup", Exception))


def fuzz(url: str, examples: int, seed: int, api_key: str | None, burst: int, concurrency: int) -> dict:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from schemathesis.specs.openapi.checks import (
        negative_data_rejection,
        response_schema_conformance,
        status_code_conformance,
    )

    # Not positive_data_acceptance: a schema-valid text can still hold no word the model reads (422).
    conformance = [status_code_conformance, response_schema_conformance, negative_data_rejection]

    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    session = requests.Session()
    if api_key:
        session.headers["X-API-Key"] = api_key
    statuses: Counter = Counter()
    per_operation: Counter = Counter()
    server_errors: list[str] = []
    nonconforming: Counter = Counter()
    generation_problems: list[str] = []

    def send(case, label: str) -> None:
        """One generated request: count its status, keep 5xx, check the response against the spec."""
        try:
            response = case.call(base_url=url, session=session, timeout=120)
        except requests.RequestException as error:
            statuses[type(error).__name__] += 1
            server_errors.append(f"{label}: no response ({error})")
            return
        statuses[response.status_code] += 1
        per_operation[label] += 1
        if response.status_code >= 500:
            server_errors.append(f"{label}: {response.status_code} {response.text[:200]}\n    {case.as_curl_command()}")
            return
        try:
            # 413 (over a limit) is a rejection too; schemathesis' negative check does not list it.
            checks = conformance[:2] if response.status_code == 413 else conformance
            case.validate_response(response, checks=checks)
        except FAILURES as failure:  # noqa: BLE001 - counted, not fatal
            for single in getattr(failure, "exceptions", (failure,)):
                title = getattr(single, "title", type(single).__name__)
                nonconforming[f"{label}: {title} ({response.status_code})"] += 1

    def fuzz_operation(operation, mode) -> None:
        label = f"{operation.method.upper()} {operation.path} [{mode.value}]"

        @hypothesis_seed(seed)
        @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case) -> None:
            send(case, label)

        try:
            check()
        except FAILURES as error:  # noqa: BLE001 - e.g. no negative case exists for a body-less GET
            generation_problems.append(f"{label}: {type(error).__name__}: {str(error).strip()[:120]}")

    for result in schema.get_all_operations():
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            fuzz_operation(result.ok(), mode)

    def count(kind: str, label: str, response) -> None:
        status = "no response" if isinstance(response, str) else response.status_code
        statuses[status] += 1
        per_operation[f"{kind}: {label}"] += 1
        if isinstance(response, str) or status >= 500:
            text = response if isinstance(response, str) else f"{status} {response.text[:200]}"
            server_errors.append(f"{kind} {label}: {text}")

    for label, response in hand_made(url, session, api_key):
        count("hand-made", label, response)
    requests_list = long_texts(url, session)
    for label, method, path, payload in requests_list:
        count("long text", label, send_one(session, method, url + path, payload))
    for label, response in concurrent_burst(url, api_key, requests_list, burst, concurrency):
        count("concurrent", label, response)
    return {
        "requests": sum(per_operation.values()),
        "server_errors": len(server_errors),
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
        "per_operation": dict(per_operation),
        "server_error_cases": server_errors[:20],
        "nonconforming_responses": dict(nonconforming),
        "generation_notes": generation_problems,
    }


def hand_made(url: str, session: requests.Session, api_key: str | None):
    """Bad bodies no schema generates: they must get a 4xx too. With a key: requests without it."""
    json_type = {"Content-Type": "application/json"}
    cases = [
        ("invalid UTF-8", "/predict", b'{"texts": ["caf\xe9 \xff"]}', json_type),
        ("malformed JSON", "/predict", b'{"texts": ["good", ', json_type),
        ("JSON null", "/predict", b"null", json_type),
        ("lone surrogate", "/predict", b'{"texts": ["\\ud800 bad"]}', json_type),
        ("NUL characters", "/predict", b'{"texts": ["\\u0000\\u0000"]}', json_type),
        ("text/plain body", "/predict", b"a great movie", {"Content-Type": "text/plain"}),
        ("no content type", "/predict", b'{"texts": ["great"]}', {}),
        ("empty body", "/predict", b"", json_type),
        ("deep nesting", "/predict", b'{"texts": ' + b"[" * 5000 + b"]" * 5000 + b"}", json_type),
        ("oversized body", "/predict", b'{"texts": ["' + b"a" * 5_000_000 + b'"]}', json_type),
        ("explain invalid UTF-8", "/explain", b'{"text": "\xc3\x28"}', json_type),
        ("explain wrong method", "/explain", b'{"text": "great", "method": "magic"}', json_type),
        ("explain steps as text", "/explain", b'{"text": "great", "steps": "many"}', json_type),
        ("explain huge steps", "/explain", b'{"text": "great", "steps": 1e309}', json_type),
        ("predict 10,000 empty texts", "/predict", json.dumps({"texts": [""] * 10_000}).encode(), json_type),
    ]
    for label, path, body, headers in cases:
        yield label, session.post(f"{url}{path}", data=body, headers=headers, timeout=120)
    for path in ("/health", "/models", "/openapi.json", "/docs", "/nope"):
        yield f"GET {path}", session.get(f"{url}{path}", timeout=60)
    if api_key:
        good = {"texts": ["A moving, beautifully acted film."]}
        for path, body in (("/predict", good), ("/explain", {"text": good["texts"][0]})):
            yield f"{path} without a key", requests.post(f"{url}{path}", json=body, timeout=60)
            yield f"{path} with a wrong key", requests.post(f"{url}{path}", json=body, timeout=60,
                                                            headers={"X-API-Key": api_key + "x"})
            yield f"{path} with a Bearer key", requests.post(f"{url}{path}", json=body, timeout=120,
                                                             headers={"Authorization": f"Bearer {api_key}"})
        yield "GET /models without a key", requests.get(f"{url}/models", timeout=60)


def long_texts(url: str, session: requests.Session) -> list[tuple[str, str, str, object]]:
    """Requests with texts at (and one over) the server's limits, which its OpenAPI spec publishes."""
    schema = session.get(f"{url}/openapi.json", timeout=60).json()["components"]["schemas"]
    texts_rule = schema["PredictRequest"]["properties"]["texts"]
    max_chars, max_texts = texts_rule["items"]["maxLength"], texts_rule["maxItems"]
    words = ("a moving and beautifully acted film, though the ending drags; the worst plot I have "
             "seen all year. ").split(" ")

    def fill(pieces, size: int) -> str:
        """`pieces` joined by spaces, repeated to exactly `size` characters."""
        text, length = [], -1
        while length < size:
            text.append(pieces[len(text) % len(pieces)])
            length += len(text[-1]) + 1
        return " ".join(text)[:size]

    english = fill(words, max_chars)
    scripts = {
        "English": english,
        "emoji": fill(["😀", "🎬👍", "💩", "🤔"], max_chars),
        "CJK": fill(["这部电影很好看", "最糟糕的情节", "演员很棒"], max_chars),
        "Arabic right-to-left": fill(["فيلم", "رائع", "ممل", "\u200f"], max_chars),
        "combining marks": fill(["e\u0301\u0302\u0303", "zalgo\u0336\u0337"], max_chars),
        "one long word": "a" * max_chars,
        "HTML breaks": fill(["<br />"], max_chars),
        "whitespace and one word": " " * (max_chars - 5) + "great",
    }
    per_text = max(1, min(max_chars, 1_500_000 // max_texts))  # a full request within the body limit
    out: list[tuple[str, str, str, object]] = []
    for name, text in scripts.items():
        out.append((f"predict {name} at {len(text)} characters", "POST", "/predict", {"texts": [text]}))
    for name in ("English", "emoji", "one long word"):
        out.append((f"explain {name} at the limit, IG 500 steps", "POST", "/explain",
                    {"text": scripts[name], "steps": 500}))
    for method in ("occlusion", "lime", "gradient_shap", "gradient_x_input"):
        out.append((f"explain English at the limit, {method}", "POST", "/explain", {"text": english, "method": method}))
    out.append((f"predict {max_texts} texts of {per_text} characters", "POST", "/predict",
                {"texts": [english[:per_text]] * max_texts}))
    over = fill(words, max_chars + 1)
    out.append((f"predict one text of {len(over)} characters", "POST", "/predict", {"texts": [over]}))
    out.append((f"explain a text of {len(over)} characters", "POST", "/explain", {"text": over}))
    return out


def send_one(session, method: str, url: str, payload):
    try:
        if method == "GET":
            return session.get(url, timeout=900)
        return session.post(url, json=payload, timeout=900)
    except requests.RequestException as error:
        return f"no response ({type(error).__name__}: {error})"


def concurrent_burst(url: str, api_key: str | None, long: list, burst: int, concurrency: int):
    """`burst` requests of every kind (valid, invalid, long, both endpoints' methods) from `concurrency` threads."""
    short = [
        ("GET /health", "GET", "/health", None),
        ("GET /models", "GET", "/models", None),
        ("predict one review", "POST", "/predict", {"texts": ["A moving, beautifully acted film."]}),
        ("predict 32 reviews", "POST", "/predict", {"texts": ["Dull, and far too long."] * 32}),
        ("predict an empty text", "POST", "/predict", {"texts": [""]}),
        ("predict a wrong type", "POST", "/predict", {"texts": [3]}),
        ("predict an unknown run", "POST", "/predict", {"texts": ["fine"], "run": "no-such-run"}),
        ("explain IG", "POST", "/explain", {"text": "A moving, beautifully acted film.", "steps": 20}),
        ("explain occlusion", "POST", "/explain", {"text": "Dull, and far too long.", "method": "occlusion"}),
        ("explain lime", "POST", "/explain", {"text": "Not bad at all.", "method": "lime", "steps": 50}),
        ("explain no words", "POST", "/explain", {"text": "<br /><br />"}),
    ]
    kinds = short * 3 + long  # mostly short requests, every long one among them
    jobs = [kinds[index % len(kinds)] for index in range(burst)]
    sessions: dict[int, requests.Session] = {}

    def run(job):
        import threading

        session = sessions.setdefault(threading.get_ident(), requests.Session())
        if api_key:
            session.headers["X-API-Key"] = api_key
        label, method, path, payload = job
        return label, send_one(session, method, url + path, payload)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        yield from pool.map(run, jobs)


def fuzz_server(args, api_key: str | None) -> dict:
    """Start a server (with `api_key` when given) unless --url names one, and fuzz it."""
    env = {"SENTIMENT_EXPLAIN_QUEUE": str(args.concurrency), "SENTIMENT_EXPLAIN_TIMEOUT_S": "600"}
    if api_key:
        env["SENTIMENT_API_KEY"] = api_key
    with api_server(args.url, args.run, 1, 180, env=env) as server:
        print(f"fuzzing {server.url} (run {server.health.get('run')}, {server.health.get('family')}), "
              f"{'with' if api_key else 'without'} an API key", flush=True)
        result = fuzz(server.url, args.examples, args.seed, api_key, args.burst, args.concurrency)
    if server.log and result["server_errors"]:
        result["server_log_tail"] = server.log[-3000:]
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="run to serve (default: the best finished run)")
    parser.add_argument("--url", help="fuzz this already-running server (loopback only) instead of starting one")
    parser.add_argument("--examples", type=int, default=150,
                        help="generated requests per operation and mode (default 150)")
    parser.add_argument("--min-requests", type=int, default=1000,
                        help="fail when fewer requests were sent (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    parser.add_argument("--key-modes", choices=["both", "without", "with"], default="both",
                        help="start the server without an API key, with one, or both in turn (default both; "
                             "with --url: the key of SENTIMENT_API_KEY, if any)")
    parser.add_argument("--burst", type=int, default=200,
                        help="requests sent at once in the concurrent phase (default 200)")
    parser.add_argument("--concurrency", type=int, default=16, help="threads of the concurrent phase (default 16)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = parser.parse_args(argv)
    if not (1 <= args.examples <= 5000 and 0 <= args.burst <= 10_000 and 1 <= args.concurrency <= 128):
        parser.error("--examples must be 1-5000, --burst 0-10000, --concurrency 1-128")

    from sentiment_core.core.settings import get_settings

    started = time.perf_counter()
    if args.url:
        key = get_settings().api_key
        keys = [key.get_secret_value() if key and key.get_secret_value() else None]
    else:
        keys = {"without": [None], "with": [secrets.token_urlsafe(16)]}.get(args.key_modes)
        keys = keys or [None, secrets.token_urlsafe(16)]
    results = [fuzz_server(args, key) for key in keys]
    total = {"requests": sum(r["requests"] for r in results), "server_errors": sum(r["server_errors"] for r in results),
             "seconds": round(time.perf_counter() - started, 1), "servers": []}
    statuses: Counter = Counter()
    for key, result in zip(keys, results):
        statuses.update(result["statuses"])
        total["servers"].append({"api_key": bool(key), **result})
    total["statuses"] = dict(sorted(statuses.items()))
    for server in total["servers"]:
        print(f"\n== server {'with' if server['api_key'] else 'without'} an API key: {server['requests']} requests; "
              f"5xx responses: {server['server_errors']}")
        print("status codes:", server["statuses"])
        for label, count in sorted(server["per_operation"].items()):
            print(f"  {count:5d}  {label}")
        for case in server["server_error_cases"]:
            print("5xx:", case)
        if server["nonconforming_responses"]:
            print("responses not matching the OpenAPI schema:")
            for label, count in server["nonconforming_responses"].items():
                print(f"  {count:5d}  {label}")
        for note in server["generation_notes"]:
            print("note:", note)
        if server.get("server_log_tail"):
            print("server log tail:\n" + server["server_log_tail"])
    print(f"\ntotal: {total['requests']} requests in {total['seconds']} s; 5xx responses: {total['server_errors']}")
    print("status codes:", total["statuses"])
    if args.json:
        print(json.dumps(total, ensure_ascii=False))
    if total["requests"] < args.min_requests:
        print(f"only {total['requests']} requests (< {args.min_requests}): raise --examples")
        return 1
    return 1 if total["server_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
