import numpy as np
import pandas as pd
import pytest
import torch

from sentiment_core.core import runs
from sentiment_core.core.errors import InputError
from sentiment_core.data.imdb import load_imdb
from sentiment_core.data.text import TokenizerConfig, build_word_tokenizer
from sentiment_core.inference.default_model import best_run_id, finished_runs
from sentiment_core.inference.predictor import Predictor, length_batches
from sentiment_core.inference.sources import load_run
from sentiment_core.modeling import build_model
from tests.conftest import TINY_OPTIONS, make_reviews


@pytest.fixture(scope="module")
def word_tokenizer():
    return build_word_tokenizer(make_reviews(40).text, TokenizerConfig(vocab_size=200, min_frequency=1))


def random_predictor(family: str, tokenizer, max_length: int = 64, num_labels: int = 1) -> Predictor:
    torch.manual_seed(0)
    model = build_model(family, vocab_size=len(tokenizer), num_labels=num_labels, pad_token_id=tokenizer.pad_token_id,
                        **TINY_OPTIONS[family])
    return Predictor(model, tokenizer, family, max_length)


@pytest.mark.parametrize("family", ["bow", "lstm", "transformer"])
def test_batch_predictions_equal_one_by_one(family, word_tokenizer):
    predictor = random_predictor(family, word_tokenizer)
    texts = ["a great movie", "the plot was dull and the actor was bad, a waste", "loved it. <br />Wonderful!"]
    together = predictor.predict(texts)
    alone = [predictor.predict([t])[0] for t in texts]
    for a, b in zip(together, alone):
        assert a.probability == pytest.approx(b.probability, abs=1e-5)
        assert a.label == ("positive" if a.probability >= 0.5 else "negative")


def test_long_review_is_truncated_and_says_where(word_tokenizer):
    predictor = random_predictor("bow", word_tokenizer, max_length=5)
    text = "great movie and great actor but a dull plot"
    prediction = predictor.predict([text])[0]
    assert prediction.truncated and prediction.tokens_read == 5 and prediction.total_tokens == 9
    assert text[: prediction.read_until] == "great movie and great actor"
    assert any("first 5 of 9 tokens" in note for note in prediction.notes)
    assert not predictor.predict(["great movie"])[0].truncated


def test_empty_or_wordless_review_is_a_clear_error(word_tokenizer):
    predictor = random_predictor("bow", word_tokenizer)
    for text in ["", "   ", "<br /><br />"]:
        with pytest.raises(ValueError, match="no words the model can read"):
            predictor.predict([text])
    with pytest.raises(ValueError, match="list of texts"):
        predictor.predict("one string")


def test_non_english_text_is_predicted_with_a_note(word_tokenizer):
    predictor = random_predictor("bow", word_tokenizer)
    french, nonsense, english = predictor.predict([
        "Le film était magnifique, les acteurs sont formidables et la musique aussi",
        "qwzx vbnm plok trewq zzzz",
        "The movie was great and the actor was wonderful, I loved it",
    ])
    assert any("English movie reviews" in n for n in french.notes)
    assert any("English movie reviews" in n for n in nonsense.notes)
    assert not english.notes
    assert 0 <= french.probability <= 1


def test_two_logit_heads_predict_probabilities(word_tokenizer):
    predictor = random_predictor("transformer", word_tokenizer, num_labels=2)
    logits = predictor.logits(*predictor.batch_tensors([predictor.encode("a great movie")]))
    expected = float(logits.softmax(-1)[0, 1])
    assert predictor.predict(["a great movie"])[0].probability == pytest.approx(expected, abs=1e-6)


def test_pretrained_predictor_keeps_special_tokens(tiny_backbone):
    from transformers import AutoTokenizer

    from sentiment_core.modeling import PretrainedEncoderForSequenceClassification

    model = PretrainedEncoderForSequenceClassification.from_backbone(tiny_backbone)
    predictor = Predictor(model, AutoTokenizer.from_pretrained(tiny_backbone), "pretrained", max_length=6)
    encoded = predictor.encode("great movie and a great actor and a dull plot")
    assert encoded.special[0] and encoded.special[-1] and len(encoded.input_ids) == 6
    assert encoded.truncated and encoded.tokens_read == 4
    assert predictor.predict(["great movie"])[0].tokens_read == 2


def test_from_run_predicts_what_the_run_evaluated(tiny_bow_run):
    run_dir, data = tiny_bow_run
    predictor = load_run("tiny-bow")
    assert predictor.family == "bow" and predictor.run_id == "tiny-bow"
    assert load_run("tiny-bow") is predictor  # cached
    test = load_imdb(data)["test"]
    saved = pd.read_csv(run_dir / runs.PREDICTIONS_FILE)
    predicted = np.array([p.probability for p in predictor.predict(list(test["text"]))])
    np.testing.assert_allclose(predicted, saved["probability"].to_numpy(), atol=1e-5)
    assert best_run_id() == "tiny-bow" and finished_runs()[0]["run_id"] == "tiny-bow"


def test_from_run_refuses_missing_unfinished_and_corrupted_runs(tiny_bow_run):
    with pytest.raises(runs.RunError, match="No run 'nope'"):
        load_run("nope")
    with pytest.raises(runs.RunError, match="Invalid run id"):
        load_run("../etc")
    runs.create_run("half-done", {"model": "bow", "max_length": 64})
    with pytest.raises(runs.RunError, match="no trained model yet"):
        load_run("half-done")
    run_dir, _ = tiny_bow_run
    (run_dir / runs.BEST_DIR / "model.safetensors").write_bytes(b"not a model")
    (run_dir / runs.BEST_DIR / "config.json").touch()  # new mtime: the cache must not hide it
    with pytest.raises(runs.RunError, match="corrupted"):
        load_run("tiny-bow")


def test_no_finished_run_means_no_best_run():
    assert best_run_id() is None and finished_runs() == []


def test_text_without_latin_letters_gets_a_note_that_says_so(word_tokenizer):
    (prediction,) = random_predictor("bow", word_tokenizer).predict(["感動的な映画でした"])
    assert any("no words in the Latin alphabet" in note for note in prediction.notes)


# --- long reviews: truncate, head_tail, windows (issue 13) -----------------------------------------

LONG = " ".join(f"great film number {i} and the plot was dull" for i in range(30))  # ~270 tokens


def test_reading_spans_cover_what_each_reading_promises():
    from sentiment_core.data.reading import reading_spans

    assert reading_spans(50, 64, "windows") == [[(0, 50)]]  # a short review: one view whatever the reading
    assert reading_spans(300, 64, "truncate") == [[(0, 64)]]
    assert reading_spans(300, 64, "head_tail") == [[(0, 16), (252, 300)]]  # a quarter head, the rest tail
    assert reading_spans(300, 64, "head_tail", head_tokens=10) == [[(0, 10), (246, 300)]]
    windows = reading_spans(300, 64, "windows")
    assert (windows[0] == [(0, 64)] and windows[-1] == [(236, 300)]
            and all(end - start == 64 for [(start, end)] in windows))
    assert [w[0][0] for w in windows][:3] == [0, 32, 64]  # half a window apart
    covered = np.zeros(300, dtype=bool)
    for [(start, end)] in windows:
        covered[start:end] = True
    assert covered.all()


def test_head_tail_keeps_the_ends_and_marks_the_middle_unread(word_tokenizer):
    predictor = random_predictor("bow", word_tokenizer).with_reading("head_tail", head_tokens=10)
    (view,) = predictor.views(LONG)
    assert len(view.input_ids) == 64 and view.truncated and view.total_tokens > 64
    assert view.offsets[0][0] == 0 and view.offsets[-1][1] == len(LONG)  # reads the start and the very end
    (start, end), = view.unread
    assert view.offsets[9][1] == start and view.offsets[10][0] == end  # the middle between head and tail
    (prediction,) = predictor.predict([LONG])
    assert prediction.unread == [(start, end)] and any("skipped characters" in n for n in prediction.notes)


def test_windows_average_the_log_odds_and_a_short_review_reads_as_truncate(word_tokenizer):
    truncating = random_predictor("transformer", word_tokenizer)
    windows = truncating.with_reading("windows")
    short = "a great movie, the actor was brilliant"
    assert windows.predict([short])[0].probability == pytest.approx(truncating.predict([short])[0].probability,
                                                                    abs=1e-7)
    views = windows.views(LONG)
    assert len(views) > 2 and not views[0].unread
    log_odds, _ = windows.view_log_odds(views)
    (prediction,) = windows.predict([LONG])
    assert prediction.windows == len(views) and not prediction.truncated
    assert prediction.probability == pytest.approx(1 / (1 + np.exp(-log_odds.mean())), abs=1e-6)


def test_length_batches_sort_cap_and_split_where_lengths_jump():
    lengths = [5, 100, 6, 7, 300, 8, 1000, 12, 0]
    batches = length_batches(lengths, batch_size=3)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))  # each view once
    assert [[lengths[i] for i in batch] for batch in batches] == [[0], [5, 6], [7, 8], [12], [100], [300], [1000]]
    assert all(len(batch) <= 3 for batch in length_batches(list(range(50, 60)), batch_size=3))
    assert length_batches([], batch_size=4) == []


def test_a_reading_the_model_would_ignore_or_cut_short_is_refused(word_tokenizer):
    predictor = random_predictor("bow", word_tokenizer)  # reads max_length tokens, truncating
    with pytest.raises(InputError, match="--head-tokens applies to --long-text head_tail only"):
        predictor.with_reading(head_tokens=8)
    with pytest.raises(InputError, match=f"--head-tokens {predictor.budget} leaves no tokens for the end"):
        predictor.with_reading("head_tail", head_tokens=predictor.budget)
    with pytest.raises(InputError, match="is longer than a window"):
        predictor.with_reading("windows", window_stride=predictor.budget + 1)
    assert predictor.with_reading("head_tail", head_tokens=predictor.budget - 1).head_tokens == predictor.budget - 1
