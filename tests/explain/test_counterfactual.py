"""The counterfactual search: flips, prunes, keeps to what the model reads, and says when there is nothing to do."""
import pytest
import torch

from sentiment_core.core.errors import InputError
from sentiment_core.data.edits import Edit, apply_edits
from sentiment_core.explain.counterfactual import counterfactuals, prune
from sentiment_core.inference.predictor import Predictor
from tests.explain.conftest import polarity_bow


def four_word_bow(tokenizer) -> Predictor:
    """The hand-built bow with 'great' and 'terrible' too: good, great +2; bad, terrible -3 (a bag: each word once)."""
    predictor = polarity_bow(tokenizer)
    vocab = tokenizer.get_vocab()
    with torch.no_grad():
        for word, weight in (("good", 2.0), ("great", 2.0), ("bad", -3.0), ("terrible", -3.0)):
            predictor.model.embeddings.weight[vocab[word], 0] = weight
    return predictor


def test_a_review_flips_with_one_meaning_changing_edit(word_tokenizer):
    predictor = polarity_bow(word_tokenizer)
    text = "The film was good, and the plot was fine."
    (result,) = counterfactuals(predictor, text)
    assert (result.label_before, result.label_after, result.flipped) == ("positive", "negative", True)
    assert result.probability_before < 0.5 < result.probability_after  # both of the target, negative
    assert len(result.edits) == 1 and result.edits[0].kind in ("negation", "antonym")
    assert result.edited == apply_edits(text, result.edits)
    for edit in result.edits:
        assert text[edit.start:edit.end] == edit.old  # spans into the text as typed
    assert result.share_changed == pytest.approx(1 / 9)
    assert "Flipped to negative" in result.message and result.seconds >= 0
    record = result.to_dict()
    assert {"text", "edited", "edits", "label_before", "label_after", "flipped"} <= set(record)


def test_an_edit_that_is_not_needed_is_pruned(word_tokenizer):
    predictor = four_word_bow(word_tokenizer)
    text = "The film was good and the plot was great."

    def score(edit_sets):  # log-odds of negative
        texts = [apply_edits(text, list(edits)) for edits in edit_sets]
        return torch.logit(torch.tensor([1 - p.probability for p in predictor.predict(texts)]).double()).numpy()

    needed = Edit(13, 17, "good", "bad", "antonym")
    needless = Edit(25, 30, " plot", "", "deletion")
    assert score([(needed, needless)])[0] > 0
    assert prune([needless, needed], score) == (needed,)
    (result,) = counterfactuals(predictor, text)
    assert result.flipped
    for index in range(len(result.edits)):  # every edit kept is needed
        fewer = result.edits[:index] + result.edits[index + 1:]
        assert predictor.predict([apply_edits(text, fewer)])[0].label == "positive"


def test_the_predicted_class_as_target_returns_the_review_unchanged(word_tokenizer):
    predictor = polarity_bow(word_tokenizer)
    (result,) = counterfactuals(predictor, "A good film.", target="positive")
    assert (result.edited, result.edits, result.flipped) == ("A good film.", [], False)
    assert result.message.startswith("The model already predicts positive")


def test_several_edits_are_diverse(word_tokenizer):
    predictor = four_word_bow(word_tokenizer)
    text = "The film was good and the plot was great."
    results = counterfactuals(predictor, text, n=3)
    assert len(results) >= 2 and all(r.flipped for r in results[:2])
    first, second = ({(e.start, e.end) for e in r.edits} for r in results[:2])
    assert not any(a[0] < b[1] and b[0] < a[1] for a in first for b in second)


def test_deletions_are_a_last_resort_and_say_so(word_tokenizer):
    predictor = polarity_bow(word_tokenizer)
    with torch.no_grad():  # 'movie' now pushes positive: no meaning-changing edit touches it
        predictor.model.embeddings.weight[word_tokenizer.get_vocab()["movie"], 0] = 3.0
        predictor.model.classifier.bias.fill_(-0.5)  # the review without it is negative
    (result,) = counterfactuals(predictor, "A movie.")
    assert result.flipped and [e.kind for e in result.edits] == ["deletion"]
    assert result.to_dict()["deletions"] is True and "only with deletions" in result.message


def test_words_the_model_does_not_read_are_not_edited(word_tokenizer):
    predictor = Predictor(polarity_bow(word_tokenizer).model, word_tokenizer, "bow", max_length=8)
    text = "The film was good and the plot was good and the ending was good."
    (prediction,) = predictor.predict([text])
    results = counterfactuals(predictor, text, n=3)
    assert all(e.end <= prediction.read_until for r in results for e in r.edits)
    assert "does not read all" in results[0].notes[0]


def test_the_search_flips_a_trained_model(tiny_bow_run):
    from sentiment_core.inference.checkpoints import load_checkpoint

    run_dir, _ = tiny_bow_run
    predictor = load_checkpoint(run_dir / "best")
    text = "The movie was great and the story was wonderful."
    (result,) = counterfactuals(predictor, text, n=1)
    assert predictor.predict([text])[0].label == "positive"
    assert result.flipped and result.label_after == "negative"
    assert predictor.predict([result.edited])[0].label == "negative"
    assert not result.deletions


def test_bad_requests_are_clear_errors(word_tokenizer):
    predictor = polarity_bow(word_tokenizer)
    with pytest.raises(InputError, match="from 1 to 5"):
        counterfactuals(predictor, "A good film.", n=0)
    with pytest.raises(InputError, match="Unknown target"):
        counterfactuals(predictor, "A good film.", target="neutral")
    with pytest.raises(InputError, match="empty"):
        counterfactuals(predictor, "   ")


def test_a_search_on_the_bfloat16_batch_model_reports_what_the_float32_model_says(tmp_path, monkeypatch):
    from sentiment_core.core.settings import get_settings
    from sentiment_core.inference.checkpoints import load_checkpoint
    from tests.checkpoint_helpers import bert_checkpoint

    monkeypatch.setenv("SENTIMENT_BATCH_PRECISION", "bfloat16")
    get_settings.cache_clear()
    predictor = load_checkpoint(bert_checkpoint(tmp_path / "bert"))
    assert predictor.batch_precision() == "bfloat16"
    text = "A great movie, brilliant acting and a dull plot. The story was moving and the actor was superb."
    for target in ("positive", "negative"):
        (result,) = counterfactuals(predictor, text, target=target)
        (again,) = predictor.predict([result.edited])  # float32, as the Predict page shows it
        assert result.flipped == (again.label == target and result.label_before != target)
        expected = again.probability if target == "positive" else 1 - again.probability
        assert result.probability_after == pytest.approx(expected, abs=1e-6)
