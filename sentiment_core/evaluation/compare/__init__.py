"""Comparisons of one training setting (A/B): train one run per value (arm) and seed, everything else identical,
and judge the arms. The loss by default; any shared option with `--vary SETTING=A,B`.

`python -m sentiment_core compare-losses --model transformer --losses bce,length_weighted_bce --seeds 3`
(the same as `--vary loss=bce,length_weighted_bce`), or `compare-losses --model bow --vary
augment=none,counterfactual`, plans one run per (arm, seed) pair, trains them one after another (each a normal
run directory, `<comparison-id>-<arm>-s<seed>`, visible in the runs browser) and writes
`SENTIMENT_MODELS_DIR/comparisons/<comparison-id>/`:

- `plan.json`: the setting varied and its values (arms), seeds, shared training options and the planned run ids
  (fixed at creation);
- `status.json`: queued / running / finished / failed / stopped, pid, the run in progress, error;
- `comparison.json`: plan, runs, and `results` (rewritten each time a run ends):
  per loss mean and standard deviation over seeds of test accuracy, F1, ROC-AUC and unweighted BCE;
  accuracy per review-length quartile (one set of token-count edges for every run); calibration
  (ECE, pooled reliability curve); paired significance tests (McNemar per seed pair, paired t-test
  across seeds, overall and per length bucket); convergence (epochs to best, did the validation
  BCE plateau?); and a plain-language verdict that only claims what the p-values support;
- `compare.log`: what the comparison process printed (in the background); `STOP`: asks it to stop.

Within a pair (same seed) the runs share the data split, the training subset, the data order and
the initial weights (training seeds torch with the run's seed whatever the loss), so
the only difference is the setting varied. Raw training losses are never compared: the weighted loss is
smaller by construction. A comparison is resumable: finished runs are kept, stopped runs resume
from their last checkpoint, missing ones start.

The package: `plan` (ids, folder, plan, status), `runner` (training the runs), `statistics` (the
numbers), `verdict` (the sentences), `report` (comparison.json and what the page draws).
"""

from sentiment_core.evaluation.compare.plan import (
    COMPARISON_FILE,
    COMPARISONS_DIR,
    DEFAULT_LOSSES,
    DEFAULT_SEEDS,
    LOG_FILE,
    PLAN_FILE,
    VARIABLE_SETTINGS,
    arm_name,
    comparison_path,
    comparison_run_id,
    comparisons_dir,
    effective_status,
    make_plan,
    new_comparison_id,
    parse_losses,
    parse_seeds,
    parse_vary,
    read_plan,
    read_status,
    run_options,
    stop_requested,
    train_arguments,
    train_config,
    update_status,
    validate_comparison_id,
)
from sentiment_core.evaluation.compare.report import (
    LOSS_SCALE_NOTE,
    analyze,
    behaviour_held_out,
    behaviour_held_out_table,
    behaviour_results,
    behaviour_summary,
    behaviour_table,
    behaviour_verdict,
    buckets_frame,
    comparison_curves,
    comparison_note,
    comparison_runs,
    convergence_table,
    disagreements,
    group_names,
    list_comparisons,
    mean_curves,
    metrics_table,
    read_comparison,
    reliability_frame,
    review_texts,
    significance_table,
    tests_table,
    write_comparison,
)
from sentiment_core.evaluation.compare.runner import (
    check_parallel,
    check_plan,
    create_comparison,
    launch_comparison,
    request_stop,
    revise_plan,
    run_comparison,
    run_state,
    wait_started,
)
from sentiment_core.evaluation.compare.statistics import (
    ALPHA,
    LONG_BUCKET,
    RunResult,
    convergence,
    load_run,
    pair_significance,
)
from sentiment_core.evaluation.compare.verdict import format_p, verdict
from sentiment_core.evaluation.significance import mcnemar, paired_t_test, welch_t_test

__all__ = [name for name in dir() if not name.startswith("_")]
