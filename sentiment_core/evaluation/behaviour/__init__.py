"""Behaviour tests for sentiment models: does a model handle negation, contrast, intensity, ratings, typos and names?

`build_suite(seed)` generates the tests (`suite.py`, from the lexicons in `lexicon.py`); `run_suite(model)`
runs them on anything with `predict(texts, batch_size=..., progress=...)`; `cached_suite` / `suite_for_run`
keep the results per model; `suite_table`, `format_suite` and `SuiteResult.to_dict()` lay them out.
"""

from sentiment_core.evaluation.behaviour.runner import (
    CACHE_FILE,
    MAX_FAILURES,
    BehaviourTestResult,
    Failure,
    SuiteResult,
    cache_file,
    cached_result,
    cached_suite,
    capability_table,
    check_model,
    folder_fingerprint,
    format_suite,
    group_held_out_table,
    group_table,
    held_out_table,
    judge,
    model_name,
    run_fingerprint,
    run_suite,
    suite_for_run,
    suite_markdown,
    suite_table,
)
from sentiment_core.evaluation.behaviour.suite import (
    CAPABILITIES,
    CASES_PER_TEST,
    DIR,
    DIR_TOLERANCE,
    INV,
    MFT,
    NOT_NEGATIVE_MIN,
    SUITE_VERSION,
    TEST_NAMES,
    TEST_TYPES,
    BehaviourTest,
    Case,
    build_suite,
    case_half,
    select_tests,
)

__all__ = [
    "CACHE_FILE", "CAPABILITIES", "CASES_PER_TEST", "DIR", "DIR_TOLERANCE", "INV", "MAX_FAILURES", "MFT",
    "NOT_NEGATIVE_MIN", "SUITE_VERSION", "TEST_NAMES", "TEST_TYPES", "BehaviourTest", "BehaviourTestResult", "Case",
    "Failure", "SuiteResult", "build_suite", "cache_file", "cached_result", "cached_suite", "capability_table",
    "case_half", "check_model", "folder_fingerprint", "format_suite", "group_held_out_table", "group_table",
    "held_out_table", "judge", "model_name", "run_fingerprint",
    "run_suite", "select_tests", "suite_for_run", "suite_markdown", "suite_table",
]
