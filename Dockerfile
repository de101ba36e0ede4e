# IMDB Sentiment Studio: the Streamlit app by default, the REST API with another command.
#
#   docker build -t sentiment-studio .
#   docker run -p 8501:8501 -v "$PWD/models:/app/models" sentiment-studio                  # the app
#   docker run -p 8000:8000 -v "$PWD/models:/app/models" \
#       -e HEALTHCHECK_URL=http://127.0.0.1:8000/health \
#       sentiment-studio python -m sentiment_core serve --host 0.0.0.0                     # the API
#
# CUDA: build on an image that has Python and CUDA, with the matching torch wheels, e.g.
#   docker build --build-arg BASE_IMAGE=pytorch/pytorch:2.7.1-cuda12.8-cudnn9-runtime \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 -t sentiment-studio:cuda .
# and run it with `--gpus all`.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    SENTIMENT_MODELS_DIR=/app/models \
    HEALTHCHECK_URL=http://127.0.0.1:8501/_stcore/health

WORKDIR /app

# torch first, from the index of the wanted build (CPU by default), so the package's
# requirements find it installed instead of pulling the multi-GB CUDA build from PyPI.
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"

COPY pyproject.toml README.md ./
COPY sentiment_core ./sentiment_core
# The onnx extra: the API runs a transformer's predictions on onnxruntime when it is faster (SENTIMENT_SERVE_RUNTIME).
# (DL3013 wants pins: this is the local package, whose requirements are bounded in pyproject.toml)
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[onnx]"

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
