#!/usr/bin/env bash
# Container entrypoint: fetch what the server needs, start warming the page cache in the background,
# then exec the server so it receives signals directly.
#
#   MODEL                    repo id (org/name[@rev], hf://…, ms://…) or a folder already on disk
#   WEIGHTLIB_DOWNLOAD_ARGS  extra `weightlib download` options (e.g. --format safetensors)
#   WEIGHTLIB_PREFETCH_ARGS  extra `weightlib prefetch` options (e.g. --auto, --max-memory 70%)
#   arguments                the server command; $MODEL_DIR is exported for it.
#                            Default: vllm serve "$MODEL_DIR"
set -euo pipefail

: "${MODEL:?set MODEL to a repository id or a model folder}"

if [ -d "$MODEL" ]; then
    MODEL_DIR=$MODEL
else
    # The last line of stdout is the local folder; exit codes: 3 not found, 4 auth, 5 network,
    # 6 integrity, 7 lock timeout, 8 disk space. Ten replicas starting at once download once.
    # shellcheck disable=SC2086  # the extra arguments are meant to split
    MODEL_DIR=$(weightlib download "$MODEL" ${WEIGHTLIB_DOWNLOAD_ARGS:-} | tail -n 1)
fi
export MODEL_DIR

# Warming is an optimisation: a failure here must not keep the server from starting.
# shellcheck disable=SC2086
weightlib prefetch "$MODEL_DIR" --background ${WEIGHTLIB_PREFETCH_ARGS:-} >&2 ||
    echo "entrypoint: prefetch failed (exit $?); starting the server anyway" >&2

if [ "$#" -eq 0 ]; then
    set -- vllm serve "$MODEL_DIR"
fi
exec "$@"
