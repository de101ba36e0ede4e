"""Evaluate: behaviour tests (negation, contrast, intensity, ratings, typos, names) side by side for one or two
runs; paired edits (reviews beside their edited twins: accuracy on each, consistency); the error slices of their
test predictions, ROC and precision-recall curves, and a movable threshold."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from sentiment_core.core import runs
from sentiment_core.core.errors import SentimentError
from sentiment_core.evaluation import behaviour, pairs, slices
from sentiment_core.inference import default_model
from views import forms

MAX_RUNS = 2
RUN_COLORS = ("#2166ac", "#d6604d")
MAX_CURVE_POINTS = 600
# Cell colours of a failure rate: good, worrying, bad.
RATE_COLORS = ((0.1, "#dcfce7"), (0.3, "#fef3c7"), (1.01, "#fee2e2"))


def table_height(rows: int) -> int:
    """Pixels that show every row of a st.dataframe without scrolling."""
    return 35 * (rows + 1) + 3


def rate_style(value) -> str:
    if not isinstance(value, float) or value != value:
        return ""
    return next(f"background-color: {color}" for limit, color in RATE_COLORS if value < limit)


# --- behaviour tests -----------------------------------------------------------------------

def suite_results(chosen: list[str]) -> dict:
    """Cached results per run (None where the suite has not run on the run's current model)."""
    return {run_id: behaviour.cached_result(behaviour.run_fingerprint(run_id), run_id=run_id) for run_id in chosen}


def run_missing(missing: list[str], results: dict) -> None:
    bar = st.progress(0.0, text="Loading the model…")
    for index, run_id in enumerate(missing):
        def progress(done: int, total: int, index=index, run_id=run_id) -> None:
            bar.progress(min((index + done / total) / len(missing), 1.0), text=f"{run_id}: {done:,} / {total:,} texts")

        try:
            results[run_id] = behaviour.suite_for_run(run_id, progress=progress)
        except ValueError as error:
            st.error(f"Cannot run the suite on {run_id}: {error}", icon="🚫")
    bar.empty()


def open_in_predict(text: str, run_id: str) -> None:
    st.session_state["predict_text"] = text
    st.session_state["predict_run"] = run_id
    st.switch_page("views/predict.py")


def failures_view(results: dict, table: pd.DataFrame) -> None:
    st.subheader("Failures")
    capabilities = dict(zip(table["test"], table["capability"]))
    name = st.selectbox("Test", list(capabilities), key="eval_test", format_func=lambda t: f"{t} ({capabilities[t]})")
    st.caption(dict(zip(table["test"], table["description"]))[name])
    options = []
    columns = st.columns(len(results), gap="large")
    for column, (run_id, result) in zip(columns, results.items()):
        test = result.test(name)
        with column:
            st.markdown(f"**{run_id}**: {test.failed} of {test.cases} cases fail ({test.failure_rate:.1%})"
                        + (f" · mean change of P(positive) {test.mean_change:+.3f} "
                           f"(absolute {test.mean_abs_change:.3f})"
                           if test.mean_change is not None else ""))
            if not test.failures:
                st.success("No failure.", icon="✅")
                continue
            rows = pd.DataFrame([{"text": f.text, "expected": f.expected, "predicted": f.predicted,
                                  "P(positive)": f.probability, "original": f.original,
                                  "P(positive) of the original": f.original_probability} for f in test.failures])
            rows = rows.dropna(axis=1, how="all")
            st.dataframe(rows, hide_index=True, key=f"eval_failures_{run_id}",
                         column_config={"P(positive)": st.column_config.NumberColumn(format="%.3f"),
                                        "P(positive) of the original": st.column_config.NumberColumn(format="%.3f")})
            options += [(run_id, f.text) for f in test.failures]
    if not options:
        return
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Open a failure on the Predict page, with its highlighted words", range(len(options)),
                            format_func=lambda i: f"{options[i][0]}: {options[i][1][:140]}", key="eval_failure")
    if right.button("🔮 Open in Predict", key="eval_open", width="stretch"):
        open_in_predict(options[chosen][1], options[chosen][0])


def behaviour_section(chosen: list[str]) -> None:
    st.caption(
        f"{len(behaviour.TEST_NAMES)} tests of {behaviour.CASES_PER_TEST} generated cases each (seed 0, suite "
        f"v{behaviour.SUITE_VERSION}). **MFT**: each case has an expected label (\"not negative\" means "
        f"P(positive) ≥ {behaviour.NOT_NEGATIVE_MIN:.2f}, neutral or positive). "
        "**INV**: the change must not flip the label. **DIR**: appending a clearly positive "
        f"(negative) sentence must not lower (raise) P(positive) by more than {behaviour.DIR_TOLERANCE}. "
        "Results are kept per model and recomputed when a run's model changes.")
    results = suite_results(chosen)
    missing = [run_id for run_id, result in results.items() if result is None]
    if missing:
        slot = st.empty()  # the button goes once the suite has run
        if slot.button(f"▶️ Run the behaviour suite on {' and '.join(missing)}", key="eval_run_suite", type="primary"):
            slot.empty()
            run_missing(missing, results)
        else:
            cases = len(behaviour.TEST_NAMES) * behaviour.CASES_PER_TEST
            st.info("The suite has not run on " + " and ".join(f"`{r}`" for r in missing) + f" yet: {cases:,} short "
                    "cases, seconds for bow, a minute or two for bigger models on a CPU.", icon="🧪")
    shown = {run_id: result for run_id, result in results.items() if result is not None}
    if not shown:
        return
    table = behaviour.suite_table(*shown.values())
    details = ["capability", "test", "type", "cases", "description"]
    rate_columns = [c for c in table.columns if c not in details]  # one per run
    st.subheader("Failure rate per test (lower is better)")
    st.dataframe(table[["capability", "test", "type", "cases", *rate_columns, "description"]].style
                 .map(rate_style, subset=rate_columns).format("{:.1%}", subset=rate_columns),
                 hide_index=True, key="eval_suite_table", width="stretch", height=table_height(len(table)))
    capabilities = behaviour.capability_table(*shown.values()).melt(
        id_vars="capability", var_name="run", value_name="failure rate")
    figure = px.bar(capabilities, x="capability", y="failure rate", color="run", barmode="group",
                    color_discrete_sequence=RUN_COLORS, title="Failure rate per capability (mean of its tests)")
    figure.update_layout(yaxis_tickformat=".0%", margin=dict(l=0, r=0, t=40, b=0), legend_title=None, xaxis_title=None)
    st.plotly_chart(figure, key="eval_capabilities")
    held_out_view(shown)
    failures_view(shown, table)


def held_out_view(shown: dict) -> None:
    """Failure rate per capability on the cases whose sentiment words are all in the held-out half of the lexicon,
    beside the seen half: the figure that counts for a run trained with counterfactual augmentation."""
    table = behaviour.held_out_table(*shown.values())
    if table.empty:
        return
    st.subheader("Held-out words (the figure that counts for augmentation)")
    st.caption("The lexicon is split in two fixed halves (docs/behaviour.md): counterfactual augmentation "
               "(`train --augment counterfactual`) never uses a word of the held-out half. A row counts the cases "
               "whose sentiment words are all held out; \"(seen words)\" is the same on the other half.")
    rates = [c for c in table.columns if c not in ("capability", "held_out_cases", "seen_cases")]
    st.dataframe(table.style.map(rate_style, subset=rates).format("{:.1%}", subset=rates, na_rep="–"),
                 hide_index=True, key="eval_held_out_table", width="stretch", height=table_height(len(table)),
                 column_config={"capability": "Capability", "held_out_cases": "Held-out cases",
                                "seen_cases": "Seen cases"})


# --- paired edits ---------------------------------------------------------------------------

def score_upload(upload, chosen: list[str]) -> None:
    """Check an uploaded pairs file; on the button, score it on each chosen run (kept in the run's pairs.json)."""
    if not forms.upload_within_limit(upload, "python -m sentiment_core evaluate --pairs"):
        return
    try:
        pair_set = pairs.read_pairs(upload)
    except SentimentError as error:
        st.error(str(error), icon="🚫")
        return
    kinds = list(dict.fromkeys(p.kind for p in pair_set.pairs if p.kind))
    st.write(f"**{pair_set.name}**: {len(pair_set.pairs):,} pairs" + (f"; kinds: {', '.join(kinds)}" if kinds else ""))
    if not st.button(f"▶️ Score {len(pair_set.pairs):,} pairs on {' and '.join(chosen)}", key="eval_pairs_score",
                     type="primary"):
        return
    bar = st.progress(0.0, text="Loading the model…")
    for index, run_id in enumerate(chosen):
        def progress(done: int, total: int, index=index, run_id=run_id) -> None:
            bar.progress(min((index + done / total) / len(chosen), 1.0), text=f"{run_id}: {done:,} / {total:,} texts")

        try:
            pairs.pairs_for_run(run_id, pair_set, progress=progress)
        except SentimentError as error:
            st.error(f"Cannot score the pairs on {run_id}: {error}", icon="🚫")
    bar.empty()


def inconsistent_view(results: dict) -> None:
    st.subheader("Pairs not both right")
    options = []
    columns = st.columns(len(results), gap="large")
    for column, (run_id, result) in zip(columns, results.items()):
        with column:
            shown = len(result.inconsistent)
            st.markdown(f"**{run_id}**: {result.inconsistent_count} of {result.all['pairs']} pairs"
                        + (f" (the first {shown} shown)" if shown < result.inconsistent_count else ""))
            if not result.inconsistent:
                st.success("Both texts of every pair right.", icon="✅")
                continue
            rows = pd.DataFrame([{"pair": e["pair"], "kind": e["kind"], "original": e["original"]["text"],
                                  "label": e["original"]["label"], "predicted": e["original"]["predicted"],
                                  "P(positive)": e["original"]["probability"], "edit": e["edit"]["text"],
                                  "edit label": e["edit"]["label"], "edit predicted": e["edit"]["predicted"],
                                  "edit P(positive)": e["edit"]["probability"]} for e in result.inconsistent])
            st.dataframe(rows.dropna(axis=1, how="all"), hide_index=True, key=f"eval_pairs_wrong_{run_id}",
                         column_config={name: st.column_config.NumberColumn(format="%.3f")
                                        for name in ("P(positive)", "edit P(positive)")})
            options += [(run_id, e[side]["text"], f"pair {e['pair']}, {side}") for e in result.inconsistent
                        for side in ("original", "edit")]
    if not options:
        return
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Open a text on the Predict page, with its highlighted words", range(len(options)),
                            format_func=lambda i: f"{options[i][0]}, {options[i][2]}: {options[i][1][:120]}",
                            key="eval_pairs_pick")
    if right.button("🔮 Open in Predict", key="eval_pairs_open", width="stretch"):
        open_in_predict(options[chosen][1], options[chosen][0])


def pairs_section(chosen: list[str]) -> None:
    st.caption("Reviews beside their edited twins (a contrast set, counterfactual edits): accuracy on the originals, "
               "on the edits, and **consistency**, the share of pairs with both right, per kind of edit. A pairs file "
               "is a CSV or TSV with the columns `pair` (an id shared by an original and its edit, the original's row "
               "first), `text`, `label` (negative/positive or 0/1) and optionally `kind`. Results are kept in each "
               "run's `pairs.json`, one entry per file name; from the command line: "
               "`python -m sentiment_core evaluate --run-id RUN --pairs FILE`.")
    upload = st.file_uploader("Pairs file (CSV or TSV)", type=["csv", "tsv", "tab", "txt"], key="eval_pairs_upload")
    if upload is not None:
        score_upload(upload, chosen)
    try:
        stored = {run_id: {r.name: r for r in pairs.run_pairs(run_id)} for run_id in chosen}
    except SentimentError as error:
        st.error(str(error), icon="🚫")
        return
    names = list(dict.fromkeys(name for by_name in stored.values() for name in by_name))
    if not names:
        st.info("No paired edits scored on " + " or ".join(f"`{r}`" for r in chosen) + " yet: upload a pairs file "
                "above, or run `python -m sentiment_core evaluate --run-id RUN --pairs FILE`.", icon="🔁")
        return
    name = st.selectbox("Pairs file", names, key="eval_pairs_set") if len(names) > 1 else names[0]
    results = {run_id: by_name[name] for run_id, by_name in stored.items() if name in by_name}
    for run_id in chosen:
        if run_id not in results:
            st.info(f"`{name}` has not been scored on `{run_id}`: upload it again to score it there.", icon="ℹ️")
        elif pairs.is_stale(results[run_id], run_id):
            st.warning(f"`{run_id}`'s model changed since `{name}` was scored on it: upload it again to rescore.",
                       icon="⚠️")
    if len({r.sha256 for r in results.values()}) > 1:
        st.warning(f"The runs scored different versions of `{name}`: compare them with care.", icon="⚠️")
    table = pairs.pairs_table(results)
    rate_columns = [c for c in table.columns if c not in ("kind", "pairs", "label_kept")]
    st.subheader(f"{name}: accuracy and consistency")
    st.dataframe(table.rename(columns={"label_kept": "label kept"}).style.format("{:.1%}", subset=rate_columns),
                 hide_index=True, key="eval_pairs_table", width="stretch", height=table_height(len(table)))
    for note in dict.fromkeys(note for result in results.values() for note in result.notes):
        st.caption(note)
    long = table.melt(id_vars="kind", value_vars=[c for c in rate_columns if c.startswith("consistency")],
                      var_name="run", value_name="consistency")
    long["run"] = long["run"].str.slice(len("consistency ("), -1)
    figure = px.bar(long, x="kind", y="consistency", color="run", barmode="group", color_discrete_sequence=RUN_COLORS,
                    title="Consistency per kind of edit: both texts of a pair right (higher is better)")
    figure.update_layout(height=340, yaxis_tickformat=".0%", yaxis_range=[0, 1], margin=dict(l=0, r=0, t=40, b=0),
                         legend_title=None, xaxis_title=None)
    st.plotly_chart(figure, key="eval_pairs_chart")
    inconsistent_view(results)


# --- slices and curves ----------------------------------------------------------------------

def predictions_stamp(run_id: str) -> float:
    return (runs.run_path(run_id) / runs.PREDICTIONS_FILE).stat().st_mtime


@st.cache_data(show_spinner="Reading the test predictions…", max_entries=8)
def predictions(run_id: str, stamp: float) -> pd.DataFrame:
    return slices.run_predictions(run_id)


@st.cache_data(show_spinner="Slicing the test reviews (negation, contrast, scores, unknown words)…", max_entries=4)
def slice_masks(run_id: str, stamp: float) -> dict:
    return slices.run_slice_masks(run_id)[1]


def threshold_view(frames: dict, threshold: float) -> None:
    columns = st.columns(len(frames))
    for column, (run_id, frame) in zip(columns, frames.items()):
        at = slices.threshold_metrics(frame["label"], frame["probability"], threshold)
        default = slices.threshold_metrics(frame["label"], frame["probability"], 0.5)
        best = slices.best_threshold(frame["label"], frame["probability"])
        with column:
            st.markdown(f"**{run_id}**")
            left, right = st.columns(2)
            left.metric("Accuracy", f"{at['accuracy']:.2%}", f"{at['accuracy'] - default['accuracy']:+.2%} vs 0.5")
            right.metric("F1", f"{at['f1']:.3f}", f"{at['f1'] - default['f1']:+.3f} vs 0.5")
            st.caption(f"Precision {at['precision']:.3f} · recall {at['recall']:.3f} · the best threshold for "
                       f"accuracy on this split is {best['threshold']:.3f} ({best['accuracy']:.2%}); choosing it on "
                       "the test split flatters it.")


def curves_view(frames: dict, threshold: float) -> None:
    roc, pr = go.Figure(), go.Figure()
    for color, (run_id, frame) in zip(RUN_COLORS, frames.items()):
        labels, probabilities = frame["label"], frame["probability"]
        curve = slices.curves(labels, probabilities, max_points=MAX_CURVE_POINTS)
        at = slices.threshold_metrics(labels, probabilities, threshold)
        (tn, fp), (fn, tp) = at["confusion_matrix"]
        roc.add_scatter(x=curve["roc"]["fpr"], y=curve["roc"]["tpr"], mode="lines", line_color=color,
                        name=f"{run_id} (AUC {curve['roc']['auc']:.3f})")
        roc.add_scatter(x=[fp / max(fp + tn, 1)], y=[tp / max(tp + fn, 1)], mode="markers",
                        marker=dict(color=color, size=11), name=f"threshold {threshold:.2f}", showlegend=False)
        pr.add_scatter(x=curve["pr"]["recall"], y=curve["pr"]["precision"], mode="lines", line_color=color,
                       name=f"{run_id} (AP {curve['pr']['average_precision']:.3f})")
        pr.add_scatter(x=[at["recall"]], y=[at["precision"]], mode="markers", marker=dict(color=color, size=11),
                       name=f"threshold {threshold:.2f}", showlegend=False)
    roc.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="gray"), name="chance")
    roc.update_layout(title="ROC curve (dot: the threshold)", xaxis_title="false positive rate",
                      yaxis_title="true positive rate", margin=dict(l=0, r=0, t=40, b=0), legend=dict(x=0.45, y=0.1))
    pr.update_layout(title="Precision-recall curve (dot: the threshold)", xaxis_title="recall", yaxis_title="precision",
                     margin=dict(l=0, r=0, t=40, b=0), legend=dict(x=0.02, y=0.1))
    left, right = st.columns(2)
    left.plotly_chart(roc, key="eval_roc")
    right.plotly_chart(pr, key="eval_pr")


def slices_view(frames: dict, threshold: float) -> None:
    st.subheader("Error slices of the test split")
    st.caption("Accuracy at the threshold above on reviews " + "; ".join(
        f"**{name}** ({what})" for name, what in slices.SLICE_DESCRIPTIONS.items())
        + "; by share of words the model's tokenizer does not know; by length quartile; and by star rating when "
        "the source is an aclImdb folder.")
    tables = []
    for run_id, frame in frames.items():
        try:
            masks = slice_masks(run_id, predictions_stamp(run_id))
        except ValueError as error:
            st.warning(f"No slices for {run_id}: {error}", icon="⚠️")
            continue
        rows = pd.DataFrame(slices.error_slices(frame["label"], frame["probability"], masks, threshold))
        rows["accuracy"] = rows["accuracy"].astype(float)  # None (an empty slice) -> NaN, shown as –
        tables.append(rows.set_index(["group", "slice"])[["n", "accuracy"]]
                      .rename(columns={"n": f"n ({run_id})", "accuracy": run_id}))
    if not tables:
        return
    table = pd.concat(tables, axis=1).reset_index()
    accuracy_columns = [run_id for run_id in frames if run_id in table]
    st.dataframe(table.style.format("{:.1%}", subset=accuracy_columns, na_rep="–"), hide_index=True,
                 key="eval_slices_table", width="stretch", height=table_height(len(table)))
    long = table.melt(id_vars=["group", "slice"], value_vars=accuracy_columns, var_name="run",
                      value_name="accuracy").dropna(subset=["accuracy"])
    figure = px.bar(long, x="accuracy", y="slice", color="run", barmode="group", orientation="h", hover_data=["group"],
                    color_discrete_sequence=RUN_COLORS, category_orders={"slice": list(dict.fromkeys(long["slice"]))},
                    title="Accuracy per slice (empty slices left out)")
    figure.update_layout(height=100 + 18 * len(long), xaxis_tickformat=".0%", xaxis_range=[0, 1], yaxis_title=None,
                         legend_title=None, margin=dict(l=0, r=0, t=40, b=0))
    st.plotly_chart(figure, key="eval_slices_chart")


def slices_section(chosen: list[str]) -> None:
    frames = {}
    for run_id in chosen:
        try:
            frames[run_id] = predictions(run_id, predictions_stamp(run_id))
        except (OSError, ValueError):
            st.info(f"`{run_id}` has no test predictions: only runs that finished training and testing have them.",
                    icon="ℹ️")
    if not frames:
        return
    threshold = st.slider("Decision threshold: a review is positive when P(positive) ≥", 0.0, 1.0, 0.5, 0.01,
                          key="eval_threshold", help="Move it to trade precision for recall; 0.5 is what the runs use.")
    threshold_view(frames, threshold)
    curves_view(frames, threshold)
    slices_view(frames, threshold)


# --- the page --------------------------------------------------------------------------

st.title("🧪 Evaluate")
st.markdown("Accuracy on the test split hides what a reader notices first: *not bad at all* called negative, a verdict "
            "taken from the first half of *I expected to hate it, but…*, a typo or another actor's name flipping the "
            "label. Run the behaviour suite on one or two models, read their failures, open one on the Predict page, "
            "score reviews beside their edited twins, and see where on the test split each model errs.")

finished = default_model.finished_runs()
if not finished:
    st.info("No finished run yet: train one on the **Train** page, then come back to test how it behaves.", icon="ℹ️")
    st.stop()

choices = {row["run_id"]: default_model.run_label(row) for row in finished}
if "eval_runs" in st.session_state:  # drop runs deleted since they were picked
    st.session_state["eval_runs"] = [r for r in st.session_state["eval_runs"] if r in choices]
else:
    st.session_state["eval_runs"] = [default_model.best_run_id()]
chosen = st.multiselect("Runs (one or two)", list(choices), key="eval_runs", max_selections=MAX_RUNS,
                        format_func=choices.get, help="Default: the finished run whose test accuracy is highest at 95% "
                        "confidence (a run scored on a few reviews does not win).")
if not chosen:
    st.info("Pick one run, or two to compare them side by side.", icon="👆")
    st.stop()

behaviour_tab, pairs_tab, slices_tab = st.tabs(["Behaviour tests", "Paired edits", "Error slices and curves"])
with behaviour_tab:
    behaviour_section(chosen)
with pairs_tab:
    pairs_section(chosen)
with slices_tab:
    slices_section(chosen)
