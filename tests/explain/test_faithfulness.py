import math
import re

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from sentiment_core.core.errors import InputError
from sentiment_core.explain.attribution import Explanation, WordScore, explain
from sentiment_core.explain.faithfulness import (
    CUTOFFS,
    comprehensiveness,
    deletion_curve,
    erasures,
    explain_all_methods,
    method_summary,
    rank_agreement,
    score_explanations,
    scores_frame,
    sufficiency,
    top_counts,
)
from sentiment_core.explain.methods import METHODS
from sentiment_core.inference.predictor import Encoded, Predictor
from sentiment_core.modeling import PretrainedEncoderForSequenceClassification
from tests.explain.conftest import polarity_bow


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


class LinearPredictor:
    """A stand-in model whose log-odds are sum(word weight x token weight): answers computable by hand."""

    device = "cpu"

    def __init__(self, weights: dict[str, float]):
        self.vocab = {word: index for index, word in enumerate(weights)}
        self.table = torch.tensor(list(weights.values()), dtype=torch.float32)

    def encode(self, text: str) -> Encoded:
        spans = [m.span() for m in re.finditer(r"\w+", text)]
        return Encoded(text, [self.vocab[text[s:e]] for s, e in spans], spans, [False] * len(spans),
                       total_tokens=len(spans), read_until=len(text))

    def batch_tensors(self, encoded):
        (one,) = encoded
        return torch.tensor([one.input_ids]), torch.ones(1, len(one.input_ids), dtype=torch.long)

    def positive_log_odds(self, input_ids, attention_mask, token_weights=None, model=None):
        weights = torch.ones(input_ids.shape) if token_weights is None else token_weights
        return (self.table[input_ids] * weights).sum(-1)


def hand_explanation(predictor: LinearPredictor, text: str, scores: list[float],
                     method: str = "by_hand") -> Explanation:
    """An explanation of the predicted class with the given word scores (toward it)."""
    encoded = predictor.encode(text)
    log_odds = float(predictor.positive_log_odds(*predictor.batch_tensors([encoded]))[0])
    predicted = int(log_odds >= 0)
    words = [WordScore(text[s:e], s, e, score) for (s, e), score in zip(encoded.offsets, scores)]
    return Explanation(text, method, predicted, predicted, sigmoid(log_odds), words, None,
                       log_odds if predicted else -log_odds, 0.0, False, len(text))


def test_top_counts_round_up_and_keep_at_least_one_word():
    assert top_counts(4) == [1, 1, 1, 1, 2]
    assert top_counts(100) == [1, 5, 10, 20, 50]
    assert top_counts(30) == [1, 2, 3, 6, 15]
    assert top_counts(1) == [1] * len(CUTOFFS)


def test_comprehensiveness_and_sufficiency_match_the_hand_computation():
    predictor = LinearPredictor({"great": 2.0, "good": 1.0, "the": 0.0, "bad": -1.0})
    text = "the great bad good"  # log-odds 2: positive
    explanation = hand_explanation(predictor, text, [0.0, 2.0, -1.0, 1.0])  # the true contributions
    # Top-k words for 1, 5, 10, 20, 50% of 4 words: 1, 1, 1, 1, 2 -> {great} x4, {great, good}.
    full = sigmoid(2.0)
    expected_comprehensiveness = full - (4 * sigmoid(0.0) + sigmoid(-1.0)) / 5
    expected_sufficiency = full - (4 * sigmoid(2.0) + sigmoid(3.0)) / 5
    assert comprehensiveness(predictor, explanation) == pytest.approx(expected_comprehensiveness, abs=1e-6)
    assert sufficiency(predictor, explanation) == pytest.approx(expected_sufficiency, abs=1e-6)
    (curve,) = erasures(predictor, [explanation])
    assert curve.full == pytest.approx(full) and curve.top_words == [1, 1, 1, 1, 2]


def test_the_explained_class_is_the_negative_one_for_a_negative_prediction():
    predictor = LinearPredictor({"awful": -3.0, "fine": 1.0, "plot": 0.0})
    explanation = hand_explanation(predictor, "awful fine plot", [3.0, -1.0, 0.0])  # toward negative
    assert explanation.target == 0
    # P(negative): full 1 - s(-2) = s(2); without "awful" (top 1; top 2 also drops "plot"): s(-1).
    expected = sigmoid(2.0) - (4 * sigmoid(-1.0) + sigmoid(-1.0)) / 5
    assert comprehensiveness(predictor, explanation) == pytest.approx(expected, abs=1e-6)


def test_a_random_explanation_scores_worse_than_the_true_one():
    rng = np.random.default_rng(0)
    weights = {f"w{i}": float(v) for i, v in enumerate(rng.normal(0.3, 1.0, 40))}
    predictor = LinearPredictor(weights)
    text = " ".join(weights)
    truth = hand_explanation(predictor, text, list(weights.values()))
    assert truth.predicted == 1
    randoms = [hand_explanation(predictor, text, list(rng.normal(size=40)), method=f"random{i}") for i in range(5)]
    scores = score_explanations(predictor, [truth, *randoms], compare_with_occlusion=False)
    true_score, random_scores = scores[0], scores[1:]
    assert all(true_score.comprehensiveness > r.comprehensiveness for r in random_scores)
    assert all(true_score.sufficiency < r.sufficiency for r in random_scores)
    assert true_score.comprehensiveness > 0


def test_rank_agreement_is_kendalls_tau_and_none_when_undefined():
    predictor = LinearPredictor({"a": 1.0, "b": 2.0, "c": 3.0})
    first = hand_explanation(predictor, "a b c", [1.0, 2.0, 3.0])
    assert rank_agreement(first, first) == pytest.approx(1.0)
    assert rank_agreement(first, hand_explanation(predictor, "a b c", [3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert rank_agreement(first, hand_explanation(predictor, "a b c", [1.0, 1.0, 1.0])) is None
    with pytest.raises(InputError, match="same text"):
        rank_agreement(first, hand_explanation(predictor, "c b a", [1.0, 2.0, 3.0]))


def test_occlusion_agrees_with_itself_and_every_method_is_scored(word_tokenizer):  # noqa: F811
    predictor = polarity_bow(word_tokenizer)
    results = explain_all_methods(predictor, "a good movie and a good story but a bad ending",
                                  steps={"lime": 60, "integrated_gradients": 20})
    assert [r.explanation.method for r in results] == list(METHODS)
    by_method = {r.score.method: r.score for r in results}
    assert by_method["occlusion"].tau_occlusion == pytest.approx(1.0)
    for score in by_method.values():
        assert score.seconds > 0 and score.words == 11 and score.deletion_area is None
        assert score.comprehensiveness > 0.15  # removing "good" first costs the positive prediction dearly
        assert "ms" in score.summary() and "sufficiency" in score.summary()
    summary = method_summary([r.score for r in results])
    assert list(summary["method"]) == list(METHODS) and (summary["reviews"] == 1).all()


def test_scores_reuse_given_references_and_make_occlusion_when_missing(word_tokenizer):  # noqa: F811
    predictor = polarity_bow(word_tokenizer)
    text = "good movie but bad plot and a good actor"
    (ig,) = explain(predictor, text, method="integrated_gradients", steps=20)
    (made,) = score_explanations(predictor, [ig], deletion=True)
    (occlusion,) = explain(predictor, text, method="occlusion")
    (given,) = score_explanations(predictor, [ig], reference=[occlusion])
    assert made.tau_occlusion == pytest.approx(given.tau_occlusion) and made.tau_occlusion > 0.5
    assert made.deletion_area is not None and given.deletion_area is None and given.seconds is None
    frame = scores_frame([made, given])
    assert list(frame["method"]) == ["integrated_gradients"] * 2 and frame["ms"].isna().all()


def test_special_tokens_stay_when_words_go(tiny_backbone):
    torch.manual_seed(0)
    model = PretrainedEncoderForSequenceClassification.from_backbone(tiny_backbone)
    predictor = Predictor(model, AutoTokenizer.from_pretrained(tiny_backbone), "pretrained", max_length=32)
    (explanation,) = explain(predictor, "A great movie, unbelievable acting and a dull plot.",
                             method="gradient_x_input")
    (curve,) = erasures(predictor, [explanation])
    assert curve.full == pytest.approx(max(explanation.probability, 1 - explanation.probability), abs=1e-5)
    assert all(0 <= p <= 1 for p in curve.without_top + curve.only_top)


def test_bad_arguments_are_clear_errors():
    predictor = LinearPredictor({"a": 1.0})
    explanation = hand_explanation(predictor, "a", [1.0])
    with pytest.raises(InputError, match="Cut-offs"):
        erasures(predictor, [explanation], cutoffs=[0.0, 0.5])
    with pytest.raises(InputError, match="Unknown explanation method"):
        explain_all_methods(predictor, "a", methods=["shapley"])
    with pytest.raises(InputError, match="one time"):
        score_explanations(predictor, [explanation], seconds=[], compare_with_occlusion=False)


def test_deletion_curve_beats_random_on_the_hand_built_model(word_tokenizer):
    predictor = polarity_bow(word_tokenizer)
    (explanation,) = explain(predictor, "good movie and a good story and good actor but the plot")
    curve = deletion_curve(predictor, explanation, steps=4, max_fraction=0.4)
    assert curve.fractions[0] == 0 and len(curve.attributed) == len(curve.random) == 5
    assert curve.attributed[0] == pytest.approx(explanation.probability)
    assert curve.attributed[-1] < curve.random[-1] and curve.area_between > 0
    with pytest.raises(ValueError, match="steps"):
        deletion_curve(predictor, explanation, steps=0)
