"""IMDB Sentiment Studio: the router. Every page lives in pages/; this file only routes."""

import streamlit as st

st.set_page_config(page_title="IMDB Sentiment Studio", page_icon="🎬", layout="wide")
st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon="🏠", default=True),
        st.Page("pages/dataset.py", title="Dataset", icon="📊"),
    ]
).run()
