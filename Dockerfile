# IMDB Sentiment Studio: the Streamlit app by default, the REST API with another command.
#
#   docker build -t sentiment-studio .
#   docker run -p 8501:8501 -v "$PWD/models:/app/models" sentiment-studio                  # the app
#   docker run -p 8000:8000 -v "$PWD/models:/app/models" \
#       -e HEALTHCHECK_URL=http://127.0.0.1:8000/health \
#       sentiment-studio python -m sentiment_core serve --host 0.0.0.0                     # the API
#
# `bash bench/container_check.sh` builds it and checks both (Docker, or buildah where Docker is missing).
# CUDA: build on an image that has Python and CUDA, with the matching torch wheels, e.g.
#   docker build --build-arg BASE_IMAGE=pytorch/pytorch:2.7.1-cuda12.8-cudnn9-runtime \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 -t sentiment-studio:cuda .
# and run it with `--gpus all`. Any base with Python 3.10+ and its venv module works (a Debian one: python3,
# python3-venv, ca-certificates).
ARG BASE_IMAGE=python:3.11-slim

# --- build: a virtual environment with torch and the package, made where pip and its caches may be ---------------
FROM ${BASE_IMAGE} AS build

ARG TORCH_VERSION=2.13.0
# Where torch comes from: the CPU build by default. Empty: PyPI (and any wheel in docker/wheels/).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PATH=/opt/venv/bin:$PATH

# Optional extras from the build context: certificate authorities pip must trust (docker/certs/*.crt, e.g. a
# proxy's) and wheels to install from (docker/wheels/); both folders are empty in the repository.
COPY docker/certs/ /usr/local/share/ca-certificates/studio/
COPY docker/wheels/ /wheels/
RUN update-ca-certificates && python3 -m venv /opt/venv

# torch first, from the index of the wanted build (CPU by default), so the package's requirements find it
# installed instead of pulling the multi-GB CUDA build from PyPI. (DL3013 reads the optional --index-url as a package.)
# hadolint ignore=DL3013
RUN pip install --find-links /wheels ${TORCH_INDEX_URL:+--index-url "${TORCH_INDEX_URL}"} "torch==${TORCH_VERSION}"

COPY pyproject.toml README.md /src/
COPY sentiment_core /src/sentiment_core
# The onnx extra: the API runs a transformer's predictions on onnxruntime when it is faster (SENTIMENT_SERVE_RUNTIME).
# (DL3013 wants pins: this is the local package, whose requirements are bounded in pyproject.toml)
# Then what runs no code at run time leaves the environment: packages' test suites and torch's C++ headers.
# hadolint ignore=DL3013
RUN pip install --find-links /wheels "/src[onnx]" \
    && find /opt/venv -depth -type d \( -name tests -o -path "*/torch/test" -o -path "*/torch/include" \) \
        -exec rm -rf {} +

# --- the image: the environment and the app, no build context, wheels or caches ---------------------------------
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    HF_HUB_DISABLE_TELEMETRY=1 \
    SENTIMENT_MODELS_DIR=/app/models \
    HEALTHCHECK_URL=http://127.0.0.1:8501/_stcore/health

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY app.py ./
COPY views ./views
COPY .streamlit ./.streamlit

# A non-root user (numeric, so the host can resolve it) owns the models volume.
RUN groupadd --gid 10001 studio \
    && useradd --uid 10001 --gid 10001 --create-home studio \
    && mkdir -p /app/models \
    && chown 10001:10001 /app/models
USER 10001:10001

VOLUME ["/app/models"]
EXPOSE 8501 8000

# The app answers /_stcore/health; running the API, set HEALTHCHECK_URL=http://127.0.0.1:8000/health.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"]

CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true", "--browser.gatherUsageStats=false"]
