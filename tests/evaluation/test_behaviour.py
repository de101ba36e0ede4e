import difflib
import json
import math
import re
import time
from dataclasses import dataclass

import pytest

from sentiment_core.core import runs
from sentiment_core.core.errors import InputError
from sentiment_core.evaluation import behaviour
from sentiment_core.evaluation.behaviour import lexicon as lx
from sentiment_core.evaluation.behaviour.suite import BR, NOT_HIGHER, NOT_LOWER, SAME_LABEL

SMALL = 40  # cases per test in most tests here: every template still shows up, and it is fast

POSITIVE_WORDS = set(lx.POSITIVE_ADJECTIVES) | set(lx.POSITIVE_VERBS) | set(lx.POSITIVE_VERBS.values())
NEGATIVE_WORDS = set(lx.NEGATIVE_ADJECTIVES) | set(lx.NEGATIVE_VERBS) | set(lx.NEGATIVE_VERBS.values())
NEGATORS = re.compile(r"\b(?:not|never|nothing|nobody|neither|no)\b|n't\b", re.IGNORECASE)
FIRST_NAMES = {first: key for key, names in lx.FIRST_NAMES.items() for first in names}  # -> (origin, gender)
FAMILY_NAMES = {family: origin for origin, names in lx.FAMILY_NAMES.items() for family in names}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())


def polarity_words(text: str) -> tuple[set, set]:
    found = set(words(text))
    return found & POSITIVE_WORDS, found & NEGATIVE_WORDS


@dataclass
class Answer:
    probability: float
    label: str


class WordPolarity:
    """A model that knows only word polarity: P(positive) = sigmoid(2 * (positive - negative words))."""

    name = "word-polarity"

    def __init__(self):
        self.calls: list[list[str]] = []

    def predict(self, texts, batch_size=64, progress=None):
        self.calls.append(list(texts))
        answers = []
        for start in range(0, len(texts), batch_size):
            for text in texts[start:start + batch_size]:
                positive, negative = (sum(w in group for w in words(text))
                                      for group in (POSITIVE_WORDS, NEGATIVE_WORDS))
                probability = 1 / (1 + math.exp(-2 * (positive - negative)))
                answers.append(Answer(probability, "positive" if probability >= 0.5 else "negative"))
            if progress:
                progress(min(start + batch_size, len(texts)), len(texts))
        return answers


class MustNotPredict:
    def predict(self, texts, batch_size=64, progress=None):
        raise AssertionError("the cache should have answered")


def suite_by_name(cases_per_test=SMALL):
    return {t.name: t for t in behaviour.build_suite(0, cases_per_test)}


# --- the suite -------------------------------------------------------------------------------

def test_the_suite_is_deterministic_for_a_seed():
    build = behaviour.build_suite.__wrapped__  # past the cache: generate twice
    first, again, other = build(0, SMALL), build(0, SMALL), build(1, SMALL)
    assert first == again
    assert [c.text for t in first for c in t.cases] != [c.text for t in other for c in t.cases]


def test_the_suite_has_a_few_thousand_cases_of_every_type():
    suite = behaviour.build_suite()
    assert len({t.name for t in suite}) == len(suite) == len(behaviour.TEST_NAMES)
    assert {t.type for t in suite} == {behaviour.MFT, behaviour.INV, behaviour.DIR}
    assert all(len(t.cases) == behaviour.CASES_PER_TEST for t in suite)
    assert 2_000 <= sum(len(t.cases) for t in suite) <= 6_000
    for test in suite:
        assert test.description and "\n" not in test.description
        assert len({c.text for c in test.cases}) == len(test.cases)  # no duplicate case


def test_plain_and_intensity_cases_carry_the_polarity_they_expect():
    suite = suite_by_name()
    for name in ("positive_words", "negative_words", "intensifiers", "downtoners"):
        for case in suite[name].cases:
            positive, negative = polarity_words(case.text)
            assert (positive and not negative) if case.expected == "positive" else (negative and not positive), case
            assert not NEGATORS.search(case.text), case
    modifiers = {m for m in lx.INTENSIFIERS + lx.VERB_INTENSIFIERS}
    downtoners = set(lx.POSITIVE_DOWNTONERS + lx.NEGATIVE_DOWNTONERS)
    assert all(any(f" {m} " in c.text for m in modifiers) for c in suite["intensifiers"].cases)
    assert all(any(f" {m} " in c.text for m in downtoners) for c in suite["downtoners"].cases)


def test_negation_cases_negate_a_word_of_the_other_polarity():
    suite = suite_by_name()
    for case in suite["negated_positive"].cases:
        assert NEGATORS.search(case.text) and polarity_words(case.text)[0] and case.expected == "negative", case
    for case in suite["negated_negative"].cases:
        assert NEGATORS.search(case.text) and polarity_words(case.text)[1] and case.expected == "not negative", case
    expectations = set()
    for case in suite["negation_at_distance"].cases:
        positive, negative = polarity_words(case.text)
        assert NEGATORS.search(case.text), case
        assert case.expected == ("negative" if positive and not negative else "not negative"), case
        negator = NEGATORS.search(case.text).end()
        assert len(words(case.text[negator:])) >= 4, case  # at a distance: words between negator and opinion
        expectations.add(case.expected)
    assert expectations == {"negative", "not negative"}


def test_contrast_cases_are_decided_by_the_clause_after_the_marker():
    for case in suite_by_name()["contrast"].cases:
        text = case.text
        if text.startswith("Although"):
            decisive = text.split(", ", 1)[1]
        else:
            decisive = re.split(r", but |; however, |, yet |\. Still, ", text, maxsplit=1)[1]
        positive, negative = polarity_words(decisive)
        assert (positive and not negative) if case.expected == "positive" else (negative and not positive), case


def test_rating_and_comparison_cases_say_what_they_expect():
    suite = suite_by_name()
    for case in suite["rating_digits"].cases:
        score = int(re.search(r"(\d+)(?:/| out of)", case.text).group(1))
        assert (score >= 8) == (case.expected == "positive") and (score <= 3) == (case.expected == "negative"), case
    for case in suite["rating_words"].cases:
        lowered = case.text.lower()
        score = next(n for n, word in enumerate(lx.NUMBER_WORDS)
                     if re.search(rf"\b{word} (out of ten|stars?)", lowered))
        high = 8 if "out of ten" in lowered else 4
        assert (score >= high) == (case.expected == "positive"), case
    for case in suite["comparisons"].cases:
        better = re.search(r"better|more enjoyable|stronger", case.text)
        worse = re.search(r"worse|not as good|nowhere near|less enjoyable|weaker", case.text, re.IGNORECASE)
        assert bool(better) != bool(worse) and (case.expected == "positive") == bool(better), case


def _one_edit(a: str, b: str) -> bool:
    """b is a with two neighbouring letters swapped, one letter dropped or one doubled."""
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    if len(b) == len(a) - 1:
        return any(a[:i] + a[i + 1:] == b for i in range(len(a)))
    if len(b) == len(a) + 1:
        return any(b[:i] + b[i + 1:] == a and b[i] == b[i - 1 if i else 1] for i in range(len(b)))
    return False


def _changed_span(original: str, text: str) -> tuple[str, str]:
    """The one run of words that differs between the two texts."""
    a, b = original.split(), text.split()
    changes = [op for op in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes() if op[0] != "equal"]
    assert len(changes) == 1, (original, text)
    _, i1, i2, j1, j2 = changes[0]
    return " ".join(a[i1:i2]), " ".join(b[j1:j2])


def _name(span: str) -> tuple[str, str] | None:
    tokens = re.sub(r"(?:'s)?[.,;]?$", "", span).split()
    return tuple(tokens) if len(tokens) == 2 and tokens[0] in FIRST_NAMES and tokens[1] in FAMILY_NAMES else None


def test_invariance_cases_change_only_what_they_say():
    suite = suite_by_name()
    for case in suite["typos"].cases:
        a, b = case.original.split(" "), case.text.split(" ")
        changed = [(x, y) for x, y in zip(a, b) if x != y]
        assert len(a) == len(b) and len(changed) == 1 and _one_edit(*changed[0]), case
    for case in suite["punctuation_case"].cases:
        assert words(case.text) == words(case.original) and case.text != case.original, case
    for case in suite["br_tags"].cases:
        assert BR in case.text and " ".join(case.text.replace(BR, " ").split()) == case.original, case
    neutral = {re.sub(r"\{\w+\}", "", s) for s in lx.NEUTRAL_SENTENCES}
    for case in suite["neutral_sentence"].cases:
        added = case.text.replace(case.original, "").strip()
        assert case.text in (f"{added} {case.original}", f"{case.original} {added}"), case
        assert re.sub(r"Lisbon|Chicago|Lagos|Mumbai|Seoul|Toronto|Cairo|Oslo|Lima|Melbourne|\d{4}", "",
                      added) in neutral
        assert polarity_words(added) == (set(), set())
    for case in suite["change_names"].cases:
        old, new = _changed_span(case.original, case.text)
        old_name, new_name = _name(old), _name(new)
        if old_name:  # a person: same gender and origin, another name
            assert new_name and old_name != new_name and FIRST_NAMES[old_name[0]] == FIRST_NAMES[new_name[0]], case
        else:  # a film title
            assert any(t in case.original for t in lx.FILM_TITLES) and any(t in case.text for t in lx.FILM_TITLES), case
    for case in suite["name_gender"].cases:
        old, new = _changed_span(case.original, case.text)
        (origin, gender), (new_origin, new_gender) = FIRST_NAMES[old], FIRST_NAMES[new]
        assert origin == new_origin and gender != new_gender, case
    for case in suite["name_origin"].cases:
        old, new = (_name(span) for span in _changed_span(case.original, case.text))
        assert old and new, case
        assert FIRST_NAMES[old[0]][1] == FIRST_NAMES[new[0]][1] and FAMILY_NAMES[old[1]] != FAMILY_NAMES[new[1]], case
    for test in suite.values():
        if test.type == behaviour.INV:
            assert all(c.expected == SAME_LABEL and c.original for c in test.cases)


def test_directional_cases_append_one_clear_sentence():
    suite = suite_by_name()
    for name, sentences, expected in (("add_positive", lx.POSITIVE_SENTENCES, NOT_LOWER),
                                      ("add_negative", lx.NEGATIVE_SENTENCES, NOT_HIGHER)):
        for case in suite[name].cases:
            assert case.expected == expected
            assert any(case.text == f"{case.original} {s}" for s in sentences), case


def test_tests_are_chosen_by_name_or_capability():
    assert [t.name for t in behaviour.select_tests("typos,Negation", cases_per_test=SMALL)] == [
        "negated_positive", "negated_negative", "negation_at_distance", "typos"]
    with pytest.raises(InputError, match="'nonsense'.*negated_positive"):
        behaviour.select_tests(["nonsense"], cases_per_test=SMALL)
    with pytest.raises(InputError):
        behaviour.build_suite(0, 0)


# --- running and judging ------------------------------------------------------------------

def test_a_word_polarity_model_passes_plain_tests_and_fails_negation():
    model = WordPolarity()
    seen = []
    result = behaviour.run_suite(model, cases_per_test=SMALL, progress=lambda done, total: seen.append((done, total)))
    rates = {t.name: t.failure_rate for t in result.tests}
    for name in ("positive_words", "negative_words", "intensifiers", "downtoners", "add_positive", "add_negative",
                 "punctuation_case", "br_tags", "neutral_sentence", "change_names", "name_gender", "name_origin"):
        assert rates[name] == 0.0, name
    for name in ("negated_positive", "negated_negative", "negation_at_distance"):
        assert rates[name] > 0.8, (name, rates[name])
    # Predicted once, in batches, every distinct text (cases and originals) exactly once.
    assert len(model.calls) == 1 and len(set(model.calls[0])) == len(model.calls[0]) == result.texts
    assert seen[-1][0] == seen[-1][1] == result.texts
    negation = result.test("negated_positive")
    worst = negation.failures[0]
    assert len(negation.failures) == behaviour.MAX_FAILURES and worst.predicted == "positive"
    assert worst.probability == max(f.probability for f in negation.failures)
    assert result.test("typos").mean_abs_change > 0 and result.test("br_tags").mean_abs_change == 0


def test_judging_uses_the_neutral_band_and_the_tolerance():
    not_negative = behaviour.Case("The plot was not bad.", "not negative")
    assert behaviour.judge(not_negative, 0.34, "negative")[0] is False  # neutral is not negative
    assert behaviour.judge(not_negative, 0.30, "negative")[0] is True
    up = behaviour.Case("x. I loved it.", NOT_LOWER, "x.")
    assert behaviour.judge(up, 0.45, "negative", 0.5, "positive")[0] is False  # within the tolerance
    assert behaviour.judge(up, 0.35, "negative", 0.5, "positive")[0] is True
    down = behaviour.Case("x. I hated it.", NOT_HIGHER, "x.")
    assert behaviour.judge(down, 0.65, "positive", 0.5, "positive")[0] is True
    same = behaviour.Case("y", SAME_LABEL, "x")
    failed, badness, expected = behaviour.judge(same, 0.49, "negative", 0.51, "positive")
    assert failed and badness == pytest.approx(0.02) and expected.startswith("positive")


def test_results_are_valid_json_of_the_documented_shape_and_round_trip():
    result = behaviour.run_suite(WordPolarity(), ["contrast", "typos"], cases_per_test=SMALL, model="m")
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False, ensure_ascii=False))
    assert payload["model"] == "m" and [t["name"] for t in payload["tests"]] == ["contrast", "typos"]
    for test in payload["tests"]:
        assert {"name", "capability", "type", "description", "cases", "failure_rate", "failures"} <= set(test)
        for failure in test["failures"]:
            assert {"text", "expected", "predicted", "probability"} <= set(failure)
    assert payload["tests"][1]["failures"] == [] or payload["tests"][1]["failures"][0]["original"]
    assert [c["capability"] for c in payload["capabilities"]] == ["Contrast", "Robustness"]
    assert behaviour.SuiteResult.from_dict(payload).to_dict() == payload


def test_tables_and_text_put_models_side_by_side():
    first = behaviour.run_suite(WordPolarity(), ["negated_positive", "typos"], cases_per_test=SMALL, model="a")
    second = behaviour.run_suite(WordPolarity(), ["negated_positive"], cases_per_test=SMALL, model="a")
    table = behaviour.suite_table(first, second)
    assert list(table.columns) == ["capability", "test", "type", "cases", "description", "a", "a (2)"]
    assert table.set_index("test").loc["negated_positive", "a"] == first.test("negated_positive").failure_rate
    # NaN: not run
    assert table.set_index("test").loc["typos", "a (2)"] != table.set_index("test").loc["typos", "a (2)"]
    capabilities = behaviour.capability_table(first)
    assert capabilities["capability"].tolist() == ["Negation", "Robustness"]
    text = behaviour.format_suite(first, second)
    assert "negated_positive" in text and "100.0%" in text and "Per capability" in text
    groups = behaviour.group_table({"bce": [first, first], "weighted": [second]})
    assert groups.set_index("test").loc["negated_positive", "bce"] == first.test("negated_positive").failure_rate
    assert "| Negation |" in behaviour.suite_markdown(first)


# --- the cache ----------------------------------------------------------------------------

def test_the_cache_runs_only_what_it_lacks(tmp_path):
    key = behaviour.folder_fingerprint(tmp_path)
    model = WordPolarity()
    first = behaviour.cached_suite(model, key, tests=["typos"], cases_per_test=SMALL)
    path = behaviour.cache_file(key)
    assert path.parent == runs.models_dir() / ".cache" / "behaviour" and path.exists()
    assert behaviour.cached_result(key, tests=["typos"], cases_per_test=SMALL).to_dict() == first.to_dict()
    assert behaviour.cached_result(key, tests=["typos", "contrast"], cases_per_test=SMALL) is None
    both = behaviour.cached_suite(model, key, tests=["contrast", "typos"], cases_per_test=SMALL)
    assert [t.name for t in both.tests] == ["contrast", "typos"] and len(model.calls) == 2
    assert all(c.count(c[0]) == 1 for c in model.calls)
    again = behaviour.cached_suite(MustNotPredict(), key, tests=["typos", "contrast"], cases_per_test=SMALL)
    assert again.to_dict()["tests"] == both.to_dict()["tests"]
    assert behaviour.cached_result(key, seed=1, tests=["typos"], cases_per_test=SMALL) is None  # another seed
    # A loader is called only when something is missing; a changed model (key) recomputes.
    loads = []
    behaviour.cached_suite(lambda: loads.append(1) or MustNotPredict(), key, tests=["typos"], cases_per_test=SMALL)
    assert loads == []
    behaviour.cached_suite(lambda: loads.append(1) or WordPolarity(), key + "-changed", tests=["typos"],
                           cases_per_test=SMALL)
    assert loads == [1]
    path.write_text("{not json")  # a corrupted cache is recomputed
    assert behaviour.cached_result(key, tests=["typos"], cases_per_test=SMALL) is None
    behaviour.cached_suite(WordPolarity(), key, tests=["typos"], cases_per_test=SMALL)
    assert behaviour.cached_result(key, tests=["typos"], cases_per_test=SMALL) is not None


def test_the_suite_on_a_trained_run_is_cached_in_its_folder(tiny_bow_run, capsys):
    run_dir, _ = tiny_bow_run
    started = time.perf_counter()
    result = behaviour.suite_for_run("tiny-bow", cases_per_test=SMALL)
    seconds = time.perf_counter() - started
    assert result.model == "tiny-bow" and len(result.tests) == len(behaviour.TEST_NAMES)
    assert (run_dir / behaviour.CACHE_FILE).exists()
    assert all(0.0 <= t.failure_rate <= 1.0 for t in result.tests)
    with capsys.disabled():
        print(f"\nsuite on tiny-bow: {result.texts} texts, {sum(t.cases for t in result.tests)} cases, predicted in "
              f"{result.seconds:.2f} s ({result.texts / max(result.seconds, 1e-9):.0f} texts/s), "
              f"{seconds:.2f} s in all")
    assert behaviour.run_fingerprint("tiny-bow").startswith("run:tiny-bow:config.json@")
    cached = behaviour.cached_result(behaviour.run_fingerprint("tiny-bow"), run_id="tiny-bow", cases_per_test=SMALL)
    assert cached.to_dict() == result.to_dict()
    (run_dir / runs.BEST_DIR / "config.json").touch()  # the model is rewritten: the cache no longer matches
    assert behaviour.cached_result(behaviour.run_fingerprint("tiny-bow"), run_id="tiny-bow",
                                   cases_per_test=SMALL) is None


# --- the held-out half of the lexicon ---------------------------------------------------------

def test_every_sentiment_word_of_the_suite_is_in_one_half_of_the_split():
    from sentiment_core.data import heldout

    words_of_suite = {
        "positive adjectives": set(lx.POSITIVE_ADJECTIVES), "negative adjectives": set(lx.NEGATIVE_ADJECTIVES),
        "positive verbs": set(lx.POSITIVE_VERBS) | set(lx.POSITIVE_VERBS.values()),
        "negative verbs": set(lx.NEGATIVE_VERBS) | set(lx.NEGATIVE_VERBS.values()),
        "intensifiers": set(lx.INTENSIFIERS) | set(lx.VERB_INTENSIFIERS),
        "scores": {str(s) for s in lx.POSITIVE_TEN_SCORES + lx.NEGATIVE_TEN_SCORES if s != 10}
        | {lx.NUMBER_WORDS[s] for s in lx.POSITIVE_TEN_SCORES + lx.NEGATIVE_TEN_SCORES + lx.POSITIVE_FIVE_STARS
           + lx.NEGATIVE_FIVE_STARS if s not in (5, 10)},
    }
    for category, found in words_of_suite.items():
        seen, held = heldout.SPLIT[category]
        assert found <= set(seen) | set(held), (category, sorted(found - set(seen) - set(held)))
        assert found & set(seen) and found & set(held), category
    comparisons = " ".join(lx.POSITIVE_COMPARISONS + lx.NEGATIVE_COMPARISONS).lower()
    assert all(word in comparisons for word in heldout.SPLIT["comparatives"][0] + heldout.SPLIT["comparatives"][1])


def test_the_suite_reports_its_held_out_half_separately():
    result = behaviour.run_suite(WordPolarity(), ["negated_positive", "rating_digits", "typos"], cases_per_test=SMALL,
                                 model="m")
    negation = result.test("negated_positive")
    assert 0 < negation.held_out_cases < negation.cases and negation.seen_cases > 0
    assert negation.held_out_cases + negation.seen_cases <= negation.cases
    assert negation.held_out_failure_rate == negation.held_out_failed / negation.held_out_cases > 0.8
    for test in result.tests:  # a case is held out when every split word in it is
        cases = {c.text: c for c in behaviour.select_tests([test.name], cases_per_test=SMALL)[0].cases}
        assert test.held_out_cases == sum(behaviour.case_half(c, test.capability) == "held-out"
                                          for c in cases.values())
    payload = result.to_dict()
    row = next(c for c in payload["capabilities"] if c["capability"] == "Negation")
    assert row["held_out_failure_rate"] == negation.held_out_failure_rate and row["held_out_cases"] > 0
    assert behaviour.SuiteResult.from_dict(payload).to_dict() == payload
    table = behaviour.held_out_table(result)
    assert table["capability"].tolist()[0] == "Negation (held-out words)"
    assert table.set_index("capability").loc["Negation (held-out words)", "m"] == negation.held_out_failure_rate
    text = behaviour.format_suite(result)
    assert "Held-out words" in text and "Negation (held-out words)" in text
    assert "| held-out words |" in behaviour.suite_markdown(result)
    groups = behaviour.group_held_out_table({"none": [result, result], "counterfactual": [result]})
    assert {"none", "counterfactual", "none (seen words)"} <= set(groups.columns)
    # Ratings count their scores; elsewhere a number word is no rating
    digits = result.test("rating_digits")
    assert digits.held_out_cases > 0 and digits.seen_cases > 0
