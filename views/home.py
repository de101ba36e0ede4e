"""Home: what the studio does, and the state of the data source in use."""

import streamlit as st

from sentiment_core.core.settings import describe_device, get_settings
from sentiment_core.data.imdb import DataSourceError, describe_source, load_imdb, split_counts


@st.cache_data(show_spinner="Loading the IMDB data source…")
def source_counts(source: str):
    return split_counts(load_imdb(source))


settings = get_settings()
st.title("🎬 IMDB Sentiment Studio")
st.markdown(
    "Sentiment analysis of movie reviews, from the data to a served model: "
    "browse the IMDB dataset, train models and watch their curves live, "
    "compare a length-weighted loss with plain BCE, and see which words drove a prediction."
)

st.subheader("Data source")
st.caption(
    "Set `IMDB_DATA` to a Hugging Face hub id, a folder of parquet files, an `aclImdb` folder "
    "or a CSV with `review`/`sentiment` columns (in the environment or a `.env` file)."
)
st.markdown(f"**In use:** {describe_source(settings.imdb_data)}")
try:
    counts = source_counts(settings.imdb_data)
except DataSourceError as error:
    st.error(f"**{error.problem}**\n\n{error.fix}", icon="🚫")
else:
    total = int(counts["rows"].sum())
    st.success(f"Loaded {total:,} labelled reviews.", icon="✅")
    columns = st.columns(len(counts))
    for column, row in zip(columns, counts.itertuples()):
        column.metric(f"{row.split}", f"{row.rows:,}", help=f"{row.neg:,} negative / {row.pos:,} positive")
    st.dataframe(
        counts.rename(columns={"split": "Split", "rows": "Rows", "neg": "Negative", "pos": "Positive"}),
        hide_index=True,
    )
    st.caption(
        f"Validation is {settings.validation_fraction:.0%} of train, stratified by label, seed {settings.seed}. "
        "The test split is kept for final reports only."
    )

st.subheader("Compute")
st.markdown(f"Training and prediction run on: **{describe_device()}**")
st.markdown(f"Trained runs are kept in `{settings.models_dir}`.")
