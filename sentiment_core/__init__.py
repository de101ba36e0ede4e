"""IMDB Sentiment Studio's library: data, tokenizer, models, training, explanations, serving."""

__version__ = "0.1.0"
