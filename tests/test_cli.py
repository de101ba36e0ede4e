import json
import subprocess
import sys

import pytest

from sentiment_core.cli import main
from tests.conftest import REPO_ROOT


def test_data_info_prints_json(parquet_dir, capsys):
    assert main(["data", "info", "--data", str(parquet_dir)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["splits"]["train"] == {"rows": 18, "neg": 9, "pos": 9}
    assert info["splits"]["validation"] == {"rows": 2, "neg": 1, "pos": 1}
    assert info["splits"]["test"] == {"rows": 10, "neg": 5, "pos": 5}


def test_data_info_uses_imdb_data(csv_file, use_source, capsys):
    use_source(csv_file)
    assert main(["data", "info"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["test"]["rows"] == 20


def test_bad_source_is_one_clear_line(tmp_path, capsys):
    assert main(["data", "info", "--data", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Cannot load IMDB data") and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--help"], ["data", "--help"], ["data", "info", "--help"]])
def test_help_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_module_entry_point(parquet_dir):
    done = subprocess.run(
        [sys.executable, "-m", "sentiment_core", "data", "info", "--data", str(parquet_dir)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["splits"]["validation"]["rows"] == 2
