import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.helpers import APP, page_path, page_text, run_page

PAGE = page_path("predict")


def _page(session: dict | None = None) -> AppTest:
    return run_page(PAGE, session=session)


def _html(app: AppTest) -> str:
    return " ".join(str(element.proto.body) for element in app.get("html"))


def test_with_no_runs_the_quick_baseline_is_offered():
    app = _page()
    assert app.title[0].value == "🔮 Predict"
    assert app.button(key="predict_quick_baseline").label == "🚀 Train the quick bow baseline"
    assert "No trained model yet" in page_text(app)


@pytest.fixture
def page_with_run(tiny_bow_run, use_source):
    _, data = tiny_bow_run
    use_source(data)
    return _page()


def test_predict_page_renders_through_the_router(tiny_bow_run, use_source):
    use_source(tiny_bow_run[1])
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.switch_page("views/predict.py")
    app.run()
    assert not app.exception, app.exception
    assert app.selectbox(key="predict_run_choice").value == "tiny-bow"


def test_a_typed_review_gets_a_label_and_highlighted_words(page_with_run):
    app = page_with_run
    assert "Type or paste a review" in page_text(app)
    app.text_area(key="predict_text").input("A wonderful film, great actor. The plot was dull.").run()
    assert not app.exception, app.exception
    assert "sure" in page_text(app) and ("positive" in page_text(app) or "negative" in page_text(app))
    page = _html(app)
    assert 'class="word"' in page and ">wonderful</span>" in page
    # Editing the text shows the change since the last version.
    app.text_area(key="predict_text").input("An awful, boring film. A waste.").run()
    assert any("since your last version" in str(m.delta) for m in app.metric)


def test_other_class_methods_and_examples(page_with_run):
    app = page_with_run
    app.selectbox(key="predict_example").set_value("Hand-written: mixed feelings").run()
    assert app.text_area(key="predict_text").value.startswith("The cinematography")
    app.toggle(key="predict_other").set_value(True).run()
    assert not app.exception, app.exception
    assert "explaining the" in page_text(app)
    for method in ("occlusion", "gradient_x_input", "gradient_shap", "lime"):
        app.selectbox(key="predict_method").set_value(method).run()
        assert not app.exception, (method, app.exception)
        assert 'class="word"' in _html(app)


def test_nonsense_and_wordless_text_get_clear_messages(page_with_run):
    app = page_with_run
    app.text_area(key="predict_text").input("qwzx vbnm plok trewq zzzz").run()
    assert any("English movie reviews" in w.value for w in app.warning)
    app.text_area(key="predict_text").input("<br /><br />").run()
    assert any("no words the model can read" in e.value for e in app.error)


def test_the_family_default_method_is_preselected_and_a_broken_model_is_no_crash(tiny_bow_run, use_source):
    run_dir, data = tiny_bow_run
    use_source(data)
    assert _page().selectbox(key="predict_method").value == "gradient_x_input"  # bow's default
    for weights in (run_dir / "best").glob("*.safetensors"):
        weights.unlink()  # the run is listed but its model cannot load
    app = _page()
    assert not app.exception, app.exception
    assert app.selectbox(key="predict_method").value == "integrated_gradients"


def test_run_sent_from_the_train_page_is_selected(tiny_bow_run, use_source):
    use_source(tiny_bow_run[1])
    app = _page({"predict_run": "tiny-bow"})
    assert app.selectbox(key="predict_run_choice").value == "tiny-bow"
    assert "Train a second run" in page_text(app)  # compare tab with a single run


# --- any model source, every method, whole files --------------------------------------------

@pytest.fixture
def checkpoint(tmp_path):
    from sentiment_core.inference import sources
    from tests.checkpoint_helpers import roberta_checkpoint

    sources.clear_loaded_models()
    return roberta_checkpoint(tmp_path / "three-classes")


def test_a_fresh_machine_can_use_a_pretrained_checkpoint_folder(checkpoint, parquet_dir, use_source):
    use_source(parquet_dir)
    app = _page()
    assert any("Use a pretrained sentiment model" in e.label for e in app.expander)
    assert "distilbert/distilbert-base-uncased-finetuned-sst-2-english" in app.dataframe[0].value["hub id"].tolist()
    app.text_input(key="predict_source_input").input(str(checkpoint))
    next(b for b in app.button if "Load the model" in b.label).click().run()
    assert not app.exception, app.exception
    assert app.selectbox(key="predict_run_choice").value == str(checkpoint.resolve())
    assert "P(positive) = 0.5 x P(neutral) + P(positive)" in page_text(app)
    app.text_area(key="predict_text").input("A wonderful film, great actor. The plot was dull.").run()
    assert not app.exception, app.exception
    assert 'class="word"' in _html(app) and len(app.dataframe) >= 2  # every class's probability


def test_a_hub_id_offline_fails_at_once_with_the_fix(monkeypatch, parquet_dir, use_source):
    from sentiment_core.data import imdb as data

    monkeypatch.setattr(data, "hub_reachable", lambda timeout=3.0: False)
    use_source(parquet_dir)
    app = _page()
    app.text_input(key="predict_source_input").input("org/some-sentiment-model")
    next(b for b in app.button if "Load the model" in b.label).click().run()
    assert any("unreachable" in e.value and "folder" in e.value for e in app.error)


def test_every_method_side_by_side_with_its_faithfulness(page_with_run):
    app = page_with_run
    app.text_area(key="predict_text").input("A wonderful film, great actor. The plot was dull and awful.").run()
    app.toggle(key="predict_all_methods").set_value(True).run()
    assert not app.exception, app.exception
    table = next(d.value for d in app.dataframe if "comprehensiveness" in d.value.columns)
    assert sorted(table["method"]) == sorted(["integrated_gradients", "occlusion", "gradient_x_input",
                                              "gradient_shap", "lime"])
    assert {"comprehensiveness", "sufficiency", "ms"} <= set(table.columns)
    assert _html(app).count('class="legend"') >= 5


def test_what_would_flip_it_shows_the_edits_and_loads_the_edited_review(page_with_run):
    app = page_with_run
    text = "The movie was great and the story was wonderful."
    app.text_area(key="predict_text").input(text).run()
    assert "What would flip it" in page_text(app)
    assert not app.get("html") or "edit-old" not in _html(app)  # nothing searched before the button
    app.button(key="predict_flip").click().run()
    assert not app.exception, app.exception
    assert 'class="edit-old"' in _html(app) and 'class="edit-new"' in _html(app)
    assert any(m.label == "Label now" and m.value == "negative" for m in app.metric)
    assert any("Flipped to negative" in s.value for s in app.success)
    app.button(key="predict_flip_load_0").click().run()
    edited = app.text_area(key="predict_text").value
    assert edited != text and len(edited.split()) == len(text.split())
    assert any(m.label == "P(positive)" for m in app.metric) or "negative" in page_text(app)
