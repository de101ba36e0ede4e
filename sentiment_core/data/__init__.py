"""The data stage: IMDB sources -> DatasetDict, text cleaning and the word tokenizer, EDA tables."""
