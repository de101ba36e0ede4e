"""Tokens summed into the words of the text as typed."""

from sentiment_core.explain.words import word_groups
from sentiment_core.inference.predictor import Encoded


def test_word_groups_sum_word_pieces_into_words():
    text = "unbelievable, really"
    encoded = Encoded(text, [2, 10, 11, 12, 5, 13, 3], [(0, 0), (0, 2), (2, 8), (8, 12), (12, 13), (14, 20), (0, 0)],
                      [True, False, False, False, False, False, True], total_tokens=5, read_until=len(text))
    spans, token_word = word_groups(encoded)
    assert [text[s:e] for s, e in spans] == ["unbelievable", ",", "really"]
    assert token_word.tolist() == [-1, 0, 0, 0, 1, 2, -1]
