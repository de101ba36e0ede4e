#!/usr/bin/env bash
# Build the image from the Dockerfile and check what it promises: the REST API and the app answer from inside it
# (/health, a /predict and an /explain with a model mounted at /app/models; /_stcore/health), their processes run
# as the non-root user, and the HEALTHCHECK command tells up from down. Prints the build time, the image size and
# the time from start to the first answer of each.
#
#   bash bench/container_check.sh            (or: make container-check)
#
# Docker when a daemon answers (a user's machine); otherwise buildah (apt-get install buildah mmdebstrap) with
# chroot isolation, on a base image made from Debian's packages by mmdebstrap, so no registry is needed.
# Both run the two commands the Dockerfile's header documents, with the ports below.
# Settings (environment):
#   BASE_IMAGE       the base to build on (default: the Dockerfile's with Docker; with buildah a Debian bookworm
#                    with python3, python3-venv and ca-certificates made here)
#   TORCH_INDEX_URL  where torch comes from (default: the Dockerfile's CPU index; when it is unreachable, empty,
#                    and this machine's CPU wheel of torch goes into the build context's docker/wheels/)
#   EXTRA_CA         a certificate bundle pip inside the build must trust as well (default: PIP_CERT, or pip's
#                    `cert` setting: the certificate of a proxy between this machine and the package index)
#   MODELS           a models folder with a finished run to mount (default: a quick bow run trained here on
#                    IMDB_DATA, default ../shared/data/imdb)
#   API_PORT, APP_PORT  the ports the API and the app listen on (default 8000 and 8501, as documented)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(pwd)/.venv/bin/python}
IMAGE=${IMAGE:-localhost/sentiment-studio:check}
API_PORT=${API_PORT:-8000}
APP_PORT=${APP_PORT:-8501}
WORK=$(mktemp -d /tmp/container-check.XXXXXX)
PIDS=()
CONTAINER=""

say() { printf '%s\n' "$*" >&2; }
fail() { say "FAILED: $*"; for log in "$WORK"/*.log; do [ -f "$log" ] && tail -5 "$log" >&2; done; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  ENGINE=docker
elif command -v buildah >/dev/null 2>&1; then
  ENGINE=buildah
  B=(buildah --storage-driver vfs)  # overlay needs kernel support a sandbox may lack; vfs works everywhere
else
  fail "no container engine: install Docker, or buildah and mmdebstrap (apt-get install buildah mmdebstrap)"
fi

cleanup() {
  for pid in "${PIDS[@]}"; do pkill -TERM -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  pkill -TERM -f "sentiment_core serve --host 0.0.0.0 --port $API_PORT" 2>/dev/null || true
  pkill -TERM -f "streamlit run app.py --server.address=0.0.0.0 --server.port=$APP_PORT" 2>/dev/null || true
  if [ "$ENGINE" = docker ]; then docker rm -f studio-api studio-app >/dev/null 2>&1 || true
  elif [ -n "$CONTAINER" ]; then sleep 1; "${B[@]}" rm "$CONTAINER" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
for port in "$API_PORT" "$APP_PORT"; do
  if curl -s -o /dev/null -m 2 "http://127.0.0.1:$port/"; then fail "port $port is in use: stop what listens there"; fi
done
say "engine: $ENGINE"

# --- the build context: what the Dockerfile copies, with optional certificates and wheels -------------------------
CONTEXT=$WORK/context
mkdir -p "$CONTEXT"
cp -r Dockerfile .dockerignore pyproject.toml README.md app.py sentiment_core views .streamlit docker "$CONTEXT/"
find "$CONTEXT" -name __pycache__ -prune -exec rm -rf {} +
if [ -z "${TORCH_INDEX_URL+set}" ]; then
  if curl -s -o /dev/null -m 5 https://download.pytorch.org/whl/cpu/; then
    TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
  else
    TORCH_INDEX_URL=""
    version=$(sed -n 's/^ARG TORCH_VERSION=//p' Dockerfile)
    say "download.pytorch.org is unreachable: torch $version comes from this machine's pip (its CPU wheel)"
    "$PY" -m pip download -q --no-deps -d "$CONTEXT/docker/wheels" "torch==$version"
  fi
fi
BUILD_ARGS=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")
EXTRA_CA=${EXTRA_CA:-${PIP_CERT:-$("$PY" -m pip config get global.cert 2>/dev/null || true)}}
if [ -n "$EXTRA_CA" ] && [ -f "$EXTRA_CA" ]; then
  say "pip inside the build trusts $EXTRA_CA too"
  cp "$EXTRA_CA" "$CONTEXT/docker/certs/extra.crt"
fi

# --- the base image: with buildah, Debian's own packages -----------------------------------------------------------
if [ "$ENGINE" = buildah ] && [ -z "${BASE_IMAGE:-}" ]; then
  BASE_IMAGE=localhost/sentiment-base:bookworm
  if ! "${B[@]}" inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "making $BASE_IMAGE from Debian's packages (mmdebstrap)"
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates,passwd \
      bookworm "$WORK/base.tar"
    base=$("${B[@]}" from scratch)
    "${B[@]}" add "$base" "$WORK/base.tar" / >/dev/null
    "${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$base"
    "${B[@]}" commit --quiet "$base" "$BASE_IMAGE" >/dev/null
    "${B[@]}" rm "$base" >/dev/null
    rm -f "$WORK/base.tar"
  fi
fi
[ -n "${BASE_IMAGE:-}" ] && BUILD_ARGS+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")

# --- build --------------------------------------------------------------------------------------------------------
say "building $IMAGE"
started=$(now)
if [ "$ENGINE" = docker ]; then
  docker build -q "${BUILD_ARGS[@]}" -t "$IMAGE" "$CONTEXT" >"$WORK/build.log" 2>&1 || fail "docker build"
  size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
  healthcheck=$(docker image inspect -f '{{json .Config.Healthcheck.Test}}' "$IMAGE")
  user=$(docker image inspect -f '{{.Config.User}}' "$IMAGE")
else
  "${B[@]}" bud --isolation chroot --format docker "${BUILD_ARGS[@]}" -t "$IMAGE" "$CONTEXT" >"$WORK/build.log" 2>&1 \
    || fail "buildah bud"
  CONTAINER=$("${B[@]}" from --quiet "$IMAGE")
  size=$(du -sb "$("${B[@]}" mount "$CONTAINER")" | cut -f1)
  "${B[@]}" umount "$CONTAINER" >/dev/null
  config=$("${B[@]}" inspect --type image "$IMAGE")
  healthcheck=$(printf '%s' "$config" | "$PY" -c 'import json, sys; c = json.load(sys.stdin)["Docker"]["config"]
print(json.dumps(c["Healthcheck"]["Test"]))')
  user=$(printf '%s' "$config" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["Docker"]["config"]["User"])')
fi
BUILD_S=$(since "$started")
SIZE_GB=$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1e9 }')
say "built in $BUILD_S s: $SIZE_GB GB, user $user"

# --- a model to serve ---------------------------------------------------------------------------------------------
if [ -z "${MODELS:-}" ]; then
  MODELS=$WORK/models
  say "training a quick bow run to mount at /app/models"
  IMDB_DATA=${IMDB_DATA:-$(cd .. && pwd)/shared/data/imdb} SENTIMENT_MODELS_DIR=$MODELS "$PY" -m sentiment_core train \
    --model bow --max-train-samples 4000 --max-test-samples 500 --epochs 1 --run-id container-check \
    >"$WORK/train.log" 2>&1 || fail "the quick bow run did not train (set IMDB_DATA, or MODELS to a folder with a run)"
fi
chmod -R a+rX "$MODELS"

# --- the two documented commands, and commands inside the image ------------------------------------------------------
start() {  # NAME PORT ENV=VALUE... -- COMMAND... (with Docker, an empty COMMAND is the image's CMD)
  local name=$1 port=$2 env=(); shift 2
  while [ "$1" != -- ]; do env+=("$1"); shift; done; shift
  if [ "$ENGINE" = docker ]; then
    local flags=(); for pair in "${env[@]}"; do flags+=(-e "$pair"); done
    docker run -d --name "studio-$name" -p "127.0.0.1:$port:$port" -v "$MODELS:/app/models" "${flags[@]}" \
      "$IMAGE" "$@" >/dev/null
  else
    local flags=(); for pair in "${env[@]}"; do flags+=(--env "$pair"); done
    "${B[@]}" run --isolation chroot --volume "$MODELS:/app/models" "${flags[@]}" "$CONTAINER" -- "$@" \
      >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
  fi
}
inside() {  # NAME ENV=VALUE... -- COMMAND...: run in the container NAME runs in (as the image's user)
  local name=$1 env=(); shift
  while [ "$1" != -- ]; do env+=("$1"); shift; done; shift
  if [ "$ENGINE" = docker ]; then
    local flags=(); for pair in "${env[@]}"; do flags+=(-e "$pair"); done
    docker exec "${flags[@]}" "studio-$name" "$@"
  else
    local flags=(); for pair in "${env[@]}"; do flags+=(--env "$pair"); done
    "${B[@]}" run --isolation chroot "${flags[@]}" "$CONTAINER" -- "$@"
  fi
}
first_answer() {  # URL SECONDS -> the seconds from now until URL answers 200
  local started; started=$(now)
  until curl -sf -o /dev/null -m 2 "$1"; do
    awk -v a="$started" -v b="$(now)" -v l="$2" 'BEGIN { exit !(b - a > l) }' && return 1
    sleep 0.3
  done
  since "$started"
}
healthcheck() {  # NAME URL: the image's HEALTHCHECK command, run inside with HEALTHCHECK_URL=URL
  local command; command=$(printf '%s' "$healthcheck" | "$PY" -c 'import json, shlex, sys; t = json.load(sys.stdin); print(shlex.join(t[1:]))')
  eval "inside $1 HEALTHCHECK_URL=$2 -- $command" >/dev/null 2>&1
}
owner() {  # NAME PATTERN: the uid of the server's own process (as the host sees it; not the engine's wrapper)
  if [ "$ENGINE" = docker ]; then docker top "studio-$1" -eo uid,args | awk 'NR > 1 { print $1; exit }'
  else
    local pid; pid=$(pgrep -f "$2" | head -1)
    awk '/^Uid:/ { print $2 }' "/proc/$pid/status"
  fi
}

say "starting the API: python -m sentiment_core serve --host 0.0.0.0 (port $API_PORT)"
started=$(now)
start api "$API_PORT" HEALTHCHECK_URL="http://127.0.0.1:$API_PORT/health" -- \
  python -m sentiment_core serve --host 0.0.0.0 --port "$API_PORT"
first_answer "http://127.0.0.1:$API_PORT/health" 300 >/dev/null || fail "the API did not answer /health"
API_S=$(since "$started")
curl -sf "http://127.0.0.1:$API_PORT/health" | grep -q '"model_loaded":true' || fail "/health: no model loaded"
answer=$(curl -sf -X POST "http://127.0.0.1:$API_PORT/predict" -H 'Content-Type: application/json' -d '{"texts":
  ["A wonderful, moving film: brilliant acting, I loved it.", "Awful, boring and dull: the worst film of the year."]}')
printf '%s' "$answer" | grep -q '"label":"positive".*"label":"negative"' \
  || fail "/predict did not answer positive then negative: $answer"
curl -sf -X POST "http://127.0.0.1:$API_PORT/explain" -H 'Content-Type: application/json' \
  -d '{"text": "A moving, beautifully acted film."}' | grep -q '"word":"moving"' || fail "/explain gave no words"
api_uid=$(owner api "^[^ ]*python[0-9.]* -m sentiment_core serve --host 0.0.0.0 --port $API_PORT")
[ "$api_uid" = "${user%%:*}" ] && [ "$api_uid" != 0 ] || fail "the API runs as uid $api_uid, not the image's user $user"
healthcheck api "http://127.0.0.1:$API_PORT/health" || fail "the HEALTHCHECK command failed against the API"
say "API: first answer after $API_S s; /predict and /explain answer; uid $api_uid; HEALTHCHECK passes"

say "starting the app: the image's command (streamlit on port $APP_PORT)"
started=$(now)
if [ "$ENGINE" = docker ] && [ "$APP_PORT" = 8501 ]; then
  start app "$APP_PORT" --  # exactly `docker run -p 8501:8501 -v ...:/app/models sentiment-studio`
else
  start app "$APP_PORT" -- streamlit run app.py --server.address=0.0.0.0 "--server.port=$APP_PORT" \
    --server.headless=true --browser.gatherUsageStats=false
fi
first_answer "http://127.0.0.1:$APP_PORT/_stcore/health" 300 >/dev/null || fail "the app did not answer /_stcore/health"
APP_S=$(since "$started")
curl -sf "http://127.0.0.1:$APP_PORT/" | grep -qi "<html" || fail "the app served no page"
app_uid=$(owner app "^[^ ]*python[0-9.]* [^ ]*/streamlit run app.py --server.address=0.0.0.0 --server.port=$APP_PORT")
[ "$app_uid" = "$api_uid" ] || fail "the app runs as uid $app_uid"
healthcheck app "http://127.0.0.1:$APP_PORT/_stcore/health" || fail "the HEALTHCHECK command failed against the app"
healthcheck app "http://127.0.0.1:1/" && fail "the HEALTHCHECK passed with nothing listening"
say "app: first answer after $APP_S s; uid $app_uid; HEALTHCHECK passes, and fails with nothing listening"

printf 'container check passed (%s): build %s s, image %s GB, API first answer %s s, app first answer %s s\n' \
  "$ENGINE" "$BUILD_S" "$SIZE_GB" "$API_S" "$APP_S"
