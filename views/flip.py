"""What would flip it: the Predict page's search for the smallest edits that change the model's mind."""

import pandas as pd
import streamlit as st

from sentiment_core.core.errors import SentimentError
from sentiment_core.data import LABELS
from sentiment_core.explain import render
from sentiment_core.explain.counterfactual import MAX_COUNTERFACTUALS, counterfactuals

FOUND = "predict_flips"  # session: {"key": (source, labels, text, n), "found": [Counterfactual]} of the last search


def load_edited(text: str) -> None:
    """Put an edited review in the review box (a callback: it runs before the box is drawn again)."""
    st.session_state["predict_text"] = text


def what_would_flip_it(model, source: str, labels: str | None, text: str, predicted_label: str) -> None:
    """The button that searches, its progress, and each edited review as a diff with what the model now says."""
    other = "negative" if predicted_label == "positive" else "positive"
    st.markdown("#### 🔁 What would flip it")
    st.caption(f"The smallest edits that make the model call this review **{other}**: negations added or removed, "
               "words replaced by their opposites, ratings turned over, intensifiers turned down; deletions only "
               "when nothing else does it. Each edit is checked by predicting the edited review again.")
    count_column, button_column = st.columns([1, 3], vertical_alignment="bottom")
    n = int(count_column.number_input("Edited reviews", min_value=1, max_value=MAX_COUNTERFACTUALS, value=1,
                                      key="predict_flip_n", help="Several: no word is edited in two of them."))
    key = (source, labels, text, n)
    last = st.session_state.get(FOUND)
    found = last["found"] if last and last["key"] == key else None
    if found is None:
        if not button_column.button(f"Find the smallest edit that makes it {other}", key="predict_flip"):
            return
        bar = st.progress(0.0, text="Searching…")
        try:
            found = counterfactuals(model, text, n=n,
                                    progress=lambda share, message: bar.progress(min(share, 1.0), text=message))
        except SentimentError as error:
            st.error(str(error), icon="🚫")
            return
        finally:
            bar.empty()
        st.session_state[FOUND] = {"key": key, "found": found}
    for index, result in enumerate(found):
        show_counterfactual(result, index)


def show_counterfactual(result, index: int) -> None:
    """One edited review: the diff, the new label and probability, the edits, and a button to read it."""
    target = LABELS[result.target]
    if not result.edits:
        st.info(result.message, icon="ℹ️")
        return
    (st.success if result.flipped and not result.deletions else st.warning)(
        result.message, icon="✅" if result.flipped and not result.deletions else "⚠️")
    for note in result.notes:
        st.caption(note)
    st.html(render.edits_html(result.text, result.edits))
    label, probability, changed, seconds = st.columns(4)
    label.metric("Label now", result.label_after)
    probability.metric(f"P({target})", f"{result.probability_after:.1%}",
                       f"{result.probability_after - result.probability_before:+.1%}")
    changed.metric("Words changed", f"{result.share_changed:.1%}")
    seconds.metric("Search time", f"{result.seconds:.2f} s" if result.seconds < 10 else f"{result.seconds:.0f} s")
    edits = pd.DataFrame([{"kind": e.kind, "was": e.old.strip(), "now": e.new, "at character": e.start}
                          for e in result.edits])
    st.dataframe(edits, hide_index=True, key=f"predict_flip_edits_{index}")
    st.button("✏️ Load the edited review", key=f"predict_flip_load_{index}", on_click=load_edited,
              args=(result.edited,), help="Put it in the review box above, to read its highlights.")
