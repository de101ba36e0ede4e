import random

import pytest
import torch

from sentiment_core.modeling import BowConfig, BowForSequenceClassification

VOCAB = 40  # 0 = pad, 1 = unk, then cue words and neutral words
POSITIVE, NEGATIVE, NEUTRAL = range(2, 7), range(7, 12), range(12, 40)


def make_task(n: int = 64, seed: int = 0, max_len: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids whose label says whether the cue words are positive or negative."""
    rng = random.Random(seed)
    ids = torch.zeros(n, max_len, dtype=torch.long)
    labels = torch.arange(n) % 2
    for row, label in enumerate(labels.tolist()):
        tokens = [rng.choice(NEUTRAL) for _ in range(rng.randint(3, max_len - 3))]
        for _ in range(rng.randint(1, 3)):
            tokens.insert(rng.randrange(len(tokens) + 1), rng.choice(POSITIVE if label else NEGATIVE))
        ids[row, : len(tokens)] = torch.tensor(tokens)
    return ids, labels


def tiny(**overrides) -> BowForSequenceClassification:
    torch.manual_seed(0)
    options = dict(vocab_size=VOCAB, embed_dim=16, bigram_buckets=97, hidden_sizes=(16,), dropout=0.1)
    return BowForSequenceClassification(BowConfig(**{**options, **overrides}))


def test_config_defaults():
    config = BowConfig()
    assert config.model_type == "sentiment-bow"
    assert (config.num_labels, config.pad_token_id, config.embed_dim) == (1, 0, 32)
    assert (config.bigram_buckets, config.hidden_sizes, config.sparse) == (262_144, [], True)
    assert (config.item_dropout, config.nb_weighting) == (0.5, True)


def test_naive_bayes_item_weights_point_the_right_way():
    ids, labels = make_task(n=200)
    model = tiny(bigram_buckets=0)
    model.fit_item_weights([ids[:100], ids[100:]], [labels[:100], labels[100:]])
    weights = model.item_weights
    assert (weights[list(POSITIVE)] > 0.5).all() and (weights[list(NEGATIVE)] < -0.5).all()
    assert weights[list(NEUTRAL)].abs().max() < weights[list(POSITIVE)].min()
    assert weights[0] == 0  # padding


def test_a_repeated_word_counts_once():
    model = tiny(bigram_buckets=0).eval()
    once = torch.tensor([[2, 12, 13, 0, 0]])
    twice = torch.tensor([[2, 12, 13, 2, 2]])
    with torch.no_grad():
        assert torch.allclose(model(once).logits, model(twice).logits, atol=1e-6)


def test_item_dropout_only_in_training():
    ids, _ = make_task(n=8)
    model = tiny(item_dropout=0.5).eval()
    with torch.no_grad():
        assert torch.equal(model(ids).logits, model(ids).logits)
    model.train()
    torch.manual_seed(1)
    with torch.no_grad():
        a, b = model(ids).logits, model(ids).logits
    assert not torch.allclose(a, b)


def test_item_weights_are_saved(tmp_path):
    ids, labels = make_task()
    model = tiny()
    model.fit_item_weights([ids], [labels])
    model.save_pretrained(tmp_path)
    loaded = BowForSequenceClassification.from_pretrained(tmp_path)
    assert torch.equal(loaded.item_weights, model.item_weights)


@pytest.mark.parametrize("num_labels", [1, 2])
def test_trains_with_sparse_adam(num_labels):
    ids, labels = make_task()
    model = tiny(num_labels=num_labels)
    sparse_params = [model.get_input_embeddings().weight]
    dense_params = [p for p in model.parameters() if p is not sparse_params[0]]
    optimizers = [torch.optim.SparseAdam(sparse_params, lr=0.05), torch.optim.Adam(dense_params, lr=0.01)]
    model.eval()
    with torch.no_grad():
        before = model(ids, labels=labels).loss.item()
    model.train()
    for step in range(40):
        batch = slice(16 * (step % 4), 16 * (step % 4 + 1))
        loss = model(ids[batch], labels=labels[batch]).loss
        for optimizer in optimizers:
            optimizer.zero_grad()
        loss.backward()
        assert model.get_input_embeddings().weight.grad.is_sparse
        for optimizer in optimizers:
            optimizer.step()
    model.eval()
    with torch.no_grad():
        after = model(ids, labels=labels)
    assert after.logits.shape == (64, num_labels)
    assert after.loss.item() < 0.5 * before, (before, after.loss.item())


def test_dense_table_trains_with_adam():
    ids, labels = make_task()
    model = tiny(sparse=False, bigram_buckets=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(30):
        loss = model(ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        assert not model.get_input_embeddings().weight.grad.is_sparse
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_without_labels_loss_is_none():
    ids, _ = make_task(8)
    output = tiny().eval()(ids)
    assert output.loss is None and output.logits.shape == (8, 1)


def test_padding_does_not_change_logits():
    ids, _ = make_task(8)
    model = tiny().eval()
    padded = torch.cat([ids, torch.zeros(8, 9, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded).logits, model(ids).logits, atol=1e-5, rtol=0)
    mask = ids.ne(0)  # an explicit mask that agrees gives the same output too
    torch.testing.assert_close(model(ids, attention_mask=mask).logits, model(ids).logits, atol=1e-6, rtol=0)


def test_all_padding_row_gives_finite_logits():
    ids = torch.zeros(2, 5, dtype=torch.long)
    ids[1, :2] = torch.tensor([3, 4])
    assert torch.isfinite(tiny().eval()(ids).logits).all()


def test_token_weights_default_and_gradient():
    ids, _ = make_task(8)
    model = tiny().eval()
    ones = torch.ones(ids.shape)  # padding is masked out whatever its weight
    torch.testing.assert_close(model(ids, token_weights=ones).logits, model(ids).logits)
    weights = ids.ne(0).float().requires_grad_()
    model(ids, token_weights=weights).logits.sum().backward()
    assert weights.grad is not None and weights.grad[ids.ne(0)].abs().sum() > 0
    assert weights.grad[ids.eq(0)].abs().sum() == 0  # padding gets no attribution


def test_zero_weights_give_the_empty_bag():
    ids, _ = make_task(4)
    model = tiny().eval()
    empty = model(torch.zeros_like(ids)).logits
    torch.testing.assert_close(model(ids, token_weights=torch.zeros(ids.shape)).logits, empty)


def test_bigrams_disabled():
    ids, labels = make_task(8)
    model = tiny(bigram_buckets=0).eval()
    assert model.get_input_embeddings().num_embeddings == VOCAB
    output = model(ids, labels=labels)
    assert output.logits.shape == (8, 1) and torch.isfinite(output.loss)


def test_bigrams_change_the_output_of_word_order():
    model = tiny().eval()
    forward = torch.tensor([[12, 13, 14, 3]])
    backward = torch.tensor([[3, 14, 13, 12]])
    assert not torch.allclose(model(forward).logits, model(backward).logits)
    unigram = tiny(bigram_buckets=0).eval()
    torch.testing.assert_close(unigram(forward).logits, unigram(backward).logits)


def test_no_hidden_layers():
    ids, labels = make_task(8)
    output = tiny(hidden_sizes=()).eval()(ids, labels=labels)
    assert output.logits.shape == (8, 1)


def test_save_and_load_round_trip(tmp_path):
    ids, labels = make_task(8)
    model = tiny(num_labels=2)
    model.train()
    model(ids, labels=labels).loss.backward()  # moves the BatchNorm running statistics
    model.eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = BowForSequenceClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.num_labels == 2 and loaded.config.hidden_sizes == [16]
    for (name, value), (_, loaded_value) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(value, loaded_value), name
    torch.testing.assert_close(loaded(ids).logits, model(ids).logits, atol=1e-6, rtol=0)


def test_bad_config_raises():
    with pytest.raises(ValueError, match="bigram_buckets"):
        BowConfig(bigram_buckets=-1)
