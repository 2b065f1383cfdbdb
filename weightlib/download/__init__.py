"""Downloads from a hub: the flow (`flow`), what it selects (`selection`), how files are fetched
(`fetcher`), what it reports (`results`), and vLLM's helper names over it (`vllm`)."""

from __future__ import annotations

from .flow import DownloadOptions, FileSelector, download, run_download
from .results import DownloadProgress, DownloadResult, FileResult
from .selection import DOWNLOAD_FORMATS, select_inference_files
from .vllm import (
    NotCachedError,
    download_safetensors_index_file_from_hf,
    download_weights_from_hf,
    enable_hf_transfer,
    enable_xet_high_performance,
    maybe_download_from_modelscope,
    set_xet_high_performance,
)

__all__ = [
    "DOWNLOAD_FORMATS",
    "DownloadOptions",
    "DownloadProgress",
    "DownloadResult",
    "FileResult",
    "FileSelector",
    "NotCachedError",
    "download",
    "download_safetensors_index_file_from_hf",
    "download_weights_from_hf",
    "enable_hf_transfer",
    "enable_xet_high_performance",
    "maybe_download_from_modelscope",
    "run_download",
    "select_inference_files",
    "set_xet_high_performance",
]
