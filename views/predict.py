"""Predict: paste a review, see its sentiment and the words that drove it; any model (a run, a checkpoint
folder, a hub id); every explanation method side by side with its faithfulness; two models; batch files."""

import tempfile
from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from sentiment_core.core import runs
from sentiment_core.core.errors import SentimentError
from sentiment_core.data import LABELS
from sentiment_core.data import examples as example_reviews
from sentiment_core.explain import faithfulness, render
from sentiment_core.explain import files as explain_files
from sentiment_core.explain import methods as explain_methods
from sentiment_core.explain.attribution import explain
from sentiment_core.inference import default_model, hub, sources
from sentiment_core.inference import files as prediction_files
from sentiment_core.training import dashboard as monitor
from sentiment_core.training import jobs
from sentiment_core.training.options import FAMILY_DEFAULTS
from views import flip, forms

GREEN, RED = "#16a34a", "#dc2626"
MAX_PREVIEW_ROWS = 200
OTHER_SOURCES = "predict_sources"  # session: {source: label} of folders and hub ids loaded on this page
LABELS_FOR = "predict_labels_for"  # session: {source: --labels spec} the user set
SELECT_NEXT = "predict_select_next"  # session: set when a source was just loaded, to select it on the next run


# --- models ------------------------------------------------------------------------------

def labels_for(source: str) -> str | None:
    return st.session_state.get(LABELS_FOR, {}).get(source) or None


def predictor(source: str):
    """The model behind a source (cached in the library, at most SENTIMENT_MAX_LOADED_MODELS resident)."""
    return sources.load_predictor(source, labels=labels_for(source))


@st.cache_data(show_spinner=False, max_entries=128, ttl=3600)
def explained(source: str, labels: str | None, text: str, method: str, option: int | None, target: str | None,
              baseline: str):
    return explain(predictor(source), [text], method=method, target=target, baseline=baseline, steps=option)[0]


def explain_with(source: str, text: str, method: str, option: int | None, target: str | None = None):
    return explained(source, labels_for(source), text, method, option, target,
                     st.session_state.get("predict_baseline") or "empty")


def load_other_model(source: str, labels: str) -> bool:
    """Load a folder or hub id (a download shows its progress), remember it for this session, select it."""
    source = source.strip()
    bar = st.progress(0.0, text=f"Loading {source}…")

    def progress(done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0) if total else 0.0, text=f"Downloading {source}: {done / 1e6:,.0f} of "
                     f"{total / 1e6:,.0f} MB into the Hugging Face cache")

    try:
        loaded = sources.load_predictor(source, labels=labels.strip() or None, progress=progress)
    except SentimentError as error:
        bar.empty()
        st.error(str(error), icon="🚫")
        return False
    bar.empty()
    name = loaded.source.text
    st.session_state.setdefault(OTHER_SOURCES, {})[name] = (f"{name} · {loaded.family} · "
                                                             f"{len(loaded.label_map.class_names)} classes")
    st.session_state.setdefault(LABELS_FOR, {})[name] = labels.strip()
    st.session_state["predict_run"] = name
    st.session_state[SELECT_NEXT] = True  # the Model box takes it on the rerun (its value is keyed: no index applies)
    return True


def other_model_form(expanded: bool) -> None:
    """Any Hugging Face sentiment checkpoint: a local folder or a hub id, with an optional label mapping."""
    with st.expander("🤗 Use a pretrained sentiment model (a checkpoint folder or a Hugging Face hub id)",
                     expanded=expanded):
        st.caption("Well-known checkpoints (download sizes approximate; they go to the normal Hugging Face cache). "
                   "Without internet, give a local folder that `save_pretrained` wrote (config.json, "
                   "model.safetensors and the tokenizer files).")
        st.dataframe(pd.DataFrame([{"hub id": m["id"], "labels": m["labels"], "download": f"~{m['approx_mb']:,} MB",
                                    "what": m["note"]} for m in hub.SUGGESTED_HUB_MODELS]),
                     hide_index=True, key="predict_suggested")
        with st.form("predict_other_model", border=False):
            source = st.text_input("Model folder or hub id", key="predict_source_input",
                                   placeholder="e.g. ~/models/my-bert-imdb or distilbert/distilbert-base-uncased-"
                                   "finetuned-sst-2-english")
            labels = st.text_input("Label mapping (optional)", key="predict_labels_input",
                                   help="How the model's classes map onto negative/positive when its labels do not "
                                   "say, e.g. 'negative,neutral,positive' or '0=negative,1=positive'.")
            submitted = st.form_submit_button("Load the model", type="primary")
        if submitted:
            if not source.strip():
                st.error("Give a model folder or a hub id.", icon="🚫")
            elif load_other_model(source, labels):
                st.rerun()


@st.cache_data(show_spinner=False, max_entries=16, ttl=3600)
def examples() -> dict[str, str]:
    return {**example_reviews.HAND_WRITTEN_EXAMPLES, **example_reviews.split_examples()}


def use_example() -> None:
    chosen = st.session_state.get("predict_example")
    if chosen and chosen in examples():
        st.session_state["predict_text"] = examples()[chosen]


# --- pieces of the result ----------------------------------------------------------------

def probability_bar(probability: float) -> go.Figure:
    figure = go.Figure(go.Bar(x=[probability], y=[""], orientation="h",
                              marker_color=GREEN if probability >= 0.5 else RED,
                              text=[f"P(positive) = {probability:.1%}"], textposition="inside",
                              insidetextanchor="start"))
    figure.add_vline(x=0.5, line_dash="dot", line_color="gray")
    figure.update_layout(height=90, margin=dict(l=0, r=0, t=0, b=0), xaxis=dict(range=[0, 1], tickformat=".0%"),
                         showlegend=False)
    return figure


def top_words_figure(explanation) -> go.Figure:
    table = render.top_words(explanation, k=10)
    figure = px.bar(table, x="score", y="word", orientation="h", hover_data=["count"],
                    color=table["score"].gt(0).map({True: "pushes positive", False: "pushes negative"}),
                    color_discrete_map={"pushes positive": GREEN, "pushes negative": RED})
    figure.update_layout(height=max(240, 24 * len(table) + 80), margin=dict(l=0, r=0, t=30, b=0), legend_title=None,
                         title="Top words (log-odds toward positive)", yaxis_title=None)
    return figure


def show_explanation(explanation, key: str, source: str) -> None:
    """Label, probability (every class's for a model with more), notes, the highlighted review, the delta."""
    st.markdown(f"### {'😀' if explanation.predicted == 1 else '😞'} **{explanation.predicted_label}** "
                f"· {max(explanation.probability, 1 - explanation.probability):.1%} sure")
    st.plotly_chart(probability_bar(explanation.probability), key=f"{key}_bar", config={"displayModeBar": False})
    classes = explanation.class_probabilities or {}
    if len(classes) > 2:
        st.dataframe(pd.DataFrame([classes]).map(lambda p: f"{p:.1%}"), hide_index=True, key=f"{key}_classes")
        st.caption(predictor(source).label_map.describe())
    for note in explanation.notes:
        st.warning(note, icon="⚠️")
    st.caption(f"Words coloured by how much they push toward **positive** (green) or **negative** (red), "
               f"explaining the **{explanation.target_label}** class; hover a word for its score. The empty review "
               f"(the baseline) scores {explanation.baseline_output:+.2f} log-odds toward "
               f"{explanation.target_label}, this review {explanation.output:+.2f}: the words share the difference.")
    st.html(render.highlight_html(explanation))
    if explanation.delta is not None:
        gap = explanation.output - explanation.baseline_output
        text = (f"Convergence delta {explanation.delta:+.4f} (sum of word scores vs. the model's change "
                f"from the empty review, {gap:+.3f} log-odds).")
        if explanation.delta_is_large:
            st.warning(text + " That is large: raise the number of steps for a trustworthy explanation.", icon="⚠️")
        else:
            st.caption(text)


@st.cache_data(show_spinner=False, max_entries=32, ttl=3600)
def all_methods(source: str, labels: str | None, text: str, target: str | None):
    return faithfulness.explain_all_methods(predictor(source), text, target=target)


def methods_side_by_side(source: str, text: str, target: str | None) -> None:
    """One highlight row per method with its comprehensiveness, sufficiency and time, and an HTML download."""
    st.caption("Comprehensiveness: how much P(explained class) drops when a method's top words are removed; "
               "sufficiency: how much it drops when only they are kept (both averaged over the top 1, 5, 10, 20 "
               "and 50% of words). A faithful method has high comprehensiveness and low sufficiency.")
    with st.spinner("Explaining with every method…"):
        results = all_methods(source, labels_for(source), text, target)
    table = pd.DataFrame([{"method": r.explanation.method, "comprehensiveness": r.score.comprehensiveness,
                           "sufficiency": r.score.sufficiency, "tau with occlusion": r.score.tau_occlusion,
                           "ms": round(r.score.seconds * 1000)} for r in results])
    st.dataframe(table, hide_index=True, key="methods_table")
    for result in results:
        st.markdown(f"**{explain_methods.METHODS[result.explanation.method].title}** · {result.score.summary()}")
        st.html(render.highlight_html(result.explanation))
    page = render.explanation_page_html([r.explanation for r in results], captions=[r.score.summary() for r in results])
    st.download_button("⬇️ Download these highlights (HTML)", page.encode(), "explanation.html", "text/html",
                       key="methods_download")


def evaluate_button(source: str, family: str) -> None:
    """Score the model on the IMDB test split in its own process, like training: an evaluation run."""
    with st.expander("📏 Evaluate this model on the IMDB test split"):
        st.caption("Predicts the test split (or a seeded subset) in a background process and writes an evaluation "
                   "run: it appears in the runs table (Train page) with its test metrics and can be compared with "
                   "trained runs on the Compare page.")
        subset = st.number_input("Test reviews (empty: all 25,000)", min_value=1, step=1000, value=None,
                                 key="predict_eval_subset", placeholder="all")
        if st.button("Start the evaluation", key="predict_evaluate"):
            arguments = ["evaluate", "--model", source]
            if labels_for(source):
                arguments += ["--labels", labels_for(source)]
            if subset:
                arguments += ["--max-test-samples", str(int(subset))]
            run_id = runs.claim_run_id("eval", family)
            try:
                jobs.start_run(arguments, run_id)
            except (OSError, SentimentError) as error:
                st.error(f"Could not start the evaluation: {error}", icon="🚫")
                return
            st.success(f"Started the evaluation run `{run_id}`; follow it on the Train page.", icon="✅")


# --- the three tabs ----------------------------------------------------------------------

def single_review(source: str, method: str, option: int | None) -> None:
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
        explanation = explain_with(source, text, method, option)
        if other:
            explanation = explain_with(source, text, method, option, LABELS[1 - explanation.predicted])
    except SentimentError as error:
        st.error(str(error), icon="🚫")
        return
    previous = st.session_state.get("predict_previous")
    if previous and previous["run"] == source and previous["text"] != text:
        change = explanation.probability - previous["probability"]
        st.metric("P(positive)", f"{explanation.probability:.1%}", f"{change:+.1%} since your last version")
    st.session_state["predict_previous"] = {"run": source, "text": text, "probability": explanation.probability}
    left, right = st.columns([3, 2], gap="large")
    with left:
        show_explanation(explanation, "single", source)
        st.download_button("⬇️ Download the highlighted review (HTML)",
                           render.explanation_page_html(explanation).encode(), "explanation.html", "text/html",
                           key="single_download")
    with right:
        st.plotly_chart(top_words_figure(explanation), key="single_top")
        with st.expander("How faithful is this explanation?"):
            st.caption("Remove the words that push most toward the predicted class first, re-predict, and compare "
                       "with removing words at random. The larger the gap, the more the highlighted words matter.")
            if st.button("Run the deletion test", key="predict_faithfulness"):
                curve = faithfulness.deletion_curve(predictor(source), explanation, steps=10, max_fraction=0.5)
                frame = pd.DataFrame({"share of words removed": curve.fractions + curve.fractions,
                                      "P(predicted class)": curve.attributed + curve.random,
                                      "order": ["most attributed first"] * len(curve.fractions)
                                      + ["random"] * len(curve.fractions)})
                st.plotly_chart(px.line(frame, x="share of words removed", y="P(predicted class)", color="order",
                                        markers=True), key="single_deletion")
                st.metric("Area between the curves", f"{curve.area_between:.3f}",
                          help="Integral of (random - attributed) over the share removed; > 0 beats random.")
    flip.what_would_flip_it(predictor(source), source, labels_for(source), text, explanation.predicted_label)
    if st.toggle("Compare every explanation method on this review", key="predict_all_methods",
                 help="Which explanation to trust here: each method's highlight with its faithfulness scores."):
        methods_side_by_side(source, text, explanation.target_label)


def compare_models(choices: dict[str, str], source: str, method: str, option: int | None) -> None:
    others = [r for r in choices if r != source]
    if not others:
        st.info("Train a second run (for example another family or loss), or load a pretrained model, to compare "
                "two models here.", icon="ℹ️")
        return
    second = st.selectbox("Compare with", others, format_func=choices.get, key="predict_second")
    text = st.session_state.get("predict_text", "")
    if not text.strip():
        st.info("Type a review in the **Single review** tab first.", icon="✍️")
        return
    try:
        first_explanation = explain_with(source, text, method, option)
        second_explanation = explain_with(second, text, method, option)
    except SentimentError as error:
        st.error(str(error), icon="🚫")
        return
    columns = st.columns(2, gap="large")
    for column, name, explanation, key in ((columns[0], source, first_explanation, "cmp_a"),
                                           (columns[1], second, second_explanation, "cmp_b")):
        with column:
            st.markdown(f"**{choices[name]}**")
            show_explanation(explanation, key, name)
    aligned = render.align_words(first_explanation, second_explanation)
    aligned["largest"] = aligned[["first", "second"]].abs().max(axis=1)
    shown = aligned.nlargest(15, "largest").sort_values("start")
    shown["label"] = shown["word"] + " @" + shown["start"].astype(str)
    long = shown.melt(id_vars=["label"], value_vars=["first", "second"], var_name="run", value_name="score")
    long["run"] = long["run"].map({"first": source, "second": second})
    figure = px.bar(long, x="label", y="score", color="run", barmode="group",
                    title="The same words in both models (log-odds toward positive; 15 strongest, in text order)")
    figure.update_layout(xaxis_title=None, legend_title=None, margin=dict(l=0, r=0, t=40, b=0))
    st.plotly_chart(figure, key="compare_words")


def batch_file(source: str, method: str, option: int | None) -> None:
    upload = st.file_uploader("CSV with a `text` or `review` column", type=["csv"], key="predict_upload")
    if upload is None:
        st.caption("Each row is predicted (or explained) with the selected model; download the results.")
        return
    if not forms.upload_within_limit(upload, "python -m sentiment_core predict --file"):
        return
    try:
        frame, column = prediction_files.read_reviews_csv(upload)
    except SentimentError as error:
        st.error(str(error), icon="🚫")
        return
    st.write(f"{len(frame):,} rows; reviews in column `{column}`.")
    key = (upload.file_id if hasattr(upload, "file_id") else upload.name, source)
    predict_column, explain_column = st.columns(2)
    if predict_column.button(f"Predict {len(frame):,} reviews", key="predict_batch", type="primary"):
        bar = st.progress(0.0, text="Predicting...")
        result = prediction_files.predict_table(predictor(source), frame, column,
                                         progress=lambda done, total: bar.progress(done / total,
                                                                                   text=f"{done:,} / {total:,}"))
        bar.empty()
        st.session_state["predict_batch_result"] = (key, result)
    if explain_column.button(f"Explain {len(frame):,} reviews ({method.replace('_', ' ')})", key="explain_batch"):
        explain_upload(upload, source, method, option, key)
    explained_files = st.session_state.get("predict_batch_explained")
    if explained_files and explained_files[0] == key:
        jsonl, html, top = explained_files[1:]
        st.markdown("**Words that pushed most toward each class across the file**")
        st.dataframe(top, hide_index=True, key="batch_top_words")
        left, right = st.columns(2)
        left.download_button("⬇️ Explanations (JSON lines)", Path(jsonl).read_bytes(), "explanations.jsonl",
                             "application/jsonl", key="batch_jsonl")
        right.download_button("⬇️ Report (HTML)", Path(html).read_bytes(), "explanations.html", "text/html",
                              key="batch_html")
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
        show_explanation(explain_with(source, text, method, option), "batch", source)
    except SentimentError as error:
        st.error(f"Row {row}: {error}", icon="🚫")


def explain_upload(upload, source: str, method: str, option: int | None, key) -> None:
    """Explain every row of the uploaded file (JSON lines and an HTML report, kept for download)."""
    folder = Path(tempfile.mkdtemp(prefix="sentiment-explain-"))
    csv_path, jsonl, html = folder / "reviews.csv", folder / "explanations.jsonl", folder / "explanations.html"
    csv_path.write_bytes(upload.getvalue())
    bar = st.progress(0.0, text="Explaining...")
    try:
        explain_files.explain_file(predictor(source), csv_path, jsonl, method=method, steps=option,
                                   html_path=html,
                                   progress=lambda done, total: bar.progress(done / max(total, 1),
                                                                             text=f"{done:,} / {total:,}"),
                                   model=source)
    except SentimentError as error:
        bar.empty()
        st.error(str(error), icon="🚫")
        return
    bar.empty()
    st.session_state["predict_batch_explained"] = (key, str(jsonl), str(html), explain_files.file_top_words(jsonl))


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
            f"{defaults['epochs']} epochs, the quickest family to train), "
            "start any run on the **Train** page, or use a pretrained sentiment model below.", icon="ℹ️")
    if st.button("🚀 Train the quick bow baseline", key="predict_quick_baseline", type="primary"):
        run_id = runs.claim_run_id("bow", "bce")
        try:
            jobs.start_run(monitor.train_arguments({"model": "bow", "loss": "bce"}), run_id)
        except (OSError, SentimentError) as error:
            st.error(f"Could not start the run: {error}", icon="🚫")
            return
        st.rerun()


# --- the page --------------------------------------------------------------------------

st.title("🔮 Predict")
st.markdown("Paste a review and see what a model thinks of it, and which words made it think so: a run of "
            "this studio, or any Hugging Face sentiment checkpoint.")

finished = default_model.finished_runs()
choices = {row["run_id"]: default_model.run_label(row) for row in finished}
choices.update(st.session_state.get(OTHER_SOURCES, {}))
if not choices:
    no_runs_yet()
    other_model_form(expanded=True)
    st.stop()

wanted = st.session_state.get("predict_run")
if wanted not in choices:
    wanted = default_model.best_run_id() or next(iter(choices))
if st.session_state.pop(SELECT_NEXT, False):  # a model just loaded: select it
    st.session_state["predict_run_choice"] = wanted
settings_column, method_column, option_column, baseline_column = st.columns([3, 2, 1, 1])
source = settings_column.selectbox("Model", list(choices), index=list(choices).index(wanted), format_func=choices.get,
                                   key="predict_run_choice",
                                   help="Default: the finished run whose test accuracy is highest at 95% confidence "
                                   "(a run scored on a few reviews does not win). Load a checkpoint folder or a hub "
                                   "model below to add it.")
st.session_state["predict_run"] = source
try:
    family_method = explain_methods.default_method(predictor(source).family)
except SentimentError:  # the model cannot load: the error is shown where it is used, below
    family_method = explain_methods.DEFAULT_METHOD
method = method_column.selectbox("Explanation method", list(explain_methods.METHODS),
                                 format_func=lambda name: explain_methods.METHODS[name].title,
                                 index=list(explain_methods.METHODS).index(family_method), key="predict_method",
                                 help=f"Default for this model: {family_method.replace('_', ' ')}, the most faithful "
                                 "for its family per unit of time (docs/explanations.md, "
                                 "\"Which explanation to trust\").")
chosen_method = explain_methods.METHODS[method]
option = None
if chosen_method.option:
    option = int(option_column.number_input(chosen_method.option.replace("_", " "), min_value=1,
                                            max_value=explain_methods.MAX_STEPS, value=chosen_method.default, step=1,
                                            key=f"predict_option_{method}", help=chosen_method.option_help))
baseline_column.selectbox("Baseline", explain_methods.BASELINES, key="predict_baseline",
                          help="What a removed word becomes. empty: the empty review, which a model may already judge "
                          "strongly (then the words share only the rest of its decision). undecided: the point between "
                          "the empty review and this one where the model is 50/50, so the words share its whole "
                          "decision.")
other_model_form(expanded=False)
if source in st.session_state.get(OTHER_SOURCES, {}):  # loaded on this page (resident): what it is and reads
    try:
        loaded = predictor(source)
    except SentimentError as error:
        st.error(str(error), icon="🚫")
        st.stop()
    st.caption(f"`{loaded.source.text}`{' @ ' + loaded.revision[:10] if loaded.revision else ''} · reads up to "
               f"{loaded.max_length} tokens · classes {', '.join(loaded.label_map.class_names)} · "
               f"{loaded.label_map.describe()}")
    evaluate_button(loaded.source.text, loaded.family)

single_tab, compare_tab, batch_tab = st.tabs(["Single review", "Compare two models", "Batch file"])
with single_tab:
    single_review(source, method, option)
with compare_tab:
    compare_models(choices, source, method, option)
with batch_tab:
    batch_file(source, method, option)
