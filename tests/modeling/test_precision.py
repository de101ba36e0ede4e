import pytest

from sentiment_core.core.settings import get_settings
from sentiment_core.modeling import precision


@pytest.mark.parametrize("native,word_level,device,chosen", [
    (True, False, "cpu", "bfloat16"),  # a sub-word checkpoint on a CPU with native bfloat16
    (False, False, "cpu", "float32"),  # without it: float32 (int8 lost 0.7 points on the full-data MiniLM run)
    (True, True, "cpu", "float32"),  # bow, lstm, transformer
    (True, False, "cuda", "float32"),
])
def test_auto_batch_precision(monkeypatch, native, word_level, device, chosen):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert precision.batch_precision(word_level, device) == chosen
    monkeypatch.setenv("SENTIMENT_BATCH_PRECISION", "int8")
    get_settings.cache_clear()
    assert precision.batch_precision(word_level, device) == "int8"  # asked for: always honoured
