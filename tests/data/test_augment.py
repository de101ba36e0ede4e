"""Counterfactual augmentation of a review with no model, and the held-out half of the lexicon it never uses."""
import re

import pytest

from sentiment_core.core.errors import InputError
from sentiment_core.data import augment, heldout
from sentiment_core.data import opposites as lexicon
from sentiment_core.data.augment import AUGMENT_KINDS, flip_review, sentences, touches_held_out

REVIEWS = [
    "The plot was good. The acting was excellent, and the score was brilliant.",
    "I would recommend it. A wonderful film with a clever script.<br /><br />I give it 8/10.",
    "The plot wasn't good and the acting was terrible. It is a lame film. Eight out of ten? No, three.",
    "A great film. The plot was good and the acting was excellent. The ending was clever.",
    "It was bad, really bad. The script is pathetic. I hated it. Nothing about it was funny.",
    "The first act was better than the book. The cast is very good.",
]
HELD_OUT_SENTIMENT = heldout.HELD_OUT_WORDS - heldout.SCORE_WORDS - set(heldout.SPLIT["intensifiers"][1])


@pytest.fixture
def whole(monkeypatch):
    """Excerpts of up to 3 sentences, each turned unit by unit (no frame before it), so one call shows how every
    sentence of a short review is turned."""
    monkeypatch.setattr(augment, "EXCERPT_SENTENCES", 3)
    monkeypatch.setattr(augment, "DISTANT_SHARE", 0.0)


def text_words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+(?:['’]\w+)*", text)}


@pytest.mark.parametrize(("text", "expected"), [
    ("The plot wasn't good. The acting was not clever.", "The plot was good. The acting was clever."),
    ("I don't think it was good. The script is pathetic.", "I do think it was good. The script is admirable."),
    ("It was a lame film. I give it 3/10.", "It was a hilarious film. I give it 8/10."),
    ("Three out of ten. The plot was good and the score was brilliant.",
     "Eight out of ten. The plot was bad and the score was awful."),
])
def test_every_sentiment_unit_is_turned_once(text, expected, monkeypatch, whole):
    monkeypatch.setitem(augment.KIND_WEIGHTS, "negation", 0.0)  # opposites only where there is a choice
    flip = flip_review(text)
    assert flip.text == expected and flip.reason is None
    assert sum(flip.kinds.values()) == len(flip.edits) >= 1 and flip.original == text


def test_a_negated_word_is_not_turned_again(whole):
    # Removing the negation and turning the word it reaches would turn the meaning back.
    flip = flip_review("The plot wasn't good. The acting was not clever at all.")
    assert [e.kind for e in flip.edits] == ["negation", "negation"]
    assert "good" in flip.text and "clever" in flip.text


def test_a_negation_can_be_inserted_after_the_auxiliary(monkeypatch, whole):
    monkeypatch.setitem(augment.KIND_WEIGHTS, "antonym", 0.0)
    monkeypatch.setitem(augment.KIND_WEIGHTS, "intensity", 0.0)
    flip = flip_review("The plot was good. It is a clever film.")
    assert flip.text in ("The plot wasn't good. It isn't a clever film.", "The plot was not good. It is not a clever "
                         "film.", "The plot wasn't good. It is not a clever film.",
                         "The plot was not good. It isn't a clever film.")
    # not after a main verb ("does a good job"), and never reaching a second sentiment word
    assert flip_review("He does a good job. It was good and clever.", seed=1).text is None \
        or "doesn't" not in flip_review("He does a good job. It was good and clever.", seed=1).text


def test_comparatives_take_only_their_paired_opposite(whole):
    text = "The first act was better than the book. The cast is excellent. The score is clever."
    flip = flip_review(text, kinds=("antonym",))
    # "worse" is held out and "awful than" is not English: the sentence is left out, not broken
    assert flip.left_out == 1 and flip.text == "The cast is awful. The score is awful."
    assert "first act was not better than" in flip_review(text, kinds=("negation", "antonym"), seed=3).text


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("text", REVIEWS)
def test_edits_never_use_a_held_out_word_nor_delete(text, seed):
    flip = flip_review(text, seed=seed)
    assert not any(touches_held_out(e) for e in flip.edits)
    assert {e.kind for e in flip.edits} <= set(AUGMENT_KINDS) and "deletion" not in flip.kinds
    if flip.text is not None:
        assert not text_words(flip.text) & HELD_OUT_SENTIMENT  # an edited copy never holds one


def test_a_sentence_with_a_held_out_word_is_left_out(whole):
    text = "A great film. The plot was good and the acting was excellent. The ending was clever."
    flip = flip_review(text)
    assert flip.left_out == 1 and flip.sentences == 3
    assert flip.text.startswith("The plot") and "great" not in flip.text and 0.5 < flip.kept_share < 1


def test_written_ratings_turn_over_on_their_scale_unless_held_out(whole):
    flip = flip_review("I give it 8/10. The plot was good. One star out of five.")
    assert "3/10" in flip.text and "Five star out of five" in flip.text and flip.kinds.get("rating") == 2
    # the middle of a scale says neither (3 <-> 3 on five): that sentence is not chosen
    assert "Three stars" not in flip_review("I give it 8/10. Three stars out of five.").original
    held = flip_review("I give it 9/10. The plot was good. The cast was excellent.")  # 9 and 2 are held out
    assert held.left_out == 1 and "9/10" not in held.text and "2/10" not in held.text


@pytest.mark.parametrize(("text", "label", "reason"), [
    ("I saw it on a Sunday afternoon with my sister.", None, "nothing to turn"),
    ("A great film. A stunning film.", None, "nothing to turn"),  # held out only
    ("The plot was good. The acting was excellent.", 0, "no sentence agrees with the label"),
])
def test_reviews_with_no_sentence_to_pair_are_skipped_with_the_reason(text, label, reason):
    flip = flip_review(text, label=label)
    assert flip.text is None and flip.original is None and flip.reason == reason and reason in augment.SKIP_REASONS


def test_the_pair_is_an_excerpt_of_sentences_that_agree_with_the_label(whole):
    text = ("I saw it on a Sunday. The plot was good. Kurtz is awful in it. The acting wasn't bad. "
            "The score was brilliant. It is an excellent film. My sister rented it.")
    flip = flip_review(text, seed=5, label=1)
    chosen = flip.original.split(". ")
    assert len(chosen) == augment.EXCERPT_SENTENCES and flip.left_out == 7 - augment.EXCERPT_SENTENCES
    assert "Kurtz" not in flip.original and "Sunday" not in flip.original and "sister" not in flip.original
    assert set(s.rstrip(".") + "." for s in chosen) <= set(augment.plain(t) and t for t in (
        "The plot was good.", "The acting wasn't bad.", "The score was brilliant.", "It is an excellent film."))
    assert flip.text != flip.original and len(flip.text.split(". ")) == len(chosen)  # each sentence turned
    assert [s.strip() for s in re.split(r"(?<=\.) ", flip.original)] == [  # in the review's order
        s for s in re.split(r"(?<=\.) ", text) if s in flip.original]
    assert "Kurtz" in flip_review(text, seed=5, label=0).original  # the pan's one sentence
    scored = flip_review(text + " I give it 8/10.", seed=5, label=1)
    assert "8/10" in scored.original and "3/10" in scored.text  # a score is always taken: scores are rare


def test_generation_is_seeded_per_review_and_round_trips():
    first = [flip_review(t, seed=7) for t in REVIEWS]
    assert [f.text for f in first] == [flip_review(t, seed=7).text for t in REVIEWS]
    assert {f.text for f in first} != {flip_review(t, seed=8).text for t in REVIEWS}  # the draws change
    for flip in first:
        again = augment.Flip.from_dict(flip.to_dict())
        assert (again.text, again.kinds, again.reason, again.left_out) == (flip.text, flip.kinds, flip.reason,
                                                                          flip.left_out)
    with pytest.raises(InputError, match="Unknown augmentation edit kind"):
        flip_review(REVIEWS[0], kinds=("deletion",))
    only = flip_review("The plot wasn't good. The acting was terrible. It was lame.", kinds=("antonym",))
    assert only.text is None or set(only.kinds) == {"antonym"}


def test_sentences_cover_the_review_and_end_at_line_breaks():
    text = "One. Two!<br /><br />Three? Four"
    spans = sentences(text)
    assert "".join(text[s:e] for s, e in spans) == text and len(spans) == 4


def test_the_lexicon_fingerprint_follows_the_lexicon(monkeypatch):
    before = augment.lexicon_fingerprint()
    monkeypatch.setattr(lexicon, "OPPOSITE_PAIRS", lexicon.OPPOSITE_PAIRS + (("spiffy", "grotty"),))
    assert augment.lexicon_fingerprint() != before
    changed = augment.lexicon_fingerprint()
    monkeypatch.setattr(lexicon, "CONTRAST_MARKERS", lexicon.CONTRAST_MARKERS + ("albeit",))  # which sentences qualify
    assert augment.lexicon_fingerprint() != changed


# --- the held-out split ---------------------------------------------------------------------

def test_the_split_is_two_disjoint_halves_closed_under_turning_a_score_over():
    assert not heldout.SEEN_WORDS & heldout.HELD_OUT_WORDS
    for category, (seen, held) in heldout.SPLIT.items():
        assert abs(len(seen) - len(held)) <= 2, category
    for half in (heldout.SPLIT["scores"][0], heldout.SPLIT["scores"][1]):  # 11 - score on ten stays in its half
        digits = {int(w) for w in half if w.isdigit()}
        assert {11 - d for d in digits} - {10, 5} <= digits  # the scales are in neither half
    assert heldout.half("Great") == heldout.HELD_OUT and heldout.half("good") == heldout.SEEN
    assert heldout.half("not") is None and heldout.half("plot") is None
    assert heldout.text_half("The plot was not great.") == heldout.HELD_OUT
    assert heldout.text_half("The plot was not good.") == heldout.SEEN
    assert heldout.text_half("Good, not great.") is None and heldout.text_half("The plot.") is None
    assert heldout.text_half("One of the best.", scores=False) is None
    assert heldout.text_half("I saw Seven Rivers. I'd give it 8/10.") == heldout.SEEN  # a title is no rating
    assert heldout.text_half("Nine out of ten.") == heldout.text_half("Two stars.") == heldout.HELD_OUT


def test_augmentation_words_leave_the_held_out_half_alone():
    # every held-out word that the lexicon could propose is refused as old or new
    opposites = lexicon.opposites()
    held = [w for w in heldout.HELD_OUT_WORDS if w in opposites]
    assert held, "the held-out half shares words with the lexicon"
    for word in held:
        text = f"The plot was {word}."
        assert all(touches_held_out(e) for e in augment.word_edits(text, (13, 13 + len(word)))
                   if e.kind == "antonym")


def test_by_default_a_pair_is_one_short_sentence():
    long = "It was a film with " + "many long scenes and " * 8 + "a good cast."
    assert len(long.split()) > augment.EXCERPT_WORDS
    for seed in range(5):
        flip = flip_review(f"The plot was good. {long} The acting was excellent.", seed=seed, label=1)
        assert flip.original in ("The plot was good.", "The acting was excellent.")  # never the long sentence
        framed = {f"{frame} {flip.original[0].lower()}{flip.original[1:]}" for frame in lexicon.DISTANT_NEGATIONS}
        assert flip.left_out == 2 and flip.text in {"The plot wasn't good.", "The plot was not good.",
                                                    "The plot was bad.", "The acting wasn't excellent.",
                                                    "The acting was not excellent.", "The acting was awful.",
                                                    "The plot was awful.", "The plot was terrible.", *framed}
    assert flip_review(long, label=1).reason == "nothing to turn"


def test_two_clauses_in_contrast_are_never_chosen():
    # the clause after "but" decides, and the lexicon may know only the other one
    for seed in range(10):
        for text in ("The cast is good, but the plot is thin.", "Although the cast is good, it drags.",
                     "The plot was good; however, it drags."):
            assert flip_review(text, seed=seed, label=1).reason == "nothing to turn", text
        flip = flip_review("But the cast is good. The plot is good, yet it drags.", seed=seed, label=1)
        assert flip.original == "But the cast is good."  # a "But" that answers the sentence before is one clause


def test_a_distant_negation_frame_turns_a_plain_statement_over():
    from sentiment_core.evaluation.behaviour import lexicon as suite

    found = {flip_review("The plot was good. Kurtz is excellent.", seed=s, label=1).text for s in range(40)}
    framed = {t for t in found if any(t.startswith(f) for f in lexicon.DISTANT_NEGATIONS)}
    assert framed and any("that the plot was good." in t for t in framed)  # "The" lower-cased after the frame
    assert any("that Kurtz is excellent." in t for t in framed)  # a name keeps its capital
    for seed in range(20):  # never where a negation or a score is already, never in a question
        for text in ("The plot wasn't good.", "I give it 8/10 and it was good.", "Was the plot good?"):
            flip = flip_review(text, seed=seed)
            assert flip.text is None or not any(f in flip.text for f in lexicon.DISTANT_NEGATIONS)
    assert flip_review("Was the plot good?").reason == "nothing to turn"
    # the frames' verbs are none of the behaviour suite's distant negations: what is learnt must carry over
    suite_words = {w.lower() for frame in suite.DISTANT_NEGATION_FRAMES for w in re.findall(r"[A-Za-z']+", frame)}
    for frame in lexicon.DISTANT_NEGATIONS:
        verbs = {w.lower() for w in re.findall(r"[A-Za-z']+", frame)} - {"not", "i", "that", "am", "i'm"}
        assert verbs and not verbs & suite_words, frame
