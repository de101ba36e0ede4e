"""Predict: paste a review, see its sentiment and the words that drove it; compare runs; batch files."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from sentiment_core import explain as explaining
from sentiment_core import examples as example_reviews
from sentiment_core import inference, monitor, runs
from sentiment_core.errors import SentimentError
from sentiment_core.train_config import FAMILY_DEFAULTS

GREEN, RED = "#16a34a", "#dc2626"
MAX_PREVIEW_ROWS = 200


# --- loading and caching ---------------------------------------------------------------

def run_label(row: dict) -> str:
    test = row.get("test_accuracy")
    accuracy = f"test acc {test:.3f}" if test == test and test is not None else "no test score"
    return f"{row['run_id']} · {row['family']} · {row['loss']} · {accuracy}"


@st.cache_data(show_spinner=False, max_entries=128, ttl=3600)
def explained(run_id: str, text: str, method: str, option: int | None, target: str | None):
    predictor = inference.Predictor.from_run(run_id)
    name = explaining.METHOD_OPTIONS[method][0]
    options = {name: option} if name and option else {}
    return explaining.explain(predictor, [text], method=method, target=target, **options)[0]


@st.cache_data(show_spinner=False, max_entries=16, ttl=3600)
def examples() -> dict[str, str]:
    return {**example_reviews.HAND_WRITTEN_EXAMPLES, **example_reviews.split_examples()}


def use_example() -> None:
    chosen = st.session_state.get("predict_example")
    if chosen and chosen in examples():
        st.session_state["predict_text"] = examples()[chosen]


# --- pieces of the result ----------------------------------------------------------------

def probability_bar(probability: float) -> go.Figure:
    figure = go.Figure(go.Bar(x=[probability], y=[""], orientation="h", marker_color=GREEN if probability >= 0.5 else RED,
                              text=[f"P(positive) = {probability:.1%}"], textposition="inside", insidetextanchor="start"))
    figure.add_vline(x=0.5, line_dash="dot", line_color="gray")
    figure.update_layout(height=90, margin=dict(l=0, r=0, t=0, b=0), xaxis=dict(range=[0, 1], tickformat=".0%"),
                         showlegend=False)
    return figure


def top_words_figure(explanation) -> go.Figure:
    table = explaining.top_words(explanation, k=10)
    figure = px.bar(table, x="score", y="word", orientation="h", hover_data=["count"],
                    color=table["score"].gt(0).map({True: "pushes positive", False: "pushes negative"}),
                    color_discrete_map={"pushes positive": GREEN, "pushes negative": RED})
    figure.update_layout(height=max(240, 24 * len(table) + 80), margin=dict(l=0, r=0, t=30, b=0), legend_title=None,
                         title="Top words (log-odds toward positive)", yaxis_title=None)
    return figure


def show_explanation(explanation, key: str) -> None:
    """Label, probability, notes, the highlighted review, the top words and the delta."""
    st.markdown(f"### {'😀' if explanation.predicted == 1 else '😞'} **{explanation.predicted_label}** "
                f"· {max(explanation.probability, 1 - explanation.probability):.1%} sure")
    st.plotly_chart(probability_bar(explanation.probability), key=f"{key}_bar", config={"displayModeBar": False})
    for note in explanation.notes:
        st.warning(note, icon="⚠️")
    st.caption(f"Words coloured by how much they push toward **positive** (green) or **negative** (red), "
               f"explaining the **{explanation.target_label}** class; hover a word for its score.")
    st.html(explaining.highlight_html(explanation))
    if explanation.delta is not None:
        gap = explanation.output - explanation.baseline_output
        text = (f"Convergence delta {explanation.delta:+.4f} (sum of word scores vs. the model's change "
                f"from the empty review, {gap:+.3f} log-odds).")
        if explanation.delta_is_large:
            st.warning(text + " That is large: raise the number of steps for a trustworthy explanation.", icon="⚠️")
        else:
            st.caption(text)


# --- the three tabs ----------------------------------------------------------------------

def single_review(run_id: str, method: str, option: int | None) -> None:
    st.selectbox("Example", list(examples()), index=None, key="predict_example", on_change=use_example,
                 placeholder="Pick an example review, or type your own below")
    text = st.text_area("Review", key="predict_text", height=160,
                        placeholder="Paste a movie review here, then press Ctrl+Enter (or click outside).")
    if not text.strip():
        st.info("Type or paste a review to see its sentiment.", icon="✍️")
        return
    other = st.toggle("Explain the other class", key="predict_other",
                      help="Show what pushes toward the class the model did not pick.")
    try:
        explanation = explained(run_id, text, method, option, None)
        if other:
            explanation = explained(run_id, text, method, option, explaining.LABELS[1 - explanation.predicted])
    except SentimentError as error:
        st.error(str(error), icon="🚫")
        return
    previous = st.session_state.get("predict_previous")
    if previous and previous["run"] == run_id and previous["text"] != text:
        change = explanation.probability - previous["probability"]
        st.metric("P(positive)", f"{explanation.probability:.1%}", f"{change:+.1%} since your last version")
    st.session_state["predict_previous"] = {"run": run_id, "text": text, "probability": explanation.probability}
    left, right = st.columns([3, 2], gap="large")
    with left:
        show_explanation(explanation, "single")
    with right:
        st.plotly_chart(top_words_figure(explanation), key="single_top")
        with st.expander("How faithful is this explanation?"):
            st.caption("Remove the words that push most toward the predicted class first, re-predict, and compare "
                       "with removing words at random. The larger the gap, the more the highlighted words matter.")
            if st.button("Run the deletion test", key="predict_faithfulness"):
                curve = explaining.deletion_curve(inference.Predictor.from_run(run_id), explanation, steps=10, max_fraction=0.5)
                frame = pd.DataFrame({"share of words removed": curve.fractions + curve.fractions,
                                      "P(predicted class)": curve.attributed + curve.random,
                                      "order": ["most attributed first"] * len(curve.fractions) + ["random"] * len(curve.fractions)})
                st.plotly_chart(px.line(frame, x="share of words removed", y="P(predicted class)", color="order",
                                        markers=True), key="single_deletion")
                st.metric("Area between the curves", f"{curve.area_between:.3f}",
                          help="Integral of (random - attributed) over the share removed; > 0 beats random.")


def compare_runs(choices: dict[str, str], run_id: str, method: str, option: int | None) -> None:
    others = [r for r in choices if r != run_id]
    if not others:
        st.info("Train a second run (for example another family or loss) to compare two models here.", icon="ℹ️")
        return
    second = st.selectbox("Compare with", others, format_func=choices.get, key="predict_second")
    text = st.session_state.get("predict_text", "")
    if not text.strip():
        st.info("Type a review in the **Single review** tab first.", icon="✍️")
        return
    try:
        first_explanation = explained(run_id, text, method, option, None)
        second_explanation = explained(second, text, method, option, None)
    except SentimentError as error:
        st.error(str(error), icon="🚫")
        return
    columns = st.columns(2, gap="large")
    for column, name, explanation, key in ((columns[0], run_id, first_explanation, "cmp_a"),
                                           (columns[1], second, second_explanation, "cmp_b")):
        with column:
            st.markdown(f"**{choices[name]}**")
            show_explanation(explanation, key)
    aligned = explaining.align_words(first_explanation, second_explanation)
    aligned["largest"] = aligned[["first", "second"]].abs().max(axis=1)
    shown = aligned.nlargest(15, "largest").sort_values("start")
    shown["label"] = shown["word"] + " @" + shown["start"].astype(str)
    long = shown.melt(id_vars=["label"], value_vars=["first", "second"], var_name="run", value_name="score")
    long["run"] = long["run"].map({"first": run_id, "second": second})
    figure = px.bar(long, x="label", y="score", color="run", barmode="group",
                    title="The same words in both runs (log-odds toward positive; 15 strongest, in text order)")
    figure.update_layout(xaxis_title=None, legend_title=None, margin=dict(l=0, r=0, t=40, b=0))
    st.plotly_chart(figure, key="compare_words")


def batch_file(run_id: str, method: str, option: int | None) -> None:
    upload = st.file_uploader("CSV with a `text` or `review` column", type=["csv"], key="predict_upload")
    if upload is None:
        st.caption("Each row is predicted with the selected run; download the results as CSV.")
        return
    try:
        frame, column = inference.read_reviews_csv(upload)
    except SentimentError as error:
        st.error(str(error), icon="🚫")
        return
    st.write(f"{len(frame):,} rows; reviews in column `{column}`.")
    key = (upload.file_id if hasattr(upload, "file_id") else upload.name, run_id)
    if st.button(f"Predict {len(frame):,} reviews", key="predict_batch", type="primary"):
        bar = st.progress(0.0, text="Predicting...")
        predictor = inference.Predictor.from_run(run_id)
        result = inference.predict_table(predictor, frame, column,
                                         progress=lambda done, total: bar.progress(done / total, text=f"{done:,} / {total:,}"))
        bar.empty()
        st.session_state["predict_batch_result"] = (key, result)
    stored = st.session_state.get("predict_batch_result")
    if not stored or stored[0] != key:
        return
    result = stored[1]
    counts = result["label"].value_counts()
    st.markdown(" · ".join(f"**{label}**: {count:,}" for label, count in counts.items()))
    st.dataframe(result.head(MAX_PREVIEW_ROWS), key="batch_table")
    st.download_button("⬇️ Download predictions (CSV)", result.to_csv(index=False).encode(), "predictions.csv",
                       "text/csv", key="batch_download")
    row = st.number_input("Explain row", min_value=0, max_value=len(result) - 1, value=0, step=1, key="batch_row")
    text = str(result.iloc[int(row)][column]) if pd.notna(result.iloc[int(row)][column]) else ""
    try:
        show_explanation(explained(run_id, text, method, option, None), "batch")
    except SentimentError as error:
        st.error(f"Row {row}: {error}", icon="🚫")


def no_runs_yet() -> None:
    """One click to train the quick baseline; watch it here until it finishes."""
    active = monitor.active_run(monitor.runs_table())
    if active:
        st.info(f"Run `{active}` is training; this page will use it when it finishes.", icon="⏳")

        @st.fragment(run_every=2)
        def wait() -> None:
            status = monitor.run_status(active)
            progress = monitor.progress(status)
            st.progress(progress.fraction, text=f"{progress.step_text} · {progress.eta_text}")
            if status.get("state") not in runs.ACTIVE_STATES:
                st.rerun()

        wait()
        return
    defaults = FAMILY_DEFAULTS["bow"]
    st.info("No trained model yet. Train the quick baseline (a bag of words with its defaults: "
            f"{defaults['epochs']} epochs, about one minute on a 2-core CPU with the full dataset), "
            "or start any run on the **Train** page.", icon="ℹ️")
    if st.button("🚀 Train the quick bow baseline", key="predict_quick_baseline", type="primary"):
        run_id = runs.new_run_id("bow", "bce")
        try:
            monitor.start_run(monitor.train_arguments({"model": "bow", "loss": "bce"}), run_id)
        except (OSError, SentimentError) as error:
            st.error(f"Could not start the run: {error}", icon="🚫")
            return
        st.rerun()


# --- the page --------------------------------------------------------------------------

st.title("🔮 Predict")
st.markdown("Paste a review and see what a trained model thinks of it, and which words made it think so.")

finished = inference.finished_runs()
if not finished:
    no_runs_yet()
    st.stop()

choices = {row["run_id"]: run_label(row) for row in finished}
wanted = st.session_state.get("predict_run")
if wanted not in choices:
    wanted = inference.best_run_id()
settings_column, method_column, option_column = st.columns([3, 2, 1])
run_id = settings_column.selectbox("Run", list(choices), index=list(choices).index(wanted), format_func=choices.get,
                                   key="predict_run_choice", help="Default: the finished run with the best test accuracy.")
st.session_state["predict_run"] = run_id
method = method_column.selectbox("Explanation method", list(explaining.METHODS), format_func=explaining.METHODS.get,
                                 key="predict_method")
option_name, option_default, option_help = explaining.METHOD_OPTIONS[method]
option = None
if option_name:
    option = int(option_column.number_input(option_name.replace("_", " "), min_value=1, max_value=1000,
                                            value=option_default, step=1, key=f"predict_option_{method}",
                                            help=option_help))

single_tab, compare_tab, batch_tab = st.tabs(["Single review", "Compare two runs", "Batch file"])
with single_tab:
    single_review(run_id, method, option)
with compare_tab:
    compare_runs(choices, run_id, method, option)
with batch_tab:
    batch_file(run_id, method, option)
