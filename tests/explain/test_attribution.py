import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from sentiment_core.core.settings import get_settings
from sentiment_core.explain.attribution import explain, explain_precision, explanation_model
from sentiment_core.explain.methods import METHODS
from sentiment_core.inference.predictor import Predictor
from sentiment_core.modeling import PretrainedEncoderForSequenceClassification
from tests.explain.conftest import polarity_bow
from tests.inference.test_predictor import random_predictor


@pytest.mark.parametrize("method", list(METHODS))
def test_hand_built_bow_gets_the_signs_right(method, word_tokenizer):
    predictor = polarity_bow(word_tokenizer)
    (explanation,) = explain(predictor, "a good movie but a bad ending", method=method, target="positive",
                             steps={"lime": 60, "gradient_shap": 20}.get(method))
    scores = {w.word: s for w, s in zip(explanation.words, explanation.positive_scores())}
    assert scores["good"] > 0 > scores["bad"], scores
    assert abs(scores["movie"]) < abs(scores["good"])


@pytest.mark.parametrize("family", ["bow", "lstm", "transformer"])
def test_integrated_gradients_is_complete(family, word_tokenizer):
    predictor = random_predictor(family, word_tokenizer)
    (explanation,) = explain(predictor, "The plot was dull, the actor was bad. A waste!", method="integrated_gradients",
                             steps=200)
    total = sum(w.score for w in explanation.words)
    assert total - explanation.delta == pytest.approx(explanation.output - explanation.baseline_output, abs=1e-6)
    assert abs(explanation.delta) < 0.05 * max(1.0, abs(explanation.output - explanation.baseline_output))


def test_integrated_gradients_is_complete_for_pretrained(tiny_backbone):
    torch.manual_seed(0)
    model = PretrainedEncoderForSequenceClassification.from_backbone(tiny_backbone)
    predictor = Predictor(model, AutoTokenizer.from_pretrained(tiny_backbone), "pretrained", max_length=32)
    (explanation,) = explain(predictor, "A great movie, unbelievable acting and a dull plot.", steps=200)
    total = sum(w.score for w in explanation.words)
    assert total - explanation.delta == pytest.approx(explanation.output - explanation.baseline_output, abs=1e-6)
    words = [w.word for w in explanation.words]
    assert "unbelievable" in words  # un ##believ ##able summed into one word
    assert "[CLS]" not in words and "[SEP]" not in words


def test_bfloat16_explanations_use_a_copy_and_stay_complete(tiny_backbone, monkeypatch):
    torch.manual_seed(0)
    model = PretrainedEncoderForSequenceClassification.from_backbone(tiny_backbone)
    predictor = Predictor(model, AutoTokenizer.from_pretrained(tiny_backbone), "pretrained", max_length=32)
    text = "A great movie, unbelievable acting and a dull plot."
    monkeypatch.setenv("SENTIMENT_EXPLAIN_PRECISION", "float32")
    get_settings.cache_clear()
    (full,) = explain(predictor, text, steps=100)
    before = predictor.predict([text])[0].probability
    monkeypatch.setenv("SENTIMENT_EXPLAIN_PRECISION", "bfloat16")
    get_settings.cache_clear()
    (half,) = explain(predictor, text, steps=100)
    copy = explanation_model(predictor)
    assert copy is not predictor.model and copy.dtype == torch.bfloat16
    assert copy.backbone.config._attn_implementation == "eager"
    assert predictor.model.dtype == torch.float32 and predictor.predict([text])[0].probability == before
    total = sum(w.score for w in half.words)
    assert total - half.delta == pytest.approx(half.output - half.baseline_output, abs=1e-5)
    assert half.predicted == full.predicted and half.probability == pytest.approx(full.probability)
    assert np.corrcoef([w.score for w in full.words], [w.score for w in half.words])[0, 1] > 0.95


def test_auto_precision_is_bfloat16_only_for_the_backbone_on_a_native_bfloat16_cpu(word_tokenizer, tiny_backbone,
                                                                                 monkeypatch):
    from sentiment_core.explain import attribution as explaining

    bow = random_predictor("bow", word_tokenizer)
    pretrained = Predictor(PretrainedEncoderForSequenceClassification.from_backbone(tiny_backbone),
                           AutoTokenizer.from_pretrained(tiny_backbone), "pretrained", max_length=32)
    for native, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(explaining, "cpu_has_native_bf16", lambda native=native: native)
        assert explain_precision(pretrained) == expected
        assert explain_precision(bow) == "float32" and explanation_model(bow) is bow.model


def test_explaining_the_other_class_flips_the_signs(word_tokenizer):
    predictor = random_predictor("transformer", word_tokenizer)
    text = "great film, loved the story"
    (mine,) = explain(predictor, text)
    (other,) = explain(predictor, text, target=1 - mine.predicted)
    assert other.target != mine.target and other.predicted == mine.predicted
    np.testing.assert_allclose([w.score for w in other.words], [-w.score for w in mine.words], atol=1e-5)
    np.testing.assert_allclose(other.positive_scores(), mine.positive_scores(), atol=1e-5)


def test_spans_point_at_the_typed_characters(word_tokenizer):
    predictor = random_predictor("bow", word_tokenizer)
    text = "<b>Great</b> movie!! great, GREAT... xyzzy &amp; the <br /><br />plot"
    (explanation,) = explain(predictor, text, method="gradient_x_input")
    for w in explanation.words:
        assert text[w.start:w.end] == w.word
    words = [w.word for w in explanation.words]
    assert words[:3] == ["Great", "movie", "!"] and words.count("great") == 1 and "GREAT" in words
    assert "xyzzy" in words  # unknown to the vocabulary, still a word with a score
    assert "b" not in words and "br" not in words  # tags are not words
    assert [w.start for w in explanation.words] == sorted(w.start for w in explanation.words)


def test_unknown_method_or_target_is_a_clear_error(word_tokenizer):
    predictor = random_predictor("bow", word_tokenizer)
    with pytest.raises(ValueError, match="Unknown explanation method 'shapley'.*integrated_gradients"):
        explain(predictor, "good", method="shapley")
    with pytest.raises(ValueError, match="Unknown target 'neutral'"):
        explain(predictor, "good", target="neutral")
    with pytest.raises(ValueError, match="no words"):
        explain(predictor, "   ")


def test_windows_are_stitched_into_one_complete_explanation(word_tokenizer):
    from tests.inference.test_predictor import LONG, random_predictor

    predictor = random_predictor("transformer", word_tokenizer).with_reading("windows")
    explanation = explain(predictor, LONG, method="integrated_gradients", steps=64)[0]
    assert (explanation.windows == len(predictor.views(LONG)) > 2
            and len(explanation.window_deltas) == explanation.windows)
    words = [m.span() for m in __import__("re").finditer(r"\w+", LONG)]
    assert {(w.start, w.end) for w in explanation.words} >= set(words)  # every word of the review is scored
    total = sum(w.score for w in explanation.words)
    assert total - explanation.delta == pytest.approx(explanation.output - explanation.baseline_output, abs=1e-4)
    assert all(abs(d) < 0.05 for d in explanation.window_deltas)  # each window complete within its delta
    assert explanation.probability == pytest.approx(predictor.predict([LONG])[0].probability, abs=1e-5)


def test_the_undecided_baseline_sits_at_even_odds_and_stays_complete(word_tokenizer):
    from tests.inference.test_predictor import random_predictor

    predictor = random_predictor("transformer", word_tokenizer)
    text = "a great movie, the actor was brilliant and the plot was wonderful"
    empty = explain(predictor, text, method="integrated_gradients", steps=64)[0]
    undecided = explain(predictor, text, method="integrated_gradients", steps=64, baseline="undecided")[0]
    if (empty.output > 0) != (empty.baseline_output > 0):  # a crossing exists: the baseline is 50/50
        assert abs(undecided.baseline_output) < 0.01
    else:
        assert (undecided.baseline_output == pytest.approx(empty.baseline_output)
                and "no undecided point" in " ".join(undecided.notes))
    total = sum(w.score for w in undecided.words)
    assert total - undecided.delta == pytest.approx(undecided.output - undecided.baseline_output, abs=1e-4)
    for method in METHODS:  # every method takes it
        assert explain(predictor, text, method=method, baseline="undecided")[0].words
    with pytest.raises(ValueError, match="Unknown baseline"):
        explain(predictor, text, baseline="zero")


def test_lime_scores_a_model_whose_outputs_move_little_and_a_flat_model_says_so(word_tokenizer):
    """Captum's default Lasso zeroed every word of a weakly trained model; the penalty now follows the spread."""
    weak = polarity_bow(word_tokenizer)
    with torch.no_grad():
        weak.model.classifier.weight.mul_(0.002)  # P(positive) moves by about 0.001 across the review's words
    (explanation,) = explain(weak, "a good movie but a bad ending", method="lime", steps=200, target="positive")
    scores = {w.word: s for w, s in zip(explanation.words, explanation.positive_scores())}
    assert scores["good"] > 0 > scores["bad"] and not any("scored 0" in note for note in explanation.notes)
    with torch.no_grad():
        weak.model.classifier.weight.zero_()  # flat: no word moves the output
    (flat,) = explain(weak, "a good movie but a bad ending", method="lime", steps=50)
    assert not any(w.score for w in flat.words) and any("Every word scored 0 with lime" in n for n in flat.notes)


def test_explanations_write_no_captum_warnings(word_tokenizer):
    import warnings

    predictor = random_predictor("transformer", word_tokenizer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for method in METHODS:
            explain(predictor, "a good film", method=method, steps={"lime": 40, "gradient_shap": 10}.get(method))
    assert not [w for w in caught if "captum" in str(w.filename)], [str(w.message) for w in caught]
