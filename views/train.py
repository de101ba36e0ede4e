"""Train: start a run in its own process, watch its curves live, stop or resume it, browse past runs."""

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from sentiment_core.core import runs
from sentiment_core.core.errors import SentimentError
from sentiment_core.core.settings import get_settings
from sentiment_core.modeling.pretrained import DEFAULT_BACKBONE
from sentiment_core.training import dashboard as monitor
from sentiment_core.training import jobs
from sentiment_core.training.options import FAMILIES, FAMILY_DEFAULTS, FAMILY_HINTS
from views import forms

REFRESH_SECONDS = 2
LOG_LINES = 20
STATE_COLORS = {"queued": "gray", "running": "blue", "finished": "green", "failed": "red", "stopped": "orange"}
STATE_ICONS = {"queued": "⏳", "running": "🏃", "finished": "✅", "failed": "❌", "stopped": "⏹️"}
SPLIT_COLORS = {"train": "#4393c3", "validation": "#d6604d"}
BEST_COLOR = "#e7a700"


@st.cache_resource(show_spinner=False)
def default_backbone() -> str:
    """The offline MiniLM encoder when its package is installed, else the hub default."""
    try:
        from sentiment_core.modeling.pretrained import offline_backbone

        return offline_backbone() or DEFAULT_BACKBONE
    except Exception:  # a broken optional package must not break the page
        return DEFAULT_BACKBONE


def apply_family_defaults() -> None:
    family = st.session_state["train_family"]
    for name, value in monitor.form_defaults(family).items():
        st.session_state[f"train_{name}"] = value


def start(arguments: list[str], family: str, loss: str) -> None:
    """Launch the CLI in its own process, remember the run in the URL and the session, show it."""
    run_id = runs.claim_run_id(family, loss)
    try:
        jobs.start_run(arguments, run_id)
    except (OSError, SentimentError) as error:
        st.error(f"Could not start the run: {error}", icon="🚫")
        return
    select_run(run_id)
    st.session_state["train_notice"] = f"Started run `{run_id}` in its own process."
    st.rerun()


def select_run(run_id: str | None) -> None:
    if run_id:
        st.query_params["run"] = run_id
        st.session_state["train_run"] = run_id
    else:
        st.query_params.pop("run", None)
        st.session_state.pop("train_run", None)


def current_run(table: pd.DataFrame) -> str | None:
    """The run in the URL (or this session); else the newest running run, so a reload finds it."""
    run_id = st.query_params.get("run") or st.session_state.get("train_run")
    if run_id:
        try:
            exists = runs.run_path(run_id).is_dir()
        except runs.RunError:
            exists = False
        if not exists:
            st.warning(f"Run `{run_id}` no longer exists in `{runs.models_dir()}`.", icon="⚠️")
            select_run(None)
            run_id = None
    run_id = run_id or monitor.active_run(table)
    if run_id:
        select_run(run_id)
    return run_id


# --- the new-run form ------------------------------------------------------------------

def new_run_form() -> None:
    st.subheader("New run")
    st.session_state.setdefault("train_family", "bow")
    family = st.selectbox("Model family", FAMILIES, key="train_family", on_change=apply_family_defaults,
                          help="Choosing a family fills in its default epochs, batch size, learning rate and "
                          "max length.")
    st.caption(FAMILY_HINTS[family])
    names = [name for name in monitor.FORM_OPTIONS
             if name not in monitor.PRETRAINED_FORM_OPTIONS or family == "pretrained"]
    specs = monitor.form_fields(family, names)
    forms.set_defaults(specs, "train_")
    if family == "pretrained" and st.session_state.get("train_backbone") == DEFAULT_BACKBONE:
        st.session_state["train_backbone"] = default_backbone()
    with st.form("train_form", border=True):
        values = forms.option_inputs(specs, "train_")
        submitted = st.form_submit_button("▶️ Start training", type="primary", width="stretch")
    if submitted:
        try:
            arguments = monitor.train_arguments({"model": family, **values})
        except SentimentError as error:
            st.error(f"Not started: {error}", icon="🚫")
        else:
            start(arguments, family, values["loss"])



# --- the live view ---------------------------------------------------------------------

def curve_figure(frame: pd.DataFrame, metric: str, best, x: str, smoothing: float, run_id: str) -> go.Figure:
    figure = go.Figure()
    train = frame[(frame["split"] == "train") & (frame["metric"] == metric)]
    validation = frame[(frame["split"] == "validation") & (frame["metric"] == metric)]
    if smoothing > 0 and len(train):
        figure.add_scatter(x=train["x"], y=train["raw"], mode="lines", name="train (raw)", showlegend=False,
                           line=dict(color=SPLIT_COLORS["train"], width=1), opacity=0.25, hoverinfo="skip")
    if len(train):
        figure.add_scatter(x=train["x"], y=train["value"], mode="lines", name="train",
                           line=dict(color=SPLIT_COLORS["train"], width=2))
    if len(validation):
        figure.add_scatter(x=validation["x"], y=validation["value"], mode="lines+markers", name="validation",
                           line=dict(color=SPLIT_COLORS["validation"], width=2), marker=dict(size=7))
    if best is not None:
        best_x = float(best[x])
        if metric == "accuracy":
            figure.add_scatter(x=[best_x], y=[float(best["accuracy"])], mode="markers", name="best validation",
                               marker=dict(symbol="star", size=16, color=BEST_COLOR, line=dict(color="#333", width=1)),
                               hovertemplate="best validation accuracy %{y:.3f}<extra></extra>")
        else:
            figure.add_vline(x=best_x, line_dash="dot", line_color=BEST_COLOR)
    title = {"loss": "Loss", "accuracy": "Accuracy"}[metric]
    figure.update_layout(
        title=dict(text=title, x=0, font_size=15), height=360, margin=dict(t=40, b=10, l=10, r=10),
        hovermode="x unified", legend=dict(orientation="h", yanchor="top", y=-0.2, x=0),
        xaxis_title=x, yaxis_title=metric, uirevision=f"{run_id}-{metric}-{x}",
    )
    if metric == "accuracy":
        figure.update_yaxes(tickformat=".0%", autorangeoptions=dict(maxallowed=1.01))
    return figure


def live_view(run_id: str, was_active: bool) -> None:
    """Redrawn from the run directory every REFRESH_SECONDS while the run is queued or running."""
    run_dir = runs.run_path(run_id)
    try:
        status = monitor.run_status(run_id)
        details = monitor.run_details(run_id)
    except runs.RunError as error:
        st.error(str(error), icon="🚫")
        return
    state = status.get("state", "unknown")
    active = state in runs.ACTIVE_STATES
    title, badge = st.columns([5, 1], vertical_alignment="center")
    title.markdown(f"#### Run `{run_id}`")
    stopping = active and runs.stop_requested(run_dir)
    badge.badge("stopping…" if stopping else state, icon=STATE_ICONS.get(state),
                color="orange" if stopping else STATE_COLORS.get(state, "gray"))
    config = details["config"]
    if config:
        st.caption(f"{config.get('model')} · {config.get('loss')} · {config.get('epochs'):g} epochs · "
                   f"batch {config.get('batch_size')} · lr {config.get('lr'):g} · max length {config.get('max_length')}"
                   + (f" · {config.get('max_train_samples'):,} train samples" if config.get("max_train_samples")
                      else "")
                   + f" · long reviews: {config.get('long_text') or 'truncate'}"
                   + (f" · counterfactual augmentation of {config.get('augment_share'):g} of the reviews"
                      if config.get("augment") == "counterfactual" else "")
                   + (f" · {config['precision_used']}" if config.get("precision_used") else "")
                   + f" · on {config.get('device', '?')}")
    progress = monitor.progress(status)
    st.progress(progress.fraction, text=progress.step_text)
    metrics = runs.read_metrics(run_dir)
    best = monitor.best_point(metrics)
    epochs = f" / {config['epochs']:g}" if config.get("epochs") else ""
    best_text = f"{float(best['accuracy']):.3f} (step {int(best['step']):,})" if best is not None else "–"
    facts = [f"**Epoch** {float(status.get('epoch') or 0):.2f}{epochs}"]
    if active:
        facts += [f"**Throughput** {progress.speed_text}", f"**Time left** {progress.eta_text}"]
    facts.append(f"**Best val. accuracy** {best_text}")
    st.markdown(" &nbsp;·&nbsp; ".join(facts))

    if state == "failed":
        st.error(f"The run failed: {status.get('error') or 'see the log below'}", icon="❌")
        if status.get("traceback"):
            with st.expander("Traceback"):
                st.code(status["traceback"], language=None)
    elif state == "stopped":
        st.info(f"Stopped at step {int(status.get('step') or 0):,}. "
                + ("Resume continues from the last checkpoint." if details["can_resume"]
                   else "There is no checkpoint to resume from."), icon="⏹️")
    elif state == "finished" and details["overall"]:
        overall = details["overall"]
        st.success(f"Finished: test accuracy {overall['accuracy']:.3f}, F1 {overall['f1']:.3f} "
                   f"on {overall.get('n', 0):,} test reviews.", icon="✅")

    buttons = st.container(horizontal=True)
    if active:
        buttons.button("⏹️ Stop", key="stop_run", on_click=stop, args=(run_id,), disabled=stopping,
                          help="Writes the run's STOP file: it saves a checkpoint and stops within a step.")
    if details["can_resume"]:
        buttons.button("⏯️ Resume", key="resume_run", on_click=resume, args=(run_id,), type="primary",
                          help="Continue from the last checkpoint, in a new process.")
    if not active and buttons.button("✖️ Close", key="close_run",
                                     help="Stop showing this run here (it stays in the runs below)."):
        select_run(None)
        st.rerun()  # the whole page, not just this fragment

    controls = st.columns([1, 2])
    by_epoch = controls[0].toggle("x axis: epochs", key="train_by_epoch",
                                  help="Plot against epochs instead of optimisation steps.")
    smoothing = controls[1].slider("Smoothing of the train curves (EMA)", 0.0, 0.99, 0.6, 0.01, key="train_smoothing",
                                   help="TensorBoard-style debiased exponential moving average; 0 = raw values.")
    x = "epoch" if by_epoch else "step"
    frame = monitor.curves(metrics, x=x, smoothing=smoothing)
    if frame.empty:
        st.info("No metrics yet: the first points appear after the first logged step.", icon="⏳")
    else:
        left, right = st.columns(2)
        left.plotly_chart(curve_figure(frame, "loss", best, x, smoothing, run_id), key="live_loss")
        right.plotly_chart(curve_figure(frame, "accuracy", best, x, smoothing, run_id), key="live_accuracy")
    with st.expander(f"Log: last {LOG_LINES} lines of train.log", expanded=True):
        st.code(monitor.log_tail(run_dir, LOG_LINES) or "(no output yet)", language=None)
    if active != was_active:
        st.rerun()  # the whole page: turns auto-refresh on or off, refreshes the runs table


def stop(run_id: str) -> None:
    try:
        jobs.stop_run(run_id)
    except runs.RunError as error:
        st.session_state["train_notice_error"] = str(error)


def resume(run_id: str) -> None:
    try:
        jobs.start_run(["train", "--resume"], run_id)
    except (OSError, SentimentError) as error:
        st.session_state["train_notice_error"] = f"Could not resume: {error}"


# --- the runs browser ------------------------------------------------------------------

def runs_browser(table: pd.DataFrame, selected: str | None) -> None:
    header, refresh = st.columns([5, 1], vertical_alignment="bottom")
    header.header("Runs")
    refresh.button("🔄 Refresh", key="refresh_runs", width="stretch")
    if table.empty:
        st.caption(f"No runs in `{runs.models_dir()}` yet.")
        return
    shown = table.reindex(columns=["run_id", "family", "loss", "state", "best_val_accuracy", "test_accuracy",
                                   "duration_s", "created"]).copy()
    shown["created"] = pd.to_datetime(shown["created"], utc=True, errors="coerce")
    for column in ("best_val_accuracy", "test_accuracy", "duration_s"):
        shown[column] = pd.to_numeric(shown[column], errors="coerce").astype(float)
    st.dataframe(
        shown, hide_index=True, key="runs_table",
        column_config={
            "run_id": st.column_config.TextColumn("Run"),
            "family": st.column_config.TextColumn("Family"),
            "loss": st.column_config.TextColumn("Loss"),
            "state": st.column_config.TextColumn("State"),
            "best_val_accuracy": st.column_config.NumberColumn("Best val. accuracy", format="%.3f"),
            "test_accuracy": st.column_config.NumberColumn("Test accuracy", format="%.3f"),
            "duration_s": st.column_config.NumberColumn("Duration (s)", format="%.0f"),
            "created": st.column_config.DatetimeColumn("Created (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        },
    )
    ids = table["run_id"].tolist()

    st.subheader("Compare")
    if "compare_runs" in st.session_state:  # drop deleted runs before the widget sees them
        st.session_state["compare_runs"] = [r for r in st.session_state["compare_runs"] if r in ids]
    chosen = st.multiselect("Overlay the validation curves of", ids, key="compare_runs",
                            help="Pick two or more runs.", placeholder="pick two or more runs")
    if len(chosen) >= 2:
        x = st.radio("x axis", ["step", "epoch"], horizontal=True, key="compare_x")
        frame = monitor.compare_curves(chosen, x=x)
        if frame.empty:
            st.info("None of these runs has a validation point yet.", icon="ℹ️")
        else:
            left, right = st.columns(2)
            for column, metric in ((left, "accuracy"), (right, "loss")):
                part = frame[frame["metric"] == metric]
                figure = px.line(part, x="x", y="value", color="run_id", markers=True,
                                 labels={"x": x, "value": f"validation {metric}", "run_id": "run"},
                                 title=f"Validation {metric}")
                figure.update_layout(height=340, margin=dict(t=50, b=10, l=10, r=10),
                                     legend=dict(orientation="h", y=-0.25), title_x=0)
                if metric == "accuracy":
                    figure.update_yaxes(tickformat=".0%", autorangeoptions=dict(maxallowed=1.01))
                column.plotly_chart(figure, key=f"compare_{metric}")
    elif chosen:
        st.caption("Pick at least one more run.")

    st.subheader("Details")
    if st.session_state.get("detail_run") not in ids:
        st.session_state["detail_run"] = selected if selected in ids else ids[0]
    run_id = st.selectbox("Run", ids, key="detail_run")
    run_details(run_id, selected)


def run_details(run_id: str, selected: str | None) -> None:
    try:
        details = monitor.run_details(run_id)
    except runs.RunError as error:
        st.error(str(error), icon="🚫")
        return
    state = details["status"].get("state", "unknown")
    st.markdown(f"State: :{STATE_COLORS.get(state, 'gray')}-badge[{STATE_ICONS.get(state, '')} {state}]")
    if state == "failed" and details["status"].get("error"):
        st.error(details["status"]["error"], icon="❌")
    overall = details["overall"]
    if overall:
        columns = st.columns(6)
        for column, (label, key) in zip(columns, [("Test accuracy", "accuracy"), ("Precision", "precision"),
                                                   ("Recall", "recall"), ("F1", "f1"), ("ROC-AUC", "roc_auc"),
                                                   ("BCE", "bce")]):
            column.metric(label, f"{overall[key]:.3f}" if overall.get(key) is not None else "–")
        best = details["best_validation"]
        st.caption(f"On {overall.get('n', 0):,} test reviews; the model is the best checkpoint on validation"
                   + (f" (accuracy {best['accuracy']:.3f} at step {best['step']:,})." if best else "."))
        left, right = st.columns([3, 2])
        buckets = details["buckets"]
        if buckets is not None and not buckets.empty:
            figure = px.bar(buckets, x="label", y="accuracy", text_auto=".3f", hover_data={"n": True},
                            labels={"label": "review length (token quartile)", "accuracy": "test accuracy"},
                            title="Accuracy per review length", color_discrete_sequence=["#4393c3"])
            figure.update_layout(height=340, margin=dict(t=50, b=10, l=10, r=10), title_x=0)
            figure.update_yaxes(tickformat=".0%", range=[0, 1.05])
            left.plotly_chart(figure, key="detail_buckets")
        if details["confusion"] is not None:
            figure = px.imshow(details["confusion"], text_auto=True, color_continuous_scale="Blues",
                               title="Confusion matrix (test)", aspect="auto")
            figure.update_layout(height=340, margin=dict(t=50, b=10, l=10, r=10), title_x=0,
                                 coloraxis_showscale=False)
            right.plotly_chart(figure, key="detail_confusion")
    else:
        st.info(f"No test report yet: the run is {state}. Test metrics appear when a run finishes.", icon="ℹ️")
    with st.expander("Config (run.json)"):
        st.json(details["config"], expanded=True)

    actions = st.container(horizontal=True, vertical_alignment="center")
    if run_id != selected:
        if actions.button("📈 Show above", key="watch_run",
                             help="Show this run's live view and curves at the top of the page."):
            select_run(run_id)
            st.rerun()
    if actions.button("🔮 Use for prediction", key="use_for_prediction",
                         disabled=not details["has_model"],
                         help="Predict with this run's best model (finished runs only)."):
        st.session_state["predict_run"] = run_id
        st.switch_page("views/predict.py")
    with actions:
        confirm = st.checkbox("Yes, delete this run", key=f"confirm_delete_{run_id}", width="content",
                              help=f"Tick to enable the delete button: `{run_id}` is removed for good.")
        if st.button("🗑️ Delete run", key="delete_run", disabled=not confirm):
            try:
                runs.delete_run(run_id)
            except runs.RunError as error:
                st.error(str(error), icon="🚫")
            else:
                if run_id == selected:
                    select_run(None)
                st.session_state["train_notice"] = f"Deleted run `{run_id}`."
                st.rerun()


# --- the page --------------------------------------------------------------------------

st.title("🏋️ Train")
st.markdown("Start a training run (it runs in its own process, so closing the tab loses nothing), "
            "watch its loss and accuracy live, stop or resume it, and compare finished runs.")
try:
    st.markdown(monitor.where_runs_go(get_settings().models_dir))
except SentimentError as error:
    st.error(str(error), icon="🚫")
if notice := st.session_state.pop("train_notice", None):
    st.success(notice, icon="✅")
if notice_error := st.session_state.pop("train_notice_error", None):
    st.error(notice_error, icon="🚫")

table = monitor.runs_table()
if table.empty:
    with st.container(border=True):
        st.markdown("**No runs yet.** Start with the quick baseline: a bag of words with its defaults "
                    f"({FAMILY_DEFAULTS['bow']['epochs']} epochs, batch {FAMILY_DEFAULTS['bow']['batch_size']}, "
                    f"lr {FAMILY_DEFAULTS['bow']['lr']:g}, max length {FAMILY_DEFAULTS['bow']['max_length']}); "
                    "the quickest family to train.")
        if st.button("🚀 Train the quick bow baseline", key="quick_baseline", type="primary"):
            start(monitor.train_arguments({"model": "bow", "loss": "bce"}), "bow", "bce")

form_column, live_column = st.columns([1, 2], gap="large")
with form_column:
    new_run_form()
with live_column:
    selected = current_run(table)
    if selected:
        was_active = monitor.run_status(selected).get("state") in runs.ACTIVE_STATES
        st.fragment(live_view, run_every=REFRESH_SECONDS if was_active else None)(selected, was_active)
    else:
        st.subheader("Live view")
        st.info("No run selected: start one with the form, or pick one in the runs below.", icon="ℹ️")

st.divider()
runs_browser(table, selected)
