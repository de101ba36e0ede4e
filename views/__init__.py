"""The Streamlit pages, one file each (app.py routes to them); they only call sentiment_core."""
