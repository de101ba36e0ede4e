"""Word dropout: a share of the tokens zeroed in training only, never the ids it is told to keep."""
import pytest
import torch

from sentiment_core.modeling import build_model
from sentiment_core.modeling.token_dropout import drop_tokens


def test_tokens_are_dropped_in_training_only_and_kept_ids_never():
    torch.manual_seed(0)
    input_ids = torch.randint(0, 10, (64, 50))
    embedded = torch.ones(64, 50, 4)
    assert torch.equal(drop_tokens(embedded, input_ids, 0.5, training=False), embedded)
    dropped = drop_tokens(embedded, input_ids, 0.5, training=True)
    assert 0.4 < (dropped[..., 0] == 0).float().mean() < 0.6
    kept = drop_tokens(embedded, input_ids, 0.5, training=True, keep_ids=[3, 7])
    protected = (input_ids == 3) | (input_ids == 7)
    assert bool((kept[protected] == 1).all()) and bool((kept[~protected][..., 0] == 0).any())


@pytest.mark.parametrize("family", ["transformer", "lstm"])
def test_the_families_pass_the_ids_their_config_keeps(family, monkeypatch):
    import importlib

    module = importlib.import_module(f"sentiment_core.modeling.{family}")
    calls = []
    monkeypatch.setattr(module, "drop_tokens", lambda embedded, ids, rate, training, keep: calls.append(
        (rate, training, keep)) or embedded)
    model = build_model(family, vocab_size=20, num_labels=1, pad_token_id=0, token_dropout=0.3, token_dropout_keep=[5])
    model.train()
    model(torch.tensor([[5, 6, 5, 6]]))
    assert calls == [(0.3, True, [5])] and model.config.to_dict()["token_dropout_keep"] == [5]
