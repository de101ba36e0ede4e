"""Fuzz the REST API with schemathesis: generated requests from its OpenAPI spec, no 5xx allowed.

Starts `python -m sentiment_core serve --run RUN` on a free 127.0.0.1 port, loads /openapi.json
with schemathesis and, for every operation, sends `--examples` requests generated from the schema
(positive mode: valid by the schema) and as many violating it (negative mode: wrong types, missing
fields, extra fields...), plus a handful of hand-made bad bodies the schema cannot express (invalid
UTF-8, malformed JSON, an oversized body, the wrong content type). Prints the number of requests, the
status codes seen, every 5xx with a curl command to replay it, and the schema-conformance failures
of the responses; exits 1 on any 5xx or when fewer than `--min-requests` requests were sent.

    python bench/fuzz_api.py --run bow-full [--examples 150] [--min-requests 500] [--seed 0]
    python bench/fuzz_api.py --url http://127.0.0.1:8000          # a running server (loopback only)
"""

from __future__ import annotations

import argparse
import builtins
import json
import sys
import time
from collections import Counter
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from load_test import api_server  # noqa: E402

# schemathesis reports several failures at once as an exception group (BaseExceptionGroup, Python 3.11+).
FAILURES = (Exception, getattr(builtins, "BaseExceptionGroup", Exception))


def fuzz(url: str, examples: int, seed: int, api_key: str | None) -> dict:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings
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

    for label, response in hand_made(url, session):
        statuses[response.status_code] += 1
        per_operation[f"hand-made: {label}"] += 1
        if response.status_code >= 500:
            server_errors.append(f"hand-made {label}: {response.status_code} {response.text[:200]}")
    return {
        "requests": sum(per_operation.values()),
        "server_errors": len(server_errors),
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
        "per_operation": dict(per_operation),
        "server_error_cases": server_errors[:20],
        "nonconforming_responses": dict(nonconforming),
        "generation_notes": generation_problems,
    }


def hand_made(url: str, session: requests.Session):
    """Bad bodies no schema generates: they must get a 4xx too."""
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
    ]
    for label, path, body, headers in cases:
        yield label, session.post(f"{url}{path}", data=body, headers=headers, timeout=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="run to serve (default: the best finished run)")
    parser.add_argument("--url", help="fuzz this already-running server (loopback only) instead of starting one")
    parser.add_argument("--examples", type=int, default=150, help="generated requests per operation and mode (default 150)")
    parser.add_argument("--min-requests", type=int, default=500, help="fail when fewer requests were sent (default 500)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = parser.parse_args(argv)
    if not 1 <= args.examples <= 5000:
        parser.error("--examples must be 1-5000")

    from sentiment_core.settings import get_settings

    key = get_settings().api_key
    api_key = key.get_secret_value() if key and key.get_secret_value() else None
    started = time.perf_counter()
    with api_server(args.url, args.run, 1, 180) as server:
        print(f"fuzzing {server.url} (run {server.health.get('run')}, {server.health.get('family')})", flush=True)
        result = fuzz(server.url, args.examples, args.seed, api_key)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(f"{result['requests']} requests in {result['seconds']} s; 5xx responses: {result['server_errors']}")
    print("status codes:", result["statuses"])
    for label, count in sorted(result["per_operation"].items()):
        print(f"  {count:5d}  {label}")
    for case in result["server_error_cases"]:
        print("5xx:", case)
    if result["nonconforming_responses"]:
        print("responses not matching the OpenAPI schema:")
        for label, count in result["nonconforming_responses"].items():
            print(f"  {count:5d}  {label}")
    for note in result["generation_notes"]:
        print("note:", note)
    if server.log and result["server_errors"]:
        print("server log tail:\n" + server.log[-3000:])
    if args.json:
        print(json.dumps(result))
    if result["requests"] < args.min_requests:
        print(f"only {result['requests']} requests (< {args.min_requests}): raise --examples")
        return 1
    return 1 if result["server_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
