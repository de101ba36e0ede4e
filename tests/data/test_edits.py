"""Edits proposed from the lexicon: each kind on fixed sentences, spans into the typed text, applying them."""
import pytest

from sentiment_core.core.errors import InputError
from sentiment_core.data.edits import Edit, apply_edits, candidate_edits, share_changed, word_edits, words


def proposals(text: str, word: str, deletions: bool = False) -> list[Edit]:
    start = text.index(word)
    return word_edits(text, (start, start + len(word)), deletions)


def edited(text: str, word: str, deletions: bool = False) -> list[str]:
    return [apply_edits(text, [edit]) for edit in proposals(text, word, deletions)]


@pytest.mark.parametrize(("text", "word", "expected"), [
    ("The plot is good.", "is", ["The plot isn't good.", "The plot is not good."]),
    ("The plot was good.", "was", ["The plot wasn't good.", "The plot was not good."]),
    ("The actors are good.", "are", ["The actors aren't good.", "The actors are not good."]),
    ("It's a fine film.", "It's", ["It's not a fine film."]),
])
def test_negation_is_inserted_after_an_auxiliary(text, word, expected):
    assert edited(text, word) == expected
    assert {e.kind for e in proposals(text, word)} == {"negation"}


@pytest.mark.parametrize(("text", "word", "expected"), [
    ("The plot isn't good.", "isn't", "The plot is good."),
    ("I didn't like it.", "didn't", "I did like it."),
    ("The plot was not good.", "not", "The plot was good."),
    ("It was never dull.", "never", "It was always dull."),
    ("It had no redeeming qualities.", "no", "It had some redeeming qualities."),
])
def test_negation_is_removed(text, word, expected):
    assert edited(text, word)[0] == expected


def test_an_auxiliary_already_negated_gets_no_second_negation():
    assert not [e for e in proposals("It was not good.", "was") if e.kind == "negation"]
    assert not proposals("It's not good.", "It's")


@pytest.mark.parametrize(("text", "word", "expected"), [
    ("A good film, really.", "good", "A bad film, really."),
    ("Good acting!", "Good", "Bad acting!"),
    ("GREAT acting!!", "GREAT", "TERRIBLE acting!!"),
    ("I loved it.", "loved", "I hated it."),
    ("A boring, tedious mess.", "boring", "An amazing, tedious mess."),
    ("A masterpiece.", "masterpiece", "A disaster."),
])
def test_antonyms_keep_case_and_punctuation(text, word, expected):
    assert edited(text, word)[0] == expected  # the paired opposite first, then the strongest of the other side
    assert {e.kind for e in proposals(text, word)} == {"antonym"}


def test_a_word_may_take_a_strong_opposite_and_its_article_follows():
    assert edited("A fine score.", "fine") == ["A poor score.", "An awful score.", "A terrible score."]
    assert edited("an awful plot", "awful") == ["an excellent plot", "a brilliant plot"]


def test_opposites_by_form_need_the_word_in_the_vocabulary():
    text = "A careful, imaginative film."
    start = text.index("careful")
    (edit,) = word_edits(text, (start, start + 7), vocabulary={"careless"})
    assert (edit.new, edit.kind) == ("careless", "antonym")
    assert word_edits(text, (start, start + 7)) == []  # not a word the model knows: no proposal
    start = text.index("imaginative")
    assert [e.new for e in word_edits(text, (start, start + 11), vocabulary={"unimaginative"})] == ["unimaginative"]


def test_ratings_intensity_and_deletions():
    assert edited("I give it 8/10.", "8") == ["I give it 3/10."]
    assert edited("Rated 4 out of 5.", "4") == ["Rated 2 out of 5."]
    assert edited("It was very good.", "very") == ["It was hardly good."]
    assert edited("It was very.", "very") == []  # an intensifier of nothing
    assert proposals("The movie.", "movie") == []  # a deletion only when asked, and only where nothing else fits
    (deletion,) = proposals("The movie.", "movie", deletions=True)
    assert (deletion.kind, apply_edits("The movie.", [deletion])) == ("deletion", "The.")
    assert {e.kind for e in proposals("A good movie.", "good", deletions=True)} == {"antonym"}


def test_spans_point_at_the_typed_characters():
    text = "Wow!!  The film <br /><br />WAS   not good,  and it’s very dull... 2/10"
    for (start, end), edits in candidate_edits(text).items():
        for edit in edits:
            assert text[edit.start:edit.end] == edit.old
            assert edit.start <= start and edit.end == end
    short = "isn't 8/10"
    assert [short[s:e] for s, e in words(short)] == ["isn't", "8", "10"]


def test_applying_edits_checks_them():
    text = "The film was good."
    good = Edit(13, 17, "good", "bad", "antonym")
    assert apply_edits(text, [good]) == "The film was bad."
    with pytest.raises(InputError, match="overlap"):
        apply_edits(text, [good, Edit(13, 17, "good", "great", "antonym")])
    with pytest.raises(InputError, match="expects 'film'"):
        apply_edits(text, [Edit(0, 3, "film", "x", "antonym")])


def test_share_changed_counts_words_like_an_edit_distance():
    text = "The film was good and the plot was fine."  # 9 words
    assert share_changed(text, [Edit(9, 12, "was", "was not", "negation")]) == pytest.approx(1 / 9)
    assert share_changed(text, [Edit(13, 17, "good", "bad", "antonym"),
                                Edit(9, 12, "was", "wasn't", "negation")]) == pytest.approx(2 / 9)
    assert share_changed(text, []) == 0
