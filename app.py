"""IMDB Sentiment Studio: the router. Every page lives in views/ (a folder named pages/ would also be listed by
Streamlit on its own); this file only routes."""

import streamlit as st

st.set_page_config(page_title="IMDB Sentiment Studio", page_icon="🎬", layout="wide")
st.navigation(
    [
        st.Page("views/home.py", title="Home", icon="🏠", default=True),
        st.Page("views/predict.py", title="Predict", icon="🔮"),
        st.Page("views/dataset.py", title="Dataset", icon="📊"),
        st.Page("views/train.py", title="Train", icon="🏋️"),
        st.Page("views/evaluate.py", title="Evaluate", icon="🧪"),
        st.Page("views/compare.py", title="Compare losses", icon="⚖️"),
    ]
).run()
