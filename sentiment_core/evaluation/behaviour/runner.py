"""Run the behaviour suite on any model, judge each case, cache the results, and lay them out as tables.

A model is anything with `predict(texts, batch_size=..., progress=...)` returning objects with
`.probability` (P(positive)) and `.label` ("positive"/"negative"): `inference.Predictor` is one.
Texts are deduplicated across tests and predicted once, in batches.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sentiment_core.core import runs
from sentiment_core.data.heldout import HELD_OUT, SEEN
from sentiment_core.evaluation.behaviour.suite import (
    CAPABILITIES,
    CASES_PER_TEST,
    DIR_TOLERANCE,
    NEGATIVE,
    NOT_HIGHER,
    NOT_LOWER,
    NOT_NEGATIVE,
    NOT_NEGATIVE_MIN,
    POSITIVE,
    SAME_LABEL,
    SUITE_VERSION,
    BehaviourTest,
    Case,
    case_half,
    select_tests,
)

if TYPE_CHECKING:
    import pandas as pd

MAX_FAILURES = 10  # worst failures kept per test
CACHE_FILE = "behaviour.json"  # in a run's folder; other models under SENTIMENT_MODELS_DIR/.cache/behaviour/
CACHE_DIR = (".cache", "behaviour")
Progress = Callable[[int, int], None]


class Model(Protocol):
    def predict(self, texts: Sequence[str], batch_size: int = ..., progress: Progress | None = None) -> Sequence: ...


@dataclass
class Failure:
    """A failed case; INV and DIR failures carry the original text and its P(positive)."""

    text: str
    expected: str
    predicted: str
    probability: float
    original: str | None = None
    original_probability: float | None = None


@dataclass
class BehaviourTestResult:
    """One test on one model: cases, failures (the worst `MAX_FAILURES` kept) and, for INV/DIR, the mean
    change of P(positive) from the original (signed and absolute). held_out_* and seen_*: the cases whose
    lexicon words are all in the held-out (or the seen) half of `data.heldout`, and how many of them failed."""

    name: str
    capability: str
    type: str
    description: str
    cases: int
    failed: int
    mean_change: float | None = None
    mean_abs_change: float | None = None
    failures: list[Failure] = field(default_factory=list)
    held_out_cases: int = 0
    held_out_failed: int = 0
    seen_cases: int = 0
    seen_failed: int = 0

    @property
    def failure_rate(self) -> float:
        return self.failed / self.cases if self.cases else 0.0

    @property
    def held_out_failure_rate(self) -> float | None:
        """The failure rate on the held-out cases (None when the test has none): the figure that counts for a
        model trained with counterfactual augmentation."""
        return self.held_out_failed / self.held_out_cases if self.held_out_cases else None

    @property
    def seen_failure_rate(self) -> float | None:
        return self.seen_failed / self.seen_cases if self.seen_cases else None

    def to_dict(self) -> dict:
        return {"name": self.name, "capability": self.capability, "type": self.type, "description": self.description,
                "cases": self.cases, "failure_rate": self.failure_rate, "failed": self.failed,
                "held_out_cases": self.held_out_cases, "held_out_failed": self.held_out_failed,
                "held_out_failure_rate": self.held_out_failure_rate, "seen_cases": self.seen_cases,
                "seen_failed": self.seen_failed, "seen_failure_rate": self.seen_failure_rate,
                "mean_change": self.mean_change, "mean_abs_change": self.mean_abs_change,
                "failures": [asdict(f) for f in self.failures]}

    @classmethod
    def from_dict(cls, payload: dict) -> BehaviourTestResult:
        fields = {k: payload[k] for k in ("name", "capability", "type", "description", "cases", "failed",
                                          "mean_change", "mean_abs_change")}
        halves = {k: int(payload.get(k) or 0) for k in ("held_out_cases", "held_out_failed", "seen_cases",
                                                         "seen_failed")}
        return cls(**fields, **halves, failures=[Failure(**f) for f in payload.get("failures", [])])


@dataclass
class SuiteResult:
    """The suite on one model. `texts`: distinct texts predicted; `seconds`: time spent predicting them."""

    model: str
    tests: list[BehaviourTestResult]
    seed: int = 0
    cases_per_test: int = CASES_PER_TEST
    suite_version: int = SUITE_VERSION
    texts: int = 0
    seconds: float = 0.0

    def test(self, name: str) -> BehaviourTestResult:
        return next(t for t in self.tests if t.name == name)

    def capabilities(self) -> list[dict]:
        """Per capability: its tests, cases and failure rate (the mean of its tests' rates), and the same on its
        held-out and its seen cases (the mean over the tests that have such cases; None when none has)."""
        rows = []
        for capability in dict.fromkeys(t.capability for t in self.tests):
            chosen = [t for t in self.tests if t.capability == capability]
            row = {"capability": capability, "tests": len(chosen), "cases": sum(t.cases for t in chosen),
                   "failure_rate": sum(t.failure_rate for t in chosen) / len(chosen)}
            for half in ("held_out", "seen"):
                rates = [getattr(t, f"{half}_failure_rate") for t in chosen if getattr(t, f"{half}_cases")]
                row[f"{half}_cases"] = sum(getattr(t, f"{half}_cases") for t in chosen)
                row[f"{half}_failure_rate"] = sum(rates) / len(rates) if rates else None
            rows.append(row)
        return rows

    def to_dict(self) -> dict:
        """What `check --json` prints and the cache stores (valid JSON: no NaN)."""
        return {"model": self.model, "suite_version": self.suite_version, "seed": self.seed,
                "cases_per_test": self.cases_per_test, "texts": self.texts, "seconds": round(self.seconds, 3),
                "tests": [t.to_dict() for t in self.tests], "capabilities": self.capabilities()}

    @classmethod
    def from_dict(cls, payload: dict) -> SuiteResult:
        return cls(model=payload["model"], tests=[BehaviourTestResult.from_dict(t) for t in payload["tests"]],
                   seed=payload["seed"], cases_per_test=payload["cases_per_test"],
                   suite_version=payload["suite_version"], texts=payload.get("texts", 0),
                   seconds=payload.get("seconds", 0.0))


# --- judging ----------------------------------------------------------------------------

def judge(case: Case, probability: float, label: str, original_probability: float | None = None,
          original_label: str | None = None) -> tuple[bool, float, str]:
    """(failed, how far from passing, what was expected) for one case and the model's answers."""
    if case.expected in (POSITIVE, NEGATIVE):
        return label != case.expected, abs(probability - 0.5), case.expected
    if case.expected == NOT_NEGATIVE:
        return (probability < NOT_NEGATIVE_MIN, NOT_NEGATIVE_MIN - probability,
                f"{NOT_NEGATIVE} (P(positive) >= {NOT_NEGATIVE_MIN:.3f})")
    change = probability - original_probability
    if case.expected == SAME_LABEL:
        return label != original_label, abs(change), f"{original_label} (as the original)"
    if case.expected == NOT_LOWER:
        return change < -DIR_TOLERANCE, -change, f"P(positive) >= {max(original_probability - DIR_TOLERANCE, 0):.3f}"
    if case.expected == NOT_HIGHER:
        return change > DIR_TOLERANCE, change, f"P(positive) <= {min(original_probability + DIR_TOLERANCE, 1):.3f}"
    raise ValueError(f"unknown expectation {case.expected!r}")


def _judge_test(test: BehaviourTest, answers: Mapping[str, tuple[float, str]],
                max_failures: int) -> BehaviourTestResult:
    failures, changes = [], []
    halves = {HELD_OUT: [0, 0], SEEN: [0, 0]}  # half -> [cases, failed]
    for case in test.cases:
        probability, label = answers[case.text]
        original_probability, original_label = answers[case.original] if case.original is not None else (None, None)
        failed, badness, expected = judge(case, probability, label, original_probability, original_label)
        if original_probability is not None:
            changes.append(probability - original_probability)
        half = case_half(case, test.capability)
        if half is not None:
            halves[half][0] += 1
            halves[half][1] += bool(failed)
        if failed:
            failures.append((badness, Failure(case.text, expected, label, probability, case.original,
                                              original_probability)))
    failures.sort(key=lambda pair: -pair[0])
    return BehaviourTestResult(
        name=test.name, capability=test.capability, type=test.type, description=test.description,
        cases=len(test.cases), failed=len(failures),
        mean_change=sum(changes) / len(changes) if changes else None,
        mean_abs_change=sum(map(abs, changes)) / len(changes) if changes else None,
        failures=[f for _, f in failures[:max_failures]],
        held_out_cases=halves[HELD_OUT][0], held_out_failed=halves[HELD_OUT][1],
        seen_cases=halves[SEEN][0], seen_failed=halves[SEEN][1],
    )


# --- running ----------------------------------------------------------------------------

def _tests(tests: Sequence[BehaviourTest] | Sequence[str] | str | None, seed: int,
           cases_per_test: int) -> tuple[BehaviourTest, ...]:
    if tests is not None and not isinstance(tests, str) and all(isinstance(t, BehaviourTest) for t in tests):
        return tuple(tests)
    return select_tests(tests, seed, cases_per_test)


def model_name(predictor) -> str:
    return getattr(predictor, "run_id", None) or getattr(predictor, "name", None) or type(predictor).__name__


def run_suite(predictor: Model, tests: Sequence[BehaviourTest] | Sequence[str] | str | None = None, seed: int = 0,
              progress: Progress | None = None, *, cases_per_test: int = CASES_PER_TEST, batch_size: int = 64,
              model: str | None = None, max_failures: int = MAX_FAILURES) -> SuiteResult:
    """Predict every distinct text of the chosen tests once (batched, `progress(done, total)`) and judge each case.

    tests: None (the whole suite), names of tests or capabilities, or `BehaviourTest`s.
    """
    chosen = _tests(tests, seed, cases_per_test)
    texts = list(dict.fromkeys(t for test in chosen for case in test.cases
                               for t in (case.text, case.original) if t is not None))
    started = time.perf_counter()
    predictions = predictor.predict(texts, batch_size=batch_size, progress=progress) if texts else []
    seconds = time.perf_counter() - started
    answers = {text: (float(p.probability), str(p.label)) for text, p in zip(texts, predictions)}
    return SuiteResult(model=model or model_name(predictor),
                       tests=[_judge_test(t, answers, max_failures) for t in chosen],
                       seed=seed, cases_per_test=cases_per_test, texts=len(texts), seconds=seconds)


# --- the cache ----------------------------------------------------------------------------

def _mtimes(folder: Path) -> str:
    files = [folder / "config.json", *sorted(folder.glob("*.safetensors"))]
    return ",".join(f"{f.name}@{f.stat().st_mtime_ns}" for f in files if f.exists())


def run_fingerprint(run_id: str) -> str:
    """Names a run's trained model: changes when its best/ model is rewritten."""
    return f"run:{run_id}:{_mtimes(runs.run_path(run_id) / runs.BEST_DIR)}"


def folder_fingerprint(folder: str | Path) -> str:
    """Names a model folder's contents: its resolved path and the times its config and weights were written."""
    folder = Path(folder).expanduser().resolve()
    return f"folder:{folder}:{_mtimes(folder)}"


def cache_file(key: str, run_id: str | None = None) -> Path:
    """`<run>/behaviour.json` for a run; otherwise a file named by the key under
    SENTIMENT_MODELS_DIR/.cache/behaviour/."""
    if run_id is not None:
        return runs.run_path(run_id) / CACHE_FILE
    return runs.models_dir().joinpath(*CACHE_DIR, f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json")


def _read_cache(path: Path, key: str, seed: int, cases_per_test: int) -> SuiteResult | None:
    try:
        payload = runs.read_json(path)
    except runs.RunError:  # a corrupted cache is recomputed
        return None
    header = {"key": key, "suite_version": SUITE_VERSION, "seed": seed, "cases_per_test": cases_per_test}
    if not payload or any(payload.get(k) != v for k, v in header.items()):
        return None
    try:
        return SuiteResult.from_dict(payload["result"])
    except (KeyError, TypeError):
        return None


def cached_result(key: str, run_id: str | None = None, tests: Sequence[str] | str | None = None, seed: int = 0,
                  cases_per_test: int = CASES_PER_TEST) -> SuiteResult | None:
    """The cached result of these tests for the model `key` names, or None when any is missing (no model loaded)."""
    stored = _read_cache(cache_file(key, run_id), key, seed, cases_per_test)
    if stored is None:
        return None
    have = {t.name: t for t in stored.tests}
    chosen = select_tests(tests, seed, cases_per_test)
    if any(t.name not in have for t in chosen):
        return None
    return SuiteResult(stored.model, [have[t.name] for t in chosen], seed, cases_per_test, SUITE_VERSION,
                       stored.texts, stored.seconds)


def cached_suite(predictor: Model | Callable[[], Model], key: str, *, run_id: str | None = None,
                 tests: Sequence[str] | str | None = None, seed: int = 0, cases_per_test: int = CASES_PER_TEST,
                 progress: Progress | None = None, batch_size: int = 64, model: str | None = None) -> SuiteResult:
    """`run_suite` with its results kept per model: only tests not cached for `key` (the model's fingerprint,
    e.g. `run_fingerprint(run_id)`) are run, then written back atomically.

    predictor: a model, or a function that loads one (called only when some test is not cached).
    run_id: keep the cache in that run's folder (`behaviour.json`).
    """
    path = cache_file(key, run_id)
    chosen = select_tests(tests, seed, cases_per_test)
    stored = _read_cache(path, key, seed, cases_per_test)
    have = {t.name: t for t in stored.tests} if stored else {}
    missing = [t for t in chosen if t.name not in have]
    name = model or (stored.model if stored else None) or run_id
    texts, seconds = (stored.texts, stored.seconds) if stored else (0, 0.0)
    if missing:
        loaded = predictor() if callable(predictor) and not hasattr(predictor, "predict") else predictor
        fresh = run_suite(loaded, missing, seed, progress, cases_per_test=cases_per_test, batch_size=batch_size,
                          model=name)
        name, texts, seconds = fresh.model, texts + fresh.texts, seconds + fresh.seconds
        have.update({t.name: t for t in fresh.tests})
        everything = [have[t.name] for t in select_tests(None, seed, cases_per_test) if t.name in have]
        merged = SuiteResult(name, everything, seed, cases_per_test, SUITE_VERSION, texts, seconds)
        path.parent.mkdir(parents=True, exist_ok=True)
        runs.write_json(path, {"key": key, "suite_version": SUITE_VERSION, "seed": seed,
                               "cases_per_test": cases_per_test, "result": merged.to_dict()})
    elif progress:
        progress(1, 1)
    return SuiteResult(name, [have[t.name] for t in chosen], seed, cases_per_test, SUITE_VERSION, texts, seconds)


def suite_for_run(run_id: str, tests: Sequence[str] | str | None = None, seed: int = 0,
                  progress: Progress | None = None, cases_per_test: int = CASES_PER_TEST) -> SuiteResult:
    """The suite on a finished run's best model, cached in its folder (the model is loaded only if needed)."""
    from sentiment_core.inference.sources import load_run  # torch loads only when a model does

    return cached_suite(lambda: load_run(run_id), run_fingerprint(run_id), run_id=run_id, tests=tests,
                        seed=seed, cases_per_test=cases_per_test, progress=progress, model=run_id)


def check_model(source, labels: str | None = None, tests: Sequence[str] | str | None = None, seed: int = 0,
                progress: Progress | None = None, cases_per_test: int = CASES_PER_TEST) -> SuiteResult:
    """The suite on any model source (run id, folder, hub id), cached per model and label mapping: what
    `python -m sentiment_core check --model SRC` prints."""
    from sentiment_core.inference.sources import load_predictor, parse_source

    parsed = parse_source(source)
    if parsed.kind == "run" and labels is None:
        return suite_for_run(parsed.value, tests, seed, progress, cases_per_test)
    if parsed.kind == "hub":  # the commit names the model: load (from the cache) to learn it
        predictor = load_predictor(parsed, labels=labels)
        key, loader = f"hub:{parsed.value}@{predictor.revision or parsed.revision}", predictor
    else:
        key = run_fingerprint(parsed.value) if parsed.kind == "run" else folder_fingerprint(parsed.value)
        loader = lambda: load_predictor(parsed, labels=labels)  # noqa: E731 - loaded only when a test is missing
    return cached_suite(loader, key + (f":labels={labels}" if labels else ""), tests=tests, seed=seed,
                        cases_per_test=cases_per_test, progress=progress, model=parsed.text)


# --- tables ------------------------------------------------------------------------------

def _column_names(results: Sequence[SuiteResult]) -> list[str]:
    """One column name per result: the model name, numbered when two share it."""
    names = []
    for result in results:
        name, n = result.model, 2
        while name in names:
            name, n = f"{result.model} ({n})", n + 1
        names.append(name)
    return names


def suite_table(*results: SuiteResult) -> pd.DataFrame:
    """One row per test (capability, test, type, cases, description), one failure-rate column per model."""
    import pandas as pd

    rows: dict[str, dict] = {}
    for column, result in zip(_column_names(results), results):
        for test in result.tests:
            row = rows.setdefault(test.name, {"capability": test.capability, "test": test.name, "type": test.type,
                                              "cases": test.cases, "description": test.description})
            row[column] = test.failure_rate
    order = {name: i for i, name in enumerate(CAPABILITIES)}
    table = pd.DataFrame(list(rows.values()))
    if table.empty:
        return table
    return table.sort_values("capability", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


def capability_table(*results: SuiteResult) -> pd.DataFrame:
    """One row per capability, one column per model: the mean failure rate of the capability's tests."""
    import pandas as pd

    frames = [pd.DataFrame(r.capabilities()).set_index("capability")["failure_rate"].rename(column)
              for column, r in zip(_column_names(results), results)]
    table = pd.concat(frames, axis=1) if frames else pd.DataFrame()
    return table.reindex([c for c in CAPABILITIES if c in table.index]).reset_index()


def held_out_table(*results: SuiteResult) -> pd.DataFrame:
    """One row per capability with held-out cases ("Negation (held-out words)"): its held-out cases, one failure-rate
    column per model on them, and one on its seen cases ("<model> (seen words)"). The held-out figure is the one
    that counts for counterfactual augmentation: it never used those words."""
    import pandas as pd

    rows: dict[str, dict] = {}
    for column, result in zip(_column_names(results), results):
        for capability in result.capabilities():
            if not capability["held_out_cases"]:
                continue
            row = rows.setdefault(capability["capability"], {
                "capability": f"{capability['capability']} (held-out words)",
                "held_out_cases": capability["held_out_cases"], "seen_cases": capability["seen_cases"]})
            row[column] = capability["held_out_failure_rate"]
            row[f"{column} (seen words)"] = capability["seen_failure_rate"]
    order = {name: i for i, name in enumerate(CAPABILITIES)}
    return pd.DataFrame([rows[name] for name in sorted(rows, key=lambda n: order.get(n, len(order)))])


def group_table(groups: Mapping[str, Sequence[SuiteResult]]) -> pd.DataFrame:
    """Failure rate per test, averaged over each group's results (e.g. the seeds of one loss): one column per group."""
    import pandas as pd

    columns = []
    for group, results in groups.items():
        if results:
            table = suite_table(*results).set_index(["capability", "test", "type"])
            columns.append(table[_column_names(results)].mean(axis=1).rename(group))
    return pd.concat(columns, axis=1).reset_index() if columns else pd.DataFrame()


def group_held_out_table(groups: Mapping[str, Sequence[SuiteResult]]) -> pd.DataFrame:
    """Failure rate per capability on its held-out cases (and on its seen cases), averaged over each group's
    results: capability ("Negation (held-out words)"), held_out_cases, then one column per group and one per group
    on the seen words ("<group> (seen words)")."""
    import pandas as pd

    frames = []
    for group, results in groups.items():
        if not results:
            continue
        table = held_out_table(*results)
        if table.empty:
            continue
        names = _column_names(results)
        frames.append(pd.DataFrame({
            "capability": table["capability"], "held_out_cases": table["held_out_cases"],
            group: table[names].mean(axis=1), f"{group} (seen words)": table[[f"{n} (seen words)" for n in names]]
            .mean(axis=1)}).set_index(["capability", "held_out_cases"]))
    return pd.concat(frames, axis=1).reset_index() if frames else pd.DataFrame()


def _percent(value) -> str:
    return "-" if value is None or value != value else f"{value:.1%}"


def format_suite(*results: SuiteResult) -> str:
    """Text tables for the command line: failure rate per test and per capability, a column per model."""
    if not results:
        return "no behaviour results"
    columns = _column_names(results)
    tests = suite_table(*results)
    shown = tests[["capability", "test", "type", "cases", *columns]]
    capabilities = capability_table(*results)
    first = results[0]
    return "\n".join([
        f"Behaviour suite v{first.suite_version} (seed {first.seed}, {first.cases_per_test} cases per test): "
        "failure rate per test, lower is better",
        shown.to_string(index=False, formatters={c: _percent for c in columns}),
        "",
        "Per capability (mean of its tests)",
        capabilities.to_string(index=False, formatters={c: _percent for c in columns}),
        *_held_out_text(results),
    ])


def _held_out_text(results: Sequence[SuiteResult]) -> list[str]:
    table = held_out_table(*results)
    if table.empty:
        return []
    rates = [c for c in table.columns if c not in ("capability", "held_out_cases", "seen_cases")]
    return ["", "Held-out words (data.heldout: counterfactual augmentation never uses them; the figure that counts "
            "for an augmented model), beside the seen words",
            table.drop(columns="seen_cases").to_string(index=False, formatters={c: _percent for c in rates})]


def suite_markdown(result: SuiteResult) -> str:
    """A model card section: failure rate per capability and per test, as Markdown tables."""
    lines = [f"Behaviour suite v{result.suite_version} (seed {result.seed}, {result.cases_per_test} generated cases "
             "per test; MFT: expected label, INV: label unchanged, DIR: P(positive) moves the right way). "
             "Failure rates, lower is better; held-out words: the cases whose sentiment words are all in the half of "
             "the lexicon that counterfactual augmentation never uses.", "",
             "| capability | failure rate | held-out words | seen words |", "| --- | --- | --- | --- |"]
    lines += [f"| {c['capability']} | {c['failure_rate']:.1%} | {_percent(c['held_out_failure_rate'])} | "
              f"{_percent(c['seen_failure_rate'])} |" for c in result.capabilities()]
    lines += ["", "| test | type | capability | cases | failure rate | what it checks |",
              "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {t.name} | {t.type} | {t.capability} | {t.cases} | {t.failure_rate:.1%} | {t.description} |"
              for t in result.tests]
    return "\n".join(lines)

