"""Fixtures of the explanation tests: a word tokenizer, and a bow whose scores are known by construction."""
import pytest
import torch

from sentiment_core.data.text import TokenizerConfig, build_word_tokenizer
from sentiment_core.inference.predictor import Predictor
from sentiment_core.modeling import BowConfig, BowForSequenceClassification
from tests.conftest import make_reviews


@pytest.fixture(scope="module")
def word_tokenizer():
    texts = list(make_reviews(40).text) + ["good bad but ending", "good bad but ending"]
    return build_word_tokenizer(texts, TokenizerConfig(vocab_size=200, min_frequency=1))


def polarity_bow(tokenizer) -> Predictor:
    """A hand-built bow: 'good' pushes positive, 'bad' negative, every other word nothing."""
    config = BowConfig(vocab_size=len(tokenizer), embed_dim=1, bigram_buckets=0, hidden_sizes=[], nb_weighting=False,
                       item_dropout=0.0, pad_token_id=tokenizer.pad_token_id)
    model = BowForSequenceClassification(config)
    with torch.no_grad():
        model.embeddings.weight.zero_()
        vocab = tokenizer.get_vocab()
        model.embeddings.weight[vocab["good"], 0] = 3.0
        model.embeddings.weight[vocab["bad"], 0] = -3.0
        model.classifier.weight.fill_(1.0)
        model.classifier.bias.zero_()
    return Predictor(model, tokenizer, "bow", max_length=64)
