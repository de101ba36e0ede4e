import pytest
from pydantic import ValidationError

from sentiment_core.core.settings import Settings, get_settings, resolve_device


def test_defaults(monkeypatch):
    monkeypatch.delenv("SENTIMENT_MODELS_DIR")
    settings = Settings()
    assert settings.imdb_data == "stanfordnlp/imdb"
    assert str(settings.models_dir) == "models"
    assert settings.device == "auto"
    assert settings.validation_fraction == 0.1


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("IMDB_DATA", "/data/imdb")
    monkeypatch.setenv("SENTIMENT_MODELS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SENTIMENT_DEVICE", "CPU")
    monkeypatch.setenv("SENTIMENT_VALIDATION_FRACTION", "0.2")
    monkeypatch.setenv("SENTIMENT_SEED", "7")
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.imdb_data == "/data/imdb"
    assert settings.models_dir == tmp_path / "runs"
    assert settings.device == "cpu"
    assert settings.validation_fraction == 0.2
    assert settings.seed == 7


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("IMDB_DATA=./from-dotenv\nSENTIMENT_SEED=3\n")
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.imdb_data == "./from-dotenv"
    assert settings.seed == 3


def test_constructor_override_beats_environment(monkeypatch):
    monkeypatch.setenv("IMDB_DATA", "/env/path")
    assert Settings(IMDB_DATA="/explicit").imdb_data == "/explicit"


@pytest.mark.parametrize("name,value", [
    ("SENTIMENT_DEVICE", "tpu"),
    ("SENTIMENT_VALIDATION_FRACTION", "1.5"),
    ("IMDB_DATA", "   "),
])
def test_bad_values_are_refused(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert name.lower().removeprefix("sentiment_") in str(info.value).lower() or "IMDB_DATA" in str(info.value)


def test_auto_device_is_cpu_without_gpu():
    import torch

    expected = "cuda" if torch.cuda.is_available() else None
    device = resolve_device("auto")
    assert device in {"cpu", "cuda", "mps"}
    if expected:
        assert device == expected


def test_cuda_without_gpu_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(ValueError, match="SENTIMENT_DEVICE=cuda"):
        resolve_device("cuda")


def test_a_bad_setting_names_its_environment_variable(monkeypatch):
    from sentiment_core.core.errors import SettingsError

    monkeypatch.setenv("SENTIMENT_MAX_TEXTS", "lots")
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match="SENTIMENT_MAX_TEXTS='lots'") as info:
        get_settings()
    assert "max_texts" not in str(info.value)
