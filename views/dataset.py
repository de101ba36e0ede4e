"""Dataset: EDA of the IMDB reviews in use: sizes, lengths, telling words, ratings, quality, a browser."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from sentiment_core.core.settings import get_settings
from sentiment_core.data import eda
from sentiment_core.data.imdb import LABEL_NAMES, DataSourceError, describe_source, load_imdb
from sentiment_core.data.text import clean_text

LABEL_COLORS = {"neg": "#d6604d", "pos": "#4393c3"}
LABEL_FILLS = {"neg": "rgba(214, 96, 77, 0.15)", "pos": "rgba(67, 147, 195, 0.15)"}
LABEL_TITLES = {"neg": "negative", "pos": "positive"}
BIN_WORDS = 20  # width of the length histogram bins
TOP_K = 15  # polarised n-grams per side
BROWSER_ROWS = 200  # rows the review browser shows at most
DEFAULT_REMOVE_STOPWORDS = True


@st.cache_resource(show_spinner="Reading the reviews…", max_entries=4)
def split_tables(source: str, fraction: float, seed: int) -> dict:
    """Each split as one Arrow table, shared by every session (read-only)."""
    return eda.arrow_tables(load_imdb(source, fraction, seed))


@st.cache_data(show_spinner="Reading every review and counting its words (once per data source)…", max_entries=4)
def dataset_facts(source: str, fraction: float, seed: int) -> dict:
    data = split_tables(source, fraction, seed)
    with ThreadPoolExecutor(max_workers=1) as pool:  # n-grams beside the per-review pass: both cores at work
        telling = pool.submit(eda.telling_ngrams, data, "train", TOP_K, DEFAULT_REMOVE_STOPWORDS)
        reviews = eda.review_table(data)
        duplicates = eda.duplicate_reviews(data, reviews)
        return {
            "splits": eda.split_names(data),
            "balance": eda.label_balance(data),
            "reviews": reviews.drop(columns="text_key"),
            "summary": eda.length_summary(reviews),
            "quality": eda.quality_summary(reviews),
            "duplicates": duplicates,
            "duplicate_counts": eda.duplicate_counts(duplicates, eda.split_names(data)),
            "ratings": eda.rating_distribution(data),
            "telling": telling.result(),  # (top polarised, most frequent) with the toggle's default
        }


@st.cache_data(show_spinner="Counting words and bigrams in train…", max_entries=8)
def telling_ngrams(source: str, fraction: float, seed: int, remove_stopwords: bool):
    return eda.telling_ngrams(split_tables(source, fraction, seed), "train", TOP_K, remove_stopwords)


def balance_figure(balance: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    for label in LABEL_NAMES:
        part = balance[balance["label"] == label]
        figure.add_bar(x=part["split"], y=part["reviews"], name=LABEL_TITLES[label], marker_color=LABEL_COLORS[label],
                       text=part["reviews"], texttemplate="%{text:,}", customdata=part["share"],
                       hovertemplate="%{x}: %{y:,} reviews (%{customdata:.1%})"
                       "<extra>" + LABEL_TITLES[label] + "</extra>")
    figure.update_layout(height=300, barmode="group", margin=dict(t=10, b=10, l=10, r=10), yaxis_title="reviews")
    return figure


def length_figure(reviews: pd.DataFrame, quartiles: pd.DataFrame, max_length: int) -> go.Figure:
    top = int(max(reviews["words"].quantile(0.99), max_length) + 2 * BIN_WORDS)
    bins = np.arange(0, int(reviews["words"].max()) + BIN_WORDS, BIN_WORDS)
    figure = go.Figure()
    for label in LABEL_NAMES:
        counts, edges = np.histogram(reviews.loc[reviews["label"] == label, "words"], bins=bins)
        figure.add_scatter(x=edges[:-1] + BIN_WORDS / 2, y=counts, name=LABEL_TITLES[label], mode="lines",
                           line=dict(color=LABEL_COLORS[label], width=2, shape="hvh"), fill="tozeroy",
                           fillcolor=LABEL_FILLS[label],
                           hovertemplate=f"%{{x:.0f}} ± {BIN_WORDS // 2} words: %{{y:,}} reviews"
                                         f"<extra>{LABEL_TITLES[label]}</extra>")
    for i, edge in enumerate(quartiles["high"].iloc[:-1]):  # staggered so close edges stay legible
        figure.add_vline(x=edge, line_dash="dot", line_color="#666", annotation_text=f"{edge:g}",
                         annotation_position="top", annotation_yshift=-16 * (i % 2), annotation_font_size=11)
    figure.add_vline(x=max_length, line_color="#b2182b", line_width=2,
                     annotation_text=f"max_length {max_length}", annotation_position="top right",
                     annotation_font_color="#b2182b", annotation_yshift=-22)
    figure.update_layout(height=380, hovermode="x unified", margin=dict(t=40, b=10, l=10, r=10),
                         xaxis=dict(title="words per review", range=[0, top]), yaxis_title="reviews",
                         legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    return figure


def polarised_figure(top: pd.DataFrame) -> go.Figure:
    """Words (left) and bigrams (right) by z-score: one figure, so the browser draws one chart, not two."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=["Words", "Bigrams"], horizontal_spacing=0.2)
    rows = 0
    for column, n in enumerate((1, 2), start=1):
        part = top[top["n"] == n].sort_values("z")
        rows = max(rows, len(part))
        for side in LABEL_NAMES:
            bars = part[part["side"] == side]
            figure.add_bar(x=bars["z"], y=bars["ngram"], orientation="h", customdata=bars["count"],
                           name=LABEL_TITLES[side], marker_color=LABEL_COLORS[side], legendgroup=side,
                           showlegend=column == 1, row=1, col=column,
                           hovertemplate=f"%{{y}}: z %{{x:.1f}}, %{{customdata:,}} times"
                           f"<extra>{LABEL_TITLES[side]}</extra>")
        figure.update_yaxes(categoryorder="array", categoryarray=part["ngram"].tolist(), tickfont_size=12,
                            row=1, col=column)
    figure.update_xaxes(title_text="z-score", title_standoff=4)
    figure.update_layout(height=90 + 19 * rows, barmode="relative", bargap=0.25, margin=dict(t=30, b=10, l=10, r=10),
                         legend=dict(orientation="h", y=-0.06, title=None))
    return figure


settings = get_settings()
source = settings.imdb_data
st.title("📊 Dataset")
st.caption(
    f"Numbers from **{describe_source(source)}**, every split: train, validation "
    f"({settings.validation_fraction:.0%} of train, seed {settings.seed}) and test; "
    "telling words and bigrams from train only. Words are counted as the studio's tokenizer splits them."
)
try:
    facts = dataset_facts(source, settings.validation_fraction, settings.seed)
except DataSourceError as error:
    st.error(f"**{error.problem}**\n\n{error.fix}", icon="🚫")
    st.stop()
reviews, splits = facts["reviews"], facts["splits"]

st.subheader("Splits and labels")
balance = facts["balance"]
for column, split in zip(st.columns(len(splits)), splits):
    part = balance[balance["split"] == split].set_index("label")["reviews"]
    column.metric(split, f"{int(part.sum()):,}", help=f"{part['neg']:,} negative / {part['pos']:,} positive")
st.plotly_chart(balance_figure(balance), key="balance_chart")

st.subheader("Review lengths")
left, right = st.columns([1, 2])
length_split = left.segmented_control("Split", splits, default="test" if "test" in splits else splits[0],
                                      required=True, key="length_split")
max_length = right.slider("max_length (tokens ≈ words)", 32, 1024, 400, step=16, key="max_length",
                          help="A model reading this many tokens truncates every longer review.")
split_reviews = reviews[reviews["split"] == length_split]
quartiles = eda.length_quartiles(reviews, length_split)
st.plotly_chart(length_figure(split_reviews, quartiles, max_length), key="length_chart")
bucket_text = ", ".join(f"{row.bucket} {row.low:g}-{row.high:g}" for row in quartiles.itertuples())
st.caption(
    f"Dotted lines: quartile edges of word counts in {length_split} ({bucket_text} words), the length "
    "buckets the evaluation reports accuracy on (it buckets the test reviews the same way). "
    f"The x axis stops near the 99th percentile; the longest review has {int(split_reviews['words'].max()):,} words."
)
truncation = eda.truncation_share(reviews, max_length)
st.markdown(f"**Reviews `max_length={max_length}` would truncate**")
for column, row in zip(st.columns(len(truncation)), truncation.itertuples()):
    column.metric(f"{row.split} truncated", f"{row.truncated:,}", f"{row.share:.1%} of {row.reviews:,}",
                  delta_color="off", delta_arrow="off")
with st.expander("Length statistics per split and label"):
    st.table(facts["summary"].round(1), hide_index=True)
    st.table(quartiles, hide_index=True)

st.subheader("Words that tell the classes apart")
remove_stopwords = st.toggle("Leave out stop words (negations such as “not” stay)", value=DEFAULT_REMOVE_STOPWORDS,
                             key="stopwords")
top, frequent = (facts["telling"] if remove_stopwords == DEFAULT_REMOVE_STOPWORDS
                 else telling_ngrams(source, settings.validation_fraction, settings.seed, remove_stopwords))
st.caption(
    "Log-odds ratio of each word between positive and negative train reviews with an informative "
    "Dirichlet prior (Monroe et al. 2008), as a z-score: far from 0 means strong and reliable evidence."
)
if top.empty:
    st.info("Too few reviews in train to tell the classes apart.", icon="ℹ️")
else:
    st.plotly_chart(polarised_figure(top), key="polarised_chart")
with st.expander("Most frequent words and bigrams per class"):
    for column, label in zip(st.columns(2), LABEL_NAMES):
        column.markdown(f"**{LABEL_TITLES[label].capitalize()} reviews**")
        part = frequent[frequent["label"] == label]
        column.table(part.assign(kind=part["n"].map({1: "word", 2: "bigram"}))[["kind", "ngram", "count"]],
                     hide_index=True)

st.subheader("Ratings")
ratings = facts["ratings"]
if ratings is None:
    st.info(
        "This source has no star ratings. An `aclImdb` folder (the Stanford tarball, files named "
        "`train/pos/<id>_<rating>.txt`) keeps them: point `IMDB_DATA` at one to see their distribution.",
        icon="ℹ️",
    )
else:
    figure = px.bar(ratings, x="rating", y="reviews", color="label", facet_col="split",
                    color_discrete_map=LABEL_COLORS, category_orders={"split": splits})
    figure.update_xaxes(dtick=1)
    figure.update_layout(height=300, margin=dict(t=30, b=10, l=10, r=10), legend_title=None)
    st.plotly_chart(figure, key="rating_chart")
    st.caption("IMDB keeps reviews rated 1-4 (negative) and 7-10 (positive); neutral ones are left out.")

st.subheader("Data quality")
quality, duplicate_counts = facts["quality"], facts["duplicate_counts"].set_index("scope")["reviews"]
leak = [scope for scope in duplicate_counts.index if scope.endswith("& test")]
metrics = st.columns(4)
metrics[0].metric("duplicates within splits", f"{int(duplicate_counts[splits].sum()):,}",
                  help="Reviews whose cleaned text repeats an earlier review of the same split.")
metrics[1].metric("test reviews also in train", f"{int(duplicate_counts[leak].sum()):,}",
                  help="Test reviews whose cleaned text is also in train or validation.")
metrics[2].metric("reviews with HTML tags", f"{int(quality['html'].sum()):,}",
                  f"{quality['html'].sum() / quality['reviews'].sum():.0%} of all", delta_color="off",
                  delta_arrow="off", help="Mostly <br /> line breaks; the tokenizer strips them.")
metrics[3].metric(f"shorter than {eda.SHORT_REVIEW_WORDS} words", f"{int(quality['short'].sum()):,}",
                  f"{int(quality['empty'].sum()):,} empty", delta_color="off", delta_arrow="off")
left, right = st.columns([3, 2])
left.table(quality.rename(columns={"html": "HTML tags", "short": f"< {eda.SHORT_REVIEW_WORDS} words"}),
           hide_index=True)
right.table(duplicate_counts.rename("reviews repeating a text").reset_index(), hide_index=True)
with st.expander(f"Duplicated texts ({facts['duplicates']['group'].nunique():,})"):
    st.dataframe(facts["duplicates"], hide_index=True,
                 column_config={"text": st.column_config.TextColumn(width="large")})

st.subheader("Browse reviews")
controls = st.columns([1, 1, 2, 2])
browse_split = controls[0].selectbox("Split", splits, key="browse_split")
label_choice = controls[1].selectbox("Label", ["both", *LABEL_NAMES], key="browse_label",
                                     format_func=lambda value: LABEL_TITLES.get(value, value))
split_words = reviews.loc[reviews["split"] == browse_split, "words"]
low, high = int(split_words.min()), int(split_words.max())
word_range = controls[2].slider("Words", low, max(high, low + 1), (low, max(high, low + 1)), key="browse_words")
search = controls[3].text_input("Search word", key="browse_search", placeholder="e.g. hitchcock (whole word, any case)")
found = eda.filter_reviews(split_tables(source, settings.validation_fraction, settings.seed), reviews, browse_split,
                           label=None if label_choice == "both" else label_choice,
                           min_words=word_range[0], max_words=word_range[1], search=search, limit=BROWSER_ROWS)
matches = found.attrs["matches"]
st.caption(f"{matches:,} reviews match"
           + (f"; the first {BROWSER_ROWS:,} are listed." if matches > BROWSER_ROWS else "."))
if found.empty:
    st.info("No review matches: widen the word range, change the label or clear the search word.", icon="🔎")
else:
    st.dataframe(found, hide_index=True, height=280, key="browse_table",
                 column_config={"index": st.column_config.NumberColumn("index", format="%d"),
                                "text": st.column_config.TextColumn("text", width="large")})
    titles = [f"#{index} · {LABEL_TITLES[label]} · {words} words"
              for index, label, words in zip(found["index"], found["label"], found["words"])]
    chosen = st.selectbox("Read a review", found.index, key="browse_review", format_func=titles.__getitem__)
    with st.container(border=True):
        st.text(clean_text(found.at[chosen, "text"]))
