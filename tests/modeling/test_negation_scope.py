"""Negation scope: from a cue to the clause's end; bow turns the words in it by one factor, the transformer by two
vectors, both shared by every word; off (and absent from the weights) unless the config names the cues."""
import pytest
import torch

from sentiment_core.modeling import build_model
from sentiment_core.modeling.negation_scope import negation_scope

CUE, OTHER_CUE, END, PAD = 3, 4, 5, 0
GOOD, BAD, FILM = 6, 7, 8
SCOPES = dict(negation_cue_ids=[CUE, OTHER_CUE], scope_end_ids=[END])


def test_scope_runs_from_a_cue_to_the_next_end():
    ids = torch.tensor([[FILM, CUE, FILM, GOOD, END, BAD, OTHER_CUE, BAD, CUE, GOOD, END, END],
                        [CUE, END, GOOD, CUE, CUE, BAD, PAD, PAD, PAD, PAD, PAD, PAD],
                        [END] * 12])
    scope = negation_scope(ids, [CUE, OTHER_CUE], [END])
    assert scope[0].tolist() == [False, False, True, True, False, False, False, True, False, True, False, False]
    assert scope[1, :6].tolist() == [False, False, False, False, False, True]  # a cue is never in scope itself
    assert not scope[2].any()


def bow(**overrides):
    torch.manual_seed(0)
    options = dict(vocab_size=10, embed_dim=4, bigram_buckets=0, nb_weighting=False, item_dropout=0.0, sparse=False)
    return build_model("bow", **{**options, **overrides}).eval()


def test_bow_weighs_every_word_in_scope_by_one_factor():
    ids = torch.tensor([[FILM, CUE, GOOD, END, BAD]])
    plain, scoped = bow(), bow(**SCOPES)
    assert not any("negation" in name for name, _ in plain.named_parameters())  # a run saved before scopes
    scoped.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        scoped.negation_factor.fill_(-1.0)
        turned = plain(ids, token_weights=torch.tensor([[1.0, 1.0, -1.0, 1.0, 1.0]])).logits
        torch.testing.assert_close(scoped(ids).logits, turned)
        scoped.negation_factor.fill_(1.0)
        torch.testing.assert_close(scoped(ids).logits, plain(ids).logits)


def transformer(**overrides):
    torch.manual_seed(0)
    return build_model("transformer", vocab_size=10, d_model=8, nhead=2, dim_feedforward=16, num_layers=1,
                       max_position_embeddings=16, **overrides).eval()


def test_transformer_scales_and_shifts_the_words_in_scope():
    plain, scoped = transformer(), transformer(**SCOPES)
    assert not any("scope" in name for name, _ in plain.named_parameters())
    scoped.load_state_dict(plain.state_dict(), strict=False)
    negated, unnegated = torch.tensor([[FILM, CUE, GOOD, END]]), torch.tensor([[FILM, GOOD, GOOD, END]])
    with torch.no_grad():
        torch.testing.assert_close(scoped(negated).logits, plain(negated).logits)  # both vectors start at 0
        scoped.scope_scale.fill_(-2.0)
        scoped.scope_shift.fill_(0.5)
        assert not torch.allclose(scoped(negated).logits, plain(negated).logits)
        torch.testing.assert_close(scoped(unnegated).logits, plain(unnegated).logits)


@pytest.mark.parametrize("family", ["bow", "transformer"])
def test_exports_with_scopes_for_every_batch_and_length(family):
    model = bow(**SCOPES) if family == "bow" else transformer(**SCOPES)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() < 2 and parameter.requires_grad:
                parameter.add_(0.3)  # scopes that change the output
    ids = torch.tensor([[FILM, CUE, GOOD, END, BAD, PAD], [CUE, BAD, BAD, GOOD, END, CUE]])
    batch, length = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("length", min=2, max=16)
    program = torch.export.export(model, (ids, ids.ne(PAD)), dynamic_shapes=({0: batch, 1: length},) * 2)
    with torch.no_grad():
        for inputs in (ids, ids[:, :4], torch.cat([ids, ids], dim=1)):
            torch.testing.assert_close(program.module()(inputs, inputs.ne(PAD)).logits, model(inputs).logits,
                                       atol=1e-5, rtol=0)
