import pytest
import torch
from torch import nn

from sentiment_core.modeling.heads import positive_probability
from sentiment_core.training.losses import bce, compute_loss, cross_entropy, length_weighted_bce, num_labels_for


def test_weighted_loss_matches_the_original_formula():
    logits = torch.tensor([[2.0], [-1.0], [0.5], [-3.0]])
    labels = torch.tensor([1, 0, 0, 1])
    lengths = torch.tensor([100, 50, 400, 200])
    base = nn.BCEWithLogitsLoss(reduction="none")(logits.squeeze(-1), labels.float())
    expected = (base * (lengths / lengths.max())).mean()
    assert torch.allclose(length_weighted_bce(logits, labels, lengths), expected)
    # by hand: weights 0.25, 0.125, 1.0, 0.5
    assert torch.allclose(expected, (base * torch.tensor([0.25, 0.125, 1.0, 0.5])).mean())


def test_weighted_equals_bce_when_lengths_are_equal():
    logits = torch.randn(8, 1)
    labels = torch.randint(0, 2, (8,))
    same = torch.full((8,), 37)
    assert torch.allclose(length_weighted_bce(logits, labels, same), bce(logits, labels))


def test_weighted_loss_is_smaller_than_bce_by_the_mean_weight():
    logits = torch.zeros(4, 1)  # every base loss is log 2
    labels = torch.tensor([1, 0, 1, 0])
    lengths = torch.tensor([10, 20, 30, 40])
    ratio = length_weighted_bce(logits, labels, lengths) / bce(logits, labels)
    assert ratio.item() == pytest.approx((10 + 20 + 30 + 40) / 4 / 40)


def test_cross_entropy_and_dispatch():
    logits = torch.tensor([[1.0, -1.0], [0.0, 2.0]])
    labels = torch.tensor([0, 1])
    assert torch.allclose(compute_loss("cross_entropy", logits, labels), nn.CrossEntropyLoss()(logits, labels))
    with pytest.raises(ValueError, match="needs the review lengths"):
        compute_loss("length_weighted_bce", logits[:, :1], labels)
    with pytest.raises(ValueError, match="Unknown loss 'focal'"):
        compute_loss("focal", logits, labels)
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        cross_entropy(logits[:, :1], labels)


def test_heads_and_probabilities():
    assert num_labels_for("bce") == 1 and num_labels_for("length_weighted_bce") == 1
    assert num_labels_for("cross_entropy") == 2
    assert torch.allclose(positive_probability(torch.tensor([[0.0], [100.0]])), torch.tensor([0.5, 1.0]))
    assert torch.allclose(positive_probability(torch.tensor([[0.0, 0.0]])), torch.tensor([0.5]))
