import math

import pytest
import torch

from sentiment_core.core.errors import LabelMappingError, ModelSourceError
from sentiment_core.inference.labels import (
    LabelMap,
    default_label_map,
    infer_label_map,
    model_labels,
    parse_label_spec,
    resolve_label_map,
)

STARS = ("1 star", "2 stars", "3 stars", "4 stars", "5 stars")


@pytest.mark.parametrize("names, weights", [
    (("NEGATIVE", "POSITIVE"), (0.0, 1.0)),
    (("POSITIVE", "NEGATIVE"), (1.0, 0.0)),  # whatever order the model has them in
    (("LABEL_0", "LABEL_1"), (0.0, 1.0)),
    (("neg", "pos"), (0.0, 1.0)),
    (("Negative", "Neutral", "Positive"), (0.0, 0.5, 1.0)),
    (("positive", "negative", "neutral"), (1.0, 0.0, 0.5)),
    (STARS, (0.0, 0.0, 0.5, 1.0, 1.0)),
    (("1 STAR", "2 STARS", "3 STARS", "4 STARS"), (0.0, 0.0, 1.0, 1.0)),  # even: no middle star
    (("positive",), (1.0,)),  # one output: the logit of positive
])
def test_labels_are_inferred_from_their_names(names, weights):
    assert infer_label_map(names) == LabelMap(names, weights)


@pytest.mark.parametrize("names", [("LABEL_0", "LABEL_1", "LABEL_2"), ("joy", "anger"), ("negative", "negative"),
                                   ("1 star", "3 stars")])
def test_labels_that_cannot_be_inferred_say_how_to_map_them(names):
    with pytest.raises(ModelSourceError) as error:
        infer_label_map(names)
    message = str(error.value)
    assert all(f"{i}={n}" in message for i, n in enumerate(names)), message  # the model's labels, listed
    assert "--labels" in message and "0=negative" in message


def test_positive_log_odds_is_logit_of_p_positive_for_any_mapping():
    torch.manual_seed(0)
    logits = torch.randn(6, 5)
    stars = infer_label_map(STARS)
    p = logits.softmax(-1)
    p_positive = p[:, 3] + p[:, 4] + p[:, 2] / 2
    torch.testing.assert_close(stars.positive_log_odds(logits), torch.log(p_positive / (1 - p_positive)))
    two = default_label_map(2)
    pair = logits[:, :2]
    assert torch.equal(two.positive_log_odds(pair), pair[:, 1] - pair[:, 0])  # exactly, as before
    assert torch.equal(default_label_map(1).positive_log_odds(logits[:, :1]), logits[:, 0])
    torch.testing.assert_close(infer_label_map(("POSITIVE", "NEGATIVE")).positive_log_odds(pair),
                               pair[:, 0] - pair[:, 1])


def test_neutral_splits_equally_so_the_decision_is_pos_against_neg():
    three = infer_label_map(("negative", "neutral", "positive"))
    logits = torch.log(torch.tensor([[0.2, 0.6, 0.2], [0.1, 0.8, 0.1 + 1e-3], [0.3, 0.1, 0.6]]))
    probability = torch.sigmoid(three.positive_log_odds(logits))
    torch.testing.assert_close(probability, torch.tensor([0.5, 0.5005, 0.65]), atol=1e-4, rtol=0)
    assert three.describe() == "P(positive) = 0.5 x P(neutral) + P(positive)"


def test_class_probabilities_cover_every_class():
    logits = torch.tensor([[0.0, 1.0, 2.0]])
    three = infer_label_map(("negative", "neutral", "positive"))
    assert three.class_names == ("negative", "neutral", "positive")
    assert float(three.class_probabilities(logits).sum()) == pytest.approx(1.0)
    single = default_label_map(1)
    assert single.class_names == ("negative", "positive")
    torch.testing.assert_close(single.class_probabilities(torch.tensor([[0.0]])), torch.tensor([[0.5, 0.5]]))


@pytest.mark.parametrize("spec, weights", [
    ("negative,neutral,positive", (0.0, 0.5, 1.0)),
    ("0=negative, 1=neutral, 2=positive", (0.0, 0.5, 1.0)),
    ("label_2=positive,LABEL_1=neutral,label_0=negative", (0.0, 0.5, 1.0)),  # names, any case, any order
    ("neg,0.25,pos", (0.0, 0.25, 1.0)),  # a weight counted as positive
])
def test_a_user_mapping_in_every_form(spec, weights):
    names = ("LABEL_0", "LABEL_1", "LABEL_2")
    assert parse_label_spec(spec, names) == LabelMap(names, weights)
    assert parse_label_spec(parse_label_spec(spec, names).spec(), names).weights == weights  # spec() round-trips


def test_a_star_mapping_by_name():
    spec = "1 star=negative,2 stars=negative,3 stars=0.5,4 stars=positive,5 stars=positive"
    assert parse_label_spec(spec, STARS).weights == (0.0, 0.0, 0.5, 1.0, 1.0)


@pytest.mark.parametrize("spec, problem", [
    ("negative,positive", "gives 2 values for the model's 3 classes"),
    ("0=negative,2=positive", "leaves out 1=LABEL_1"),
    ("0=negative,1=negative,1=positive,2=positive", "given twice"),
    ("0=negative,5=positive,1=neutral", "'5' is neither a class index"),
    ("negative,happy,positive", "'happy' is not negative, neutral, positive or a weight"),
    ("negative,1.5,positive", "'1.5' is not"),
    ("neutral,neutral,neutral", "one class must lean negative and one positive"),
    ("negative,,positive", "empty"),
])
def test_a_bad_user_mapping_says_what_is_wrong_and_how_to_write_it(spec, problem):
    with pytest.raises(ModelSourceError) as error:
        parse_label_spec(spec, ("LABEL_0", "LABEL_1", "LABEL_2"))
    message = str(error.value)
    assert problem in message and "0=LABEL_0, 1=LABEL_1, 2=LABEL_2" in message and "--labels" in message


def test_resolve_prefers_the_user_mapping_and_names_default_to_label_k():
    names = model_labels({"0": "bad", 1: "good"}, 3)
    assert names == ("bad", "good", "LABEL_2")
    assert resolve_label_map(names, "0=negative,1=positive,2=neutral").weights == (0.0, 1.0, 0.5)
    assert resolve_label_map(("NEGATIVE", "POSITIVE"), None).weights == (0.0, 1.0)
    assert resolve_label_map(("NEGATIVE", "POSITIVE"), "  ").weights == (0.0, 1.0)
    assert math.isclose(float(torch.sigmoid(infer_label_map(STARS).positive_log_odds(torch.zeros(1, 5)))), 0.5)


def test_a_single_output_model_needs_no_mapping_and_is_not_offered_one():
    with pytest.raises(LabelMappingError, match="single output.*leave --labels out") as raised:
        parse_label_spec("negative,positive", ["LABEL_0"])
    assert "--labels \"" not in str(raised.value)  # no example to copy that would be refused the same way


def test_a_runs_bad_mapping_is_reported_as_the_mapping_not_as_a_corrupted_run(tiny_bow_run):
    from sentiment_core.inference.sources import load_run

    with pytest.raises(LabelMappingError, match="nothing to map") as raised:
        load_run("tiny-bow", labels="negative,positive")
    assert "corrupted" not in str(raised.value)
