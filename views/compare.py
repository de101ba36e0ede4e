"""Compare losses (or any training setting): one run per value and seed, watched live, judged side by side with a
verdict and the behaviour suite per arm."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from sentiment_core.core import runs
from sentiment_core.core.errors import SentimentError
from sentiment_core.core.settings import get_settings
from sentiment_core.evaluation import compare
from sentiment_core.training import dashboard as monitor
from sentiment_core.training.losses import LOSSES
from sentiment_core.training.options import FAMILIES, FAMILY_HINTS, FIELDS
from views import forms

REFRESH_SECONDS = 2
LOG_LINES = 15
STATE_COLORS = {"queued": "gray", "running": "blue", "finished": "green", "failed": "red", "stopped": "orange"}
STATE_ICONS = {"queued": "⏳", "running": "🏃", "finished": "✅", "failed": "❌", "stopped": "⏹️"}
LOSS_COLORS = {"bce": "#2166ac", "length_weighted_bce": "#d6604d", "cross_entropy": "#1b7837"}
OTHER_COLORS = ["#762a83", "#e7a700", "#35978f", "#8c510a"]
FORM_OPTIONS = ("epochs", "batch_size", "lr", "max_length", "max_train_samples")  # shared by every run
MODES = ("A comparison", "Runs I pick")
SETTING_HINTS = {"loss": "the loss (the question this page was built for)",
                 "augment": "counterfactual augmentation on or off (judged on the behaviour suite's held-out words)"}


def colors_for(names) -> dict:
    others = iter(OTHER_COLORS * 4)
    return {name: LOSS_COLORS.get(name) or next(others) for name in names}


@st.cache_data(show_spinner="Loading the test reviews…", max_entries=8)
def review_texts(run_id: str, created: str | None) -> list[str] | None:
    """The run's test reviews in prediction order (None when the data source cannot be read)."""
    try:
        return compare.review_texts(run_id)
    except (SentimentError, OSError):
        return None


def apply_family_defaults() -> None:
    for name, value in monitor.form_defaults(st.session_state["cmp_family"]).items():
        st.session_state[f"cmp_{name}"] = value


def select_comparison(comparison_id: str | None) -> None:
    if comparison_id:
        st.query_params["comparison"] = comparison_id
        st.session_state["cmp_selected"] = comparison_id
    else:
        st.query_params.pop("comparison", None)
        st.session_state.pop("cmp_selected", None)


# --- starting a comparison -------------------------------------------------------------

def new_comparison_form() -> None:
    st.subheader("New comparison")
    st.session_state.setdefault("cmp_family", "transformer")
    st.session_state.setdefault("cmp_setting", "loss")
    st.session_state.setdefault("cmp_losses", list(compare.DEFAULT_LOSSES))
    st.session_state.setdefault("cmp_seeds", compare.DEFAULT_SEEDS)
    st.session_state.setdefault("cmp_first_seed", get_settings().seed)
    family = st.selectbox("Model family", FAMILIES, key="cmp_family", on_change=apply_family_defaults,
                          help="Choosing a family fills in its default epochs, batch size, learning rate and "
                          "max length.")
    st.caption(FAMILY_HINTS[family])
    setting = st.selectbox("What the arms differ in", compare.VARIABLE_SETTINGS, key="cmp_setting",
                           format_func=lambda name: f"{name}: {SETTING_HINTS[name]}" if name in SETTING_HINTS
                           else name, help="Each value is trained once per seed with everything else identical "
                           "(compare-losses --vary SETTING=A,B).")
    shared = FORM_OPTIONS + (("augment_share",) if setting == "augment" else ())
    specs = monitor.form_fields(family, shared)
    forms.set_defaults(specs, "cmp_")
    with st.form("compare_form", border=True):
        loss = None
        if setting == "loss":
            values = st.multiselect("Losses", LOSSES, key="cmp_losses",
                                    help="Two or more; each is trained once per seed with everything else identical.")
        elif FIELDS[setting].metadata["choices"]:
            st.session_state.setdefault(f"cmp_values_{setting}", list(FIELDS[setting].metadata["choices"])[:2])
            values = st.multiselect("Values", FIELDS[setting].metadata["choices"], key=f"cmp_values_{setting}",
                                    help=f"Two or more values of {setting}; each is trained once per seed.")
        else:
            text = st.text_input("Values", key=f"cmp_values_{setting}", placeholder="e.g. 0.001, 0.003",
                                 help=f"Two or more values of {setting}, separated by commas.")
            values = [v for v in text.split(",") if v.strip()]
        if setting != "loss":
            loss = st.selectbox("Loss of every run", LOSSES, key="cmp_loss")
        left, right = st.columns(2)
        seeds = left.number_input("Seeds", key="cmp_seeds", min_value=1, step=1,
                                  help="Runs per value. Each seed gives one pair with the same data order and the "
                                  "same initial weights; three or more make the across-seed test meaningful.")
        first_seed = right.number_input("First seed", key="cmp_first_seed", step=1,
                                        help="Seeds are first seed, first seed + 1, …")
        options = forms.option_inputs(specs, "cmp_")
        submitted = st.form_submit_button("▶️ Start comparison", type="primary", width="stretch")
    runs_count = len(values) * int(seeds or 0)
    st.caption(f"{runs_count} runs, trained one after another in a background process; each is a normal run "
               "(see the Train page).")
    if submitted:
        try:
            if setting == "loss":
                plan = compare.make_plan(family, values, int(seeds), first_seed=int(first_seed), **options)
            else:
                plan = compare.make_plan(family, seeds=int(seeds), first_seed=int(first_seed),
                                         vary=(setting, values), loss=loss, **options)
        except (SentimentError, TypeError) as error:
            st.error(f"Not started: {error}", icon="🚫")
            return
        start(plan)


def start(plan: dict) -> None:
    try:
        compare.check_plan(plan)  # a plan its runs would refuse is not written nor started
        compare.create_comparison(plan)
        compare.launch_comparison(plan["comparison_id"])
    except (OSError, SentimentError) as error:
        st.error(f"Could not start the comparison: {error}", icon="🚫")
        return
    select_comparison(plan["comparison_id"])
    st.session_state["cmp_notice"] = f"Started comparison `{plan['comparison_id']}` ({len(plan['runs'])} runs)."
    st.rerun()


def stop(comparison_id: str) -> None:
    try:
        compare.request_stop(comparison_id)
    except SentimentError as error:
        st.session_state["cmp_notice_error"] = str(error)


def resume(comparison_id: str) -> None:
    try:
        compare.launch_comparison(comparison_id)
    except (OSError, SentimentError) as error:
        st.session_state["cmp_notice_error"] = f"Could not resume: {error}"


# --- the live view ---------------------------------------------------------------------

def curves_figure(frame: pd.DataFrame, means: pd.DataFrame, metric: str, x: str, colors: dict, key: str) -> go.Figure:
    """Seeds as thin lines, the mean over seeds as a thick one; train solid, validation dotted with markers."""
    figure = go.Figure()
    part = frame[frame["metric"] == metric]
    for (group, run_id, split), rows in part.groupby(["group", "run_id", "split"], sort=False):
        figure.add_scatter(x=rows["x"], y=rows["value"], mode="lines" if split == "train" else "lines+markers",
                           line=dict(color=colors[group], width=1, dash="solid" if split == "train" else "dot"),
                           marker=dict(size=4), opacity=0.35, name=f"{run_id} · {split}", showlegend=False,
                           legendgroup=f"{group}-{split}")
    mean = means[means["metric"] == metric]
    for (group, split), rows in mean.groupby(["group", "split"], sort=False):
        figure.add_scatter(x=rows["x"], y=rows["value"], mode="lines" if split == "train" else "lines+markers",
                           line=dict(color=colors[group], width=3.5, dash="solid" if split == "train" else "dot"),
                           marker=dict(size=8), name=f"{group} · {split} (mean)", legendgroup=f"{group}-{split}")
    title = ("Loss: train (each run's own loss) · validation BCE (unweighted)" if metric == "loss"
             else "Accuracy: train · validation")
    figure.update_layout(title=dict(text=title, x=0, font_size=15), height=380, margin=dict(t=40, b=10, l=10, r=10),
                         legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), xaxis_title=x, yaxis_title=metric,
                         uirevision=key)
    if metric == "accuracy":
        figure.update_yaxes(tickformat=".0%", autorangeoptions=dict(maxallowed=1.01))
    return figure


def live_view(comparison_id: str, was_active: bool) -> None:
    """Redrawn from the comparison folder and its runs every REFRESH_SECONDS while it is active."""
    try:
        plan = compare.read_plan(comparison_id)
        status = compare.effective_status(comparison_id)
        table = compare.comparison_runs(comparison_id, plan)
    except SentimentError as error:
        st.error(str(error), icon="🚫")
        return
    state = status.get("state", "unknown")
    active = state in runs.ACTIVE_STATES
    stopping = active and compare.stop_requested(comparison_id)
    title, badge = st.columns([5, 1], vertical_alignment="center")
    title.markdown(f"#### Comparison `{comparison_id}`")
    badge.badge("stopping…" if stopping else state, icon=STATE_ICONS.get(state),
                color="orange" if stopping else STATE_COLORS.get(state, "gray"))
    options = ", ".join(f"{k.replace('_', ' ')} {v:g}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
                        for k, v in plan["options"].items() if k != "data")
    st.caption(f"{plan['model']} · {plan['vary']}: {' vs '.join(plan['arms'])} · seeds "
               f"{', '.join(map(str, plan['seeds']))}"
               + (f" · {options}" if options else " · family defaults"))
    finished = int((table["state"] == "finished").sum())
    current = status.get("current_run") if active else None
    text = f"{finished} of {len(table)} runs finished" + (f" · now: `{current}`" if current else "")
    if current and current in set(table["run_id"]):
        row = table.set_index("run_id").loc[current]
        progress = monitor.progress(monitor.run_status(current)) if row["state"] != "not started" else None
        if progress:
            text += f" · {progress.step_text} · {progress.eta_text}"
    st.progress(finished / max(1, len(table)), text=text)
    if state == "failed":
        st.error(f"The comparison failed: {status.get('error') or 'see compare.log below'}", icon="❌")
    elif state == "stopped":
        st.info(f"Stopped with {finished} of {len(table)} runs finished. Resume keeps the finished runs, resumes "
                "a stopped run from its checkpoint and starts the others.", icon="⏹️")
    buttons = st.container(horizontal=True)
    if active:
        buttons.button("⏹️ Stop", key="cmp_stop", on_click=stop, args=(comparison_id,), disabled=stopping,
                       help="The run in progress saves a checkpoint and stops; no further run starts.")
    elif finished < len(table):
        buttons.button("⏯️ Resume", key="cmp_resume", on_click=resume, args=(comparison_id,), type="primary",
                       help="Continue in a new background process.")
    shown = table.assign(step=table.apply(
        lambda r: f"{int(r['step'] or 0):,} / {int(r['total_steps']):,}" if pd.notna(r["total_steps"]) else "–",
        axis=1))
    st.dataframe(shown[["run_id", "arm", "seed", "state", "step", "test_accuracy"]], hide_index=True,
                 key="cmp_runs_table", column_config={
                     "run_id": st.column_config.TextColumn("Run"), "arm": plan["vary"].capitalize(), "seed": "Seed",
                     "state": "State",
                     "step": "Step", "test_accuracy": st.column_config.NumberColumn("Test accuracy", format="%.3f")})

    controls = st.columns([1, 2])
    by_epoch = controls[0].toggle("x axis: epochs", key="cmp_by_epoch",
                                  help="Plot against epochs instead of optimisation steps.")
    smoothing = controls[1].slider("Smoothing of the train curves (EMA)", 0.0, 0.99, 0.6, 0.01, key="cmp_smoothing",
                                   help="TensorBoard-style debiased exponential moving average; 0 = raw values.")
    x = "epoch" if by_epoch else "step"
    entries = [{"run_id": r["run_id"], "group": r["arm"], "seed": r["seed"]} for r in plan["runs"]]
    frame = compare.comparison_curves(entries, x=x, smoothing=smoothing)
    if frame.empty:
        st.info("No metrics yet: the curves appear after the first run's first logged step.", icon="⏳")
    else:
        means = compare.mean_curves(frame)
        colors = colors_for(plan["arms"])
        left, right = st.columns(2)
        left.plotly_chart(curves_figure(frame, means, "loss", x, colors, f"{comparison_id}-loss-{x}"),
                          key="cmp_live_loss")
        right.plotly_chart(curves_figure(frame, means, "accuracy", x, colors, f"{comparison_id}-acc-{x}"),
                           key="cmp_live_accuracy")
        st.caption("Thin lines: one seed each; thick: the mean over seeds. The train loss is each run's own "
                   "loss (the weighted one is smaller by construction, not better); the validation loss is "
                   "the unweighted BCE, comparable across losses.")
    with st.expander(f"Log: last {LOG_LINES} lines of compare.log"):
        st.code(monitor.log_tail(compare.comparison_path(comparison_id), LOG_LINES, name=compare.LOG_FILE)
                or "(no output yet)", language=None)
    if active != was_active:
        st.rerun()  # the whole page: turns auto-refresh on or off and shows the results


# --- the results, side by side ---------------------------------------------------------

def results_view(results: dict, key: str) -> None:
    """Verdict, metrics table, per-length accuracy, reliability, significance, convergence, disagreements."""
    verdict_view(results)
    metrics_view(results, key)
    significance_view(results, key)
    convergence_view(results, key)
    disagreements_view(results, key)


def behaviour_view(payload: dict) -> None:
    """The behaviour suite per arm: failure rates on the held-out words (the figure that counts for augmentation)
    with their tests, and every test in an expander."""
    held_out = compare.behaviour_held_out_table(payload)
    tests = compare.behaviour_table(payload)
    if held_out.empty and tests.empty:
        return
    st.subheader("Behaviour tests per arm (failure rate, mean over seeds)")
    if not held_out.empty:
        st.caption("On the held-out words: cases whose sentiment words are all in the half of the lexicon that "
                   "counterfactual augmentation never uses (docs/behaviour.md); \"(seen words)\": the other half.")
        rates = [c for c in held_out.columns if c not in ("capability", "held_out_cases")]
        st.dataframe(held_out.style.format("{:.1%}", subset=rates, na_rep="–"), hide_index=True,
                     key="cmp_held_out", column_config={"capability": "Capability", "held_out_cases": "Cases"})
    for sentence in (payload.get("behaviour_verdict") or {}).get("sentences", []):
        st.markdown(f"- {sentence}")
    if not tests.empty:
        with st.expander("Every behaviour test"):
            rates = [c for c in tests.columns if c not in ("capability", "test", "type")]
            st.dataframe(tests.style.format("{:.1%}", subset=rates, na_rep="–"), hide_index=True,
                         key="cmp_behaviour_tests")


def verdict_view(results: dict) -> None:
    st.subheader("Verdict")
    verdict = results["verdict"]
    significant = any(p["overall"]["significant"] or any(b["significant"] for b in p["buckets"])
                      for p in results["significance"])
    (st.success if significant else st.info)(verdict["headline"], icon="⚖️")
    st.markdown("\n".join(f"- {sentence}" for sentence in verdict["sentences"]))
    for caveat in verdict["caveats"]:
        st.caption(f"⚠️ {caveat}")
    st.caption(f"Significance level {results['alpha']:g}. {results['note']}")


def metrics_view(results: dict, key: str) -> None:
    """The test metrics table, accuracy per review length and the reliability curves."""
    names = list(results["groups"])
    colors = colors_for(names)
    st.subheader("Test metrics (mean ± std over seeds)")
    table = compare.metrics_table(results)
    st.dataframe(table[["arm", "runs", "accuracy", "f1", "roc_auc", "bce", "ece"]], hide_index=True,
                 key=f"{key}_metrics", column_config={
                     "arm": results.get("setting", "loss").capitalize(), "runs": "Runs", "accuracy": "Accuracy",
                     "f1": "F1", "roc_auc": "ROC-AUC",
                     "bce": st.column_config.TextColumn("BCE (unweighted)",
                                                        help="Log loss of P(positive): lower is better."),
                     "ece": st.column_config.TextColumn("ECE",
                                                        help="Expected calibration error, 10 bins: lower is better."),
                 })

    left, right = st.columns(2)
    buckets = compare.buckets_frame(results)
    figure = px.bar(buckets, x="label", y="mean", color="group", barmode="group", error_y="std",
                    color_discrete_map=colors, hover_data={"n": True, "std": ":.3f"}, text_auto=".3f",
                    labels={"label": "review length (token quartile, the same edges for every run)",
                            "mean": "test accuracy", "group": results.get("setting", "loss")},
                    title="Accuracy per review length (mean ± std over seeds)")
    # The legend above the plot: below it, the slanted quartile names push the axis title into it.
    figure.update_layout(height=400, margin=dict(t=80, b=10, l=10, r=10), title_x=0,
                         legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, title_text=""))
    figure.update_yaxes(tickformat=".0%", range=[0, 1.08])
    left.plotly_chart(figure, key=f"{key}_buckets")
    reliability = compare.reliability_frame(results)
    figure = go.Figure()
    figure.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                       line=dict(color="#999", dash="dash", width=1))
    for name in names:
        rows = reliability[reliability["group"] == name]
        ece = results["calibration"][name]["pooled_ece"]
        figure.add_scatter(x=rows["mean_probability"], y=rows["fraction_positive"], mode="lines+markers",
                           name=f"{name} (ECE {ece:.3f})", line=dict(color=colors[name], width=2.5),
                           customdata=rows["n"],
                           hovertemplate="predicted %{x:.2f} · observed %{y:.2f} · %{customdata} reviews")
    figure.update_layout(title=dict(text="Reliability curves (test, pooled over seeds)", x=0), height=380,
                         margin=dict(t=50, b=10, l=10, r=10), xaxis_title="mean predicted P(positive)",
                         yaxis_title="fraction positive", legend=dict(orientation="h", y=-0.3))
    figure.update_xaxes(range=[0, 1])
    figure.update_yaxes(range=[0, 1])
    right.plotly_chart(figure, key=f"{key}_reliability")


def significance_view(results: dict, key: str) -> None:
    st.subheader("Significance")
    st.caption("McNemar's exact test per seed pair on the test predictions (discordant reviews: only A right / "
               "only B right); a paired t-test across seeds on the accuracy differences. Difference = A − B, "
               "in accuracy points.")
    tests = compare.tests_table(results)
    st.dataframe(tests, hide_index=True, key=f"{key}_tests", column_config={
        "a": "A", "b": "B", "reviews": "Reviews",
        "difference_points": st.column_config.NumberColumn("A − B (points)", format="%+.2f"),
        "test": "Deciding test", "p_value": st.column_config.NumberColumn("p", format="%.4f"),
        "significant": st.column_config.CheckboxColumn("Significant"),
    })
    pairs = compare.significance_table(results)
    if not pairs.empty:
        with st.expander("McNemar per seed pair", expanded=False):
            st.dataframe(pairs, hide_index=True, key=f"{key}_pairs", column_config={
                "accuracy_a": st.column_config.NumberColumn("accuracy A", format="%.3f"),
                "accuracy_b": st.column_config.NumberColumn("accuracy B", format="%.3f"),
                "a_only": "only A right", "b_only": "only B right",
                "p_value": st.column_config.NumberColumn("p", format="%.4f"),
                "long_a_only": "long: only A right", "long_b_only": "long: only B right",
                "long_p_value": st.column_config.NumberColumn("long: p", format="%.4f"),
            })


def convergence_view(results: dict, key: str) -> None:
    st.subheader("Convergence")
    st.caption(f"On the unweighted validation BCE: 'still improving' = the last evaluation beat every earlier one "
               f"by more than {results['convergence']['tolerance']:.0%}; 'plateaued' = within that of the best; "
               "'rising' = above it (overfitting). Each run keeps its best checkpoint on the validation metric "
               "in 'checkpoint kept by' (--best-metric).")
    st.dataframe(compare.convergence_table(results), hide_index=True, key=f"{key}_convergence", column_config={
        "run_id": "Run", "group": "Loss", "seed": "Seed", "evaluations": "Evaluations",
        "trend": "Validation BCE at the end",
        "best_accuracy_epoch": st.column_config.NumberColumn("epochs to best (val. accuracy)", format="%.2f"),
        "best_accuracy": st.column_config.NumberColumn("best val. accuracy", format="%.3f"),
        "best_bce_epoch": st.column_config.NumberColumn("epoch of lowest val. BCE", format="%.2f"),
        "best_bce": st.column_config.NumberColumn("lowest val. BCE", format="%.4f"),
        "last_bce": st.column_config.NumberColumn("last val. BCE", format="%.4f"),
        "kept_by": "checkpoint kept by",
    })


def disagreements_view(results: dict, key: str) -> None:
    st.subheader("Reviews where they disagree")
    pairs = [(pair["a"], pair["b"], item) for pair in results["significance"] for item in pair["pairs"]
             if item.get("p_value") is not None]
    if not pairs:
        st.info("No two runs here were tested on the same reviews, so there is nothing to pair.", icon="ℹ️")
        return
    labels = [f"{a} ({item['run_a']}) vs {b} ({item['run_b']})" for a, b, item in pairs]
    chosen = st.selectbox("Pair of runs", range(len(pairs)), format_func=lambda i: labels[i], key=f"{key}_pair")
    name_a, name_b, item = pairs[chosen]
    edges = results["length_buckets"]["edges"]
    low, high = int(edges[0]), int(edges[-1])
    if high <= low:
        high = low + 1
    span = st.slider("Review length (tokens)", low, high, (low, high), key=f"{key}_length",
                     help=f"Quartile edges: {', '.join(str(int(e)) for e in edges)}; "
                     "long reviews are the last quartile.")
    try:
        frame = compare.disagreements(item["run_a"], item["run_b"], span[0], span[1], edges=edges)
    except SentimentError as error:
        st.error(str(error), icon="🚫")
        return
    texts = review_texts(item["run_a"], runs.read_config(runs.run_path(item["run_a"])).get("created"))
    if texts is not None and len(texts) > int(frame["id"].max() if len(frame) else 0):
        frame["review"] = [texts[i] for i in frame["id"]]
    frame["right"] = frame["right"].map({item["run_a"]: name_a, item["run_b"]: name_b})
    frame["label"] = frame["label"].map({0: "negative", 1: "positive"})
    st.caption(f"{len(frame):,} test reviews of {span[0]}-{span[1]} tokens where `{name_a}` and `{name_b}` predict "
               f"different labels (only A right: {item['a_only']:,}, only B right: {item['b_only']:,} on all lengths); "
               "the most confident disagreements first.")
    st.dataframe(frame, hide_index=True, key=f"{key}_disagreements", column_config={
        "id": "Review", "length": "Tokens", "bucket": "Quartile", "label": "True label",
        "probability_a": st.column_config.ProgressColumn(f"P(positive), {name_a}", min_value=0.0, max_value=1.0,
                                                         format="%.3f"),
        "probability_b": st.column_config.ProgressColumn(f"P(positive), {name_b}", min_value=0.0, max_value=1.0,
                                                         format="%.3f"),
        "right": "Right", "review": st.column_config.TextColumn("Review text", width="large"),
    })


# --- the two modes ---------------------------------------------------------------------

def comparison_mode() -> None:
    form_column, live_column = st.columns([1, 2], gap="large")
    with form_column:
        new_comparison_form()
    table = compare.list_comparisons()
    with live_column:
        st.subheader("Comparisons")
        ids = table["comparison_id"].tolist()
        wanted = st.query_params.get("comparison") or st.session_state.get("cmp_selected")
        if wanted and wanted not in ids:
            st.warning(f"Comparison `{wanted}` does not exist in `{compare.comparisons_dir()}`.", icon="⚠️")
            select_comparison(None)
            wanted = None
        if not ids:
            st.info("No comparisons yet: start one with the form. Its runs appear here live.", icon="ℹ️")
            return
        if not wanted:
            active = table[table["state"].isin(runs.ACTIVE_STATES)]
            wanted = (active if not active.empty else table).iloc[0]["comparison_id"]
        st.session_state["cmp_pick"] = wanted
        chosen = st.selectbox("Comparison", ids, key="cmp_pick", format_func=lambda i: _describe(table, i),
                              on_change=lambda: select_comparison(st.session_state["cmp_pick"]))
        select_comparison(chosen)
        was_active = compare.effective_status(chosen).get("state") in runs.ACTIVE_STATES
        st.fragment(live_view, run_every=REFRESH_SECONDS if was_active else None)(chosen, was_active)
    st.divider()
    payload = compare.read_comparison(chosen)
    st.header("Results")
    if payload.get("results"):
        if not payload.get("complete"):
            st.caption("Partial results: from the runs finished so far.")
        results_view(payload["results"], key="cmp")
        behaviour_view(payload)
        st.caption(f"All of it is in `{compare.comparison_path(chosen) / compare.COMPARISON_FILE}`.")
    else:
        st.info(f"No results yet: {payload.get('results_problem') or 'no run has finished'}.", icon="⏳")


def _describe(table: pd.DataFrame, comparison_id: str) -> str:
    row = table.set_index("comparison_id").loc[comparison_id]
    return (f"{comparison_id} · {row['vary']}: {row['arms']} · {row['seeds']} seeds · {row['state']} "
            f"({row['finished']}/{row['total']} runs)")


def pick_mode() -> None:
    st.subheader("Pick two runs, or two groups of runs")
    st.caption("Runs with the same seed are paired (McNemar per pair, paired t-test across pairs); groups of "
               "the same size without matching seeds are paired in order; otherwise a Welch t-test across runs.")
    table = monitor.runs_table()
    finished = table[table["state"] == "finished"]["run_id"].tolist() if not table.empty else []
    if len(finished) < 2:
        st.info("Two finished runs are needed: train some on the Train page, or start a comparison.", icon="ℹ️")
        return
    left, right = st.columns(2)
    if "pick_a" in st.session_state:
        st.session_state["pick_a"] = [r for r in st.session_state["pick_a"] if r in finished]
    group_a = left.multiselect("Group A", finished, key="pick_a", placeholder="one or more finished runs")
    options_b = [r for r in finished if r not in group_a]
    if "pick_b" in st.session_state:  # drop runs moved to group A (or deleted) before the widget sees them
        st.session_state["pick_b"] = [r for r in st.session_state["pick_b"] if r in options_b]
    group_b = right.multiselect("Group B", options_b, key="pick_b",
                                placeholder="one or more finished runs")
    if not group_a or not group_b:
        st.caption("Pick at least one run in each group.")
        return
    name_a, name_b = compare.group_names(group_a, group_b)
    try:
        results = compare.analyze({name_a: group_a, name_b: group_b})
    except SentimentError as error:
        st.error(f"Cannot compare these runs: {error}", icon="🚫")
        return
    results_view(results, key="pick")


# --- the page --------------------------------------------------------------------------

st.title("⚖️ Compare losses")
st.markdown("Does the length-weighted BCE of the original project beat plain BCE? Does counterfactual augmentation "
            "teach a model negation? Train one run per loss (or per value of another training setting) and seed "
            "with everything else identical (same data, same initial weights per seed), watch them live, and judge "
            "them on the same unweighted yardsticks, per review length, with significance tests, and on the "
            "behaviour suite.")
st.info(compare.LOSS_SCALE_NOTE, icon="📏")
try:
    st.caption(monitor.where_runs_go(compare.comparisons_dir()))
except SentimentError as error:
    st.error(str(error), icon="🚫")
if notice := st.session_state.pop("cmp_notice", None):
    st.success(notice, icon="✅")
if notice_error := st.session_state.pop("cmp_notice_error", None):
    st.error(notice_error, icon="🚫")

mode = st.segmented_control("Compare", MODES, default=MODES[0], key="cmp_mode", label_visibility="collapsed")
if mode == MODES[1]:
    pick_mode()
else:
    comparison_mode()
