"""The data stage: IMDB sources -> DatasetDict, text cleaning and the word tokenizer, EDA tables."""

LABELS = ("negative", "positive")  # how the studio names IMDB's label 0 and label 1, everywhere
