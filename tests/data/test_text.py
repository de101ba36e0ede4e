import pytest
from transformers import AutoTokenizer

from sentiment_core.data.text import (
    PAD_TOKEN,
    UNK_TOKEN,
    TokenizerConfig,
    build_word_tokenizer,
    clean_text,
    token_spans,
    words,
)
from tests.conftest import make_reviews

CORPUS = make_reviews(30)["text"].tolist() + [
    "I didn't like it, not at all!", "Great acting. Great story; great fun.",
]


def test_clean_text_removes_tags_entities_and_spaces():
    raw = "Great<br /><br />movie&amp; <i>fun</i>   &quot;really&quot;  "
    assert clean_text(raw) == 'Great movie& fun "really"'
    assert clean_text("A <=8 rating") == "A <=8 rating"  # not a tag
    assert clean_text("The BEST film", lowercase=True) == "the best film"


def test_stop_word_removal_keeps_negations():
    cleaned = clean_text("This is not the best film of the year", remove_stopwords=True)
    assert cleaned == "not best film year"


def test_words_split_like_the_tokenizer():
    assert words("I didn't LOVE it!<br />") == ["i", "didn't", "love", "it", "!"]


@pytest.fixture(scope="module")
def tokenizer():
    return build_word_tokenizer(CORPUS, TokenizerConfig(vocab_size=200, min_frequency=1))


def test_special_tokens_and_vocab(tokenizer):
    assert tokenizer.pad_token == PAD_TOKEN and tokenizer.pad_token_id == 0
    assert tokenizer.unk_token == UNK_TOKEN and tokenizer.unk_token_id == 1
    assert len(tokenizer) <= 200
    assert tokenizer.convert_ids_to_tokens(tokenizer("zzyzx great")["input_ids"]) == [UNK_TOKEN, "great"]


def test_min_frequency_and_vocab_size_are_honoured():
    rare = build_word_tokenizer(["common common rare"], TokenizerConfig(min_frequency=2))
    assert "common" in rare.get_vocab() and "rare" not in rare.get_vocab()
    small = build_word_tokenizer(CORPUS, TokenizerConfig(vocab_size=5, min_frequency=1))
    assert len(small) == 5


def test_save_load_round_trip(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path / "tok")
    loaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    for text in CORPUS[:10] + ["Unseen words: zebra!<br />"]:
        assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert loaded.pad_token_id == tokenizer.pad_token_id
    padded = loaded(["great", "great fun movie"], padding=True)["input_ids"]
    assert padded[0][1:] == [0, 0]


def test_spans_point_at_the_original_text(tokenizer):
    text = "GREAT<br />movie, great-ish. I didn't see zzyzx &amp; it!"
    spans = token_spans(tokenizer, text)
    pieces = [(span.token, text[span.start:span.end]) for span in spans]
    assert pieces[:4] == [("great", "GREAT"), ("movie", "movie"), (",", ","), ("great", "great")]
    assert ("didn't", "didn't") in pieces
    assert (UNK_TOKEN, "zzyzx") in pieces
    assert all("<" not in piece and "br" != piece for _, piece in pieces)
    repeated = [span for span in spans if span.token == "great"]
    assert [text[s.start:s.end] for s in repeated] == ["GREAT", "great"]
    assert repeated[0].start != repeated[1].start


def test_spans_with_stop_words_removed():
    tokenizer = build_word_tokenizer(CORPUS, TokenizerConfig(remove_stopwords=True, min_frequency=1))
    text = "The film is not what it was"
    assert [text[s.start:s.end] for s in token_spans(tokenizer, text)] == ["film", "not"]


def test_spans_respect_truncation(tokenizer):
    assert len(token_spans(tokenizer, "great " * 50, max_length=8)) == 8


@pytest.mark.parametrize("kwargs", [dict(vocab_size=2), dict(min_frequency=0), dict(model_max_length=0)])
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        TokenizerConfig(**kwargs)


def test_stop_words_are_scikit_learns_without_negations_and_need_no_sklearn_import():
    import subprocess
    import sys

    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from sentiment_core.data.text import NEGATIONS, STOP_WORDS

    assert STOP_WORDS == frozenset(ENGLISH_STOP_WORDS) - NEGATIONS
    assert "not" not in STOP_WORDS and "the" in STOP_WORDS
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, sentiment_core.data.eda; print('sklearn' in sys.modules)"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert imported == "False"  # the Dataset page starts without scikit-learn's second of imports
