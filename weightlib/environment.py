"""What this machine offers weightlib: package versions, caches, endpoints, tokens, kernel features.

Gathered for `weightlib doctor` (bug reports and entrypoint preflight). Nothing heavy is imported:
versions come from package metadata, and no token value is ever read into the result.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .diskspace import existing_ancestor, free_bytes
from .fs import get_fs_type
from .hub.source import HF, env_source

PACKAGES = (
    "weightlib",
    "huggingface_hub",
    "hf_xet",
    "hf_transfer",
    "modelscope",
    "safetensors",
    "torch",
    "typer",
    "rich",
    "filelock",
)

OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "WEIGHTLIB_OFFLINE")
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


def package_version(name: str) -> str | None:
    """The installed version of a distribution, or None (read from metadata, not imported)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def env_flag(name: str) -> bool:
    """True when environment variable `name` is set to a true value (1, true, yes, on)."""
    return os.environ.get(name, "").strip().lower() in TRUE_VALUES


def offline_flags() -> dict[str, bool]:
    """Each offline variable, on only when it makes weightlib offline (`env_offline`'s rule:
    the client reads `TRANSFORMERS_OFFLINE` only while `HF_HUB_OFFLINE` is unset)."""
    flags = {name: env_flag(name) for name in OFFLINE_FLAGS}
    if os.environ.get("HF_HUB_OFFLINE"):
        flags["TRANSFORMERS_OFFLINE"] = False
    return flags


def hf_home() -> Path:
    """`HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`."""
    if "HF_HOME" in os.environ:
        return Path(os.environ["HF_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    return Path(xdg).expanduser() / "huggingface"


def hf_hub_cache() -> Path:
    """Where huggingface_hub keeps repositories: `HF_HUB_CACHE`, else `HF_HOME/hub`."""
    if "HF_HUB_CACHE" in os.environ:
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if "HUGGINGFACE_HUB_CACHE" in os.environ:
        return Path(os.environ["HUGGINGFACE_HUB_CACHE"]).expanduser()
    return hf_home() / "hub"


def modelscope_cache() -> Path:
    """Where modelscope (≥ 1.38) caches repos: `MODELSCOPE_CACHE` or `~/.cache/modelscope`."""
    if "MODELSCOPE_CACHE" in os.environ:
        return Path(os.environ["MODELSCOPE_CACHE"]).expanduser()
    return Path.home() / ".cache" / "modelscope"


@dataclass
class CacheDirectory:
    """A cache folder in effect, with the filesystem it lives on and the space left there."""

    name: str
    path: str
    exists: bool
    fs_type: str | None
    free_bytes: int | None


def describe_directory(name: str, path: Path) -> CacheDirectory:
    """Facts about `path`, measured on its nearest existing ancestor when it does not exist yet."""
    try:
        free: int | None = free_bytes(path)
    except OSError:
        free = None
    return CacheDirectory(
        name, str(path), path.exists(), get_fs_type(existing_ancestor(path)), free
    )


def redact_url(url: str) -> str:
    """`url` without credentials (`http://user:secret@host` → `http://***@host`)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def token_configured() -> dict[str, bool]:
    """Whether a token is available to each hub, never the token itself."""
    hf_token_file = Path(os.environ.get("HF_TOKEN_PATH", hf_home() / "token"))
    return {
        "huggingface": bool(os.environ.get("HF_TOKEN")) or hf_token_file.is_file(),
        "modelscope": bool(os.environ.get("MODELSCOPE_API_TOKEN")),
    }


def kernel_features() -> dict[str, Any]:
    """The page-cache calls prefetch and status use, as this kernel answers them."""
    features: dict[str, Any] = {"kernel": platform.release(), "platform": sys.platform}
    try:
        from . import linux  # Linux-only syscalls: absent or failing elsewhere

        features["readahead"] = sys.platform.startswith("linux")
        features["cachestat"] = linux.cachestat_available()
    except (ImportError, OSError, AttributeError):
        features["readahead"] = False
        features["cachestat"] = False
    return features


def collect_environment() -> dict[str, Any]:
    """Everything `weightlib doctor` reports, as a JSON-ready dict."""
    caches = [
        describe_directory("HF_HOME", hf_home()),
        describe_directory("HF_HUB_CACHE", hf_hub_cache()),
        describe_directory("MODELSCOPE_CACHE", modelscope_cache()),
    ]
    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "packages": {name: package_version(name) for name in PACKAGES},
        "caches": [asdict(c) for c in caches],
        "endpoints": {
            "huggingface": redact_url(os.environ.get("HF_ENDPOINT", "https://huggingface.co")),
            "modelscope": redact_url(
                os.environ.get("MODELSCOPE_ENDPOINT", "https://www.modelscope.cn")
            ),
        },
        "offline": offline_flags(),
        "source": env_source() or HF,
        "token_configured": token_configured(),
        "hf_xet_high_performance": env_flag("HF_XET_HIGH_PERFORMANCE"),
        "kernel": kernel_features(),
    }
