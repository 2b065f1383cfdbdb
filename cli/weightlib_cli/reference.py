"""Reference tables shared by `--help`, the man page and the README: exit codes, environment."""

from __future__ import annotations

EXIT_CODE_TABLE: tuple[tuple[int, str], ...] = (
    (0, "success"),
    (
        2,
        "usage error or invalid input (bad option, a file given for a folder, a missing extra, "
        "an invalid repo id or revision, an HF_ENDPOINT / MODELSCOPE_ENDPOINT that is not a URL, "
        "an empty token or a missing or unreadable --token-file)",
    ),
    (3, "not found: path, repository, revision, file, or no weight files"),
    (4, "authentication or authorization: gated or private repository, bad token, unreadable file"),
    (5, "network or remote failure after retries"),
    (
        6,
        "integrity: corrupt header, checksum mismatch, index names missing files, a server or "
        "file naming an unsafe path (absolute, '..', backslash, NUL, empty segment)",
    ),
    (7, "waiting for a lock timed out"),
    (8, "not enough resources: disk space or memory, a disk that fills up mid-download"),
    (130, "interrupted (Ctrl-C); partial files are kept and resume on the next run"),
    (143, "terminated (SIGTERM); partial files are kept and resume on the next run"),
    (141, "stdout was closed by its reader (| head), as cat reports it"),
)

ENVIRONMENT_TABLE: tuple[tuple[str, str], ...] = (
    ("HF_HOME", "Hugging Face home: token file and, by default, the hub cache (HF_HOME/hub)."),
    ("HF_HUB_CACHE", "Where Hugging Face repositories are cached (snapshots link to blobs)."),
    ("HF_ENDPOINT", "Hugging Face hub or mirror URL (default https://huggingface.co)."),
    ("HF_TOKEN", "Hugging Face access token for gated and private repositories; never printed."),
    ("HF_HUB_OFFLINE", "1: use only the local cache and open no network connection."),
    ("HF_XET_HIGH_PERFORMANCE", "1: hf_xet uses more connections and memory (--high-performance)."),
    ("MODELSCOPE_CACHE", "Where ModelScope repositories are cached."),
    ("MODELSCOPE_ENDPOINT", "ModelScope hub URL, scheme included."),
    ("MODELSCOPE_API_TOKEN", "ModelScope access token for private repositories; never printed."),
    ("VLLM_USE_MODELSCOPE", "1: repository ids without a scheme refer to ModelScope (as in vLLM)."),
    ("WEIGHTLIB_SOURCE", "Default hub for repository ids: hf (huggingface) or modelscope (ms)."),
    ("WEIGHTLIB_OFFLINE", "1: like HF_HUB_OFFLINE, for either hub."),
    ("WEIGHTLIB_RETRIES", "Retries per file after a transient failure (default 5)."),
    ("WEIGHTLIB_RETRY_BASE_DELAY", "First retry delay in seconds, doubled each time (default 1)."),
    ("WEIGHTLIB_LIST_TIMEOUT", "Timeout in seconds of a repository listing request (default 30)."),
    ("WEIGHTLIB_PROGRESS_INTERVAL", "Seconds between plain progress lines (default 5)."),
    ("WEIGHTLIB_HF_TRANSFER", "0: never use hf_transfer, even when installed."),
    ("WEIGHTLIB_HF_TRANSFER_MIN_BYTES", "Smallest file that uses hf_transfer (default 16 MiB)."),
    ("WEIGHTLIB_HF_TRANSFER_CONNECTIONS", "Connections per file with hf_transfer (default 32)."),
    ("WEIGHTLIB_HF_TRANSFER_CHUNK", "Bytes per ranged request with hf_transfer."),
    ("NO_COLOR", "Set to any value: no colour, even on a terminal."),
)
