"""What this machine offers weightlib: package versions, caches, endpoints, tokens, memory,
kernel features.

Gathered for `weightlib doctor` (bug reports and entrypoint preflight). Nothing heavy is imported:
versions come from package metadata, and no token value is ever read into the result. The
network is touched only when asked (`check_endpoints`): one HEAD request per endpoint.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import first_touch
from .diskspace import existing_ancestor, free_bytes
from .fs import get_fs_type
from .hub.source import HF, env_source, offline_requested
from .memory import UNLIMITED, memory_view, parse_memory_limit

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
ENDPOINT_TIMEOUT = 5.0
"""Seconds `check_endpoints` waits for each endpoint's answer."""


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
    """The page-cache calls prefetch and status use, as this kernel answers them, and the
    measured first-touch cost `prefetch --method auto` decides by (`weightlib.first_touch`)."""
    features: dict[str, Any] = {"kernel": platform.release(), "platform": sys.platform}
    try:
        from . import linux  # Linux-only syscalls: absent or failing elsewhere

        features["readahead"] = sys.platform.startswith("linux")
        features["cachestat"] = linux.cachestat_available()
    except (ImportError, OSError, AttributeError):
        features["readahead"] = False
        features["cachestat"] = False
    cost = first_touch.measure_in()
    features["first_touch_ns_per_page"] = None if cost is None else round(cost, 1)
    features["prefetch_auto_method"] = "copy" if first_touch.is_costly(cost) else "sendfile"
    return features


def endpoints() -> dict[str, str]:
    """The hub URL each hub's client uses (`HF_ENDPOINT`, `MODELSCOPE_ENDPOINT`, or its default)."""
    return {
        "huggingface": os.environ.get("HF_ENDPOINT", "https://huggingface.co"),
        "modelscope": os.environ.get("MODELSCOPE_ENDPOINT", "https://www.modelscope.cn"),
    }


def _known(n: int | None) -> int | None:
    """`n`, or None for the guard's stand-in for "no figure" (`UNLIMITED` and above)."""
    return None if n is None or n >= UNLIMITED else n


def memory_report(default_max_memory: str) -> dict[str, Any]:
    """What prefetch's memory guard sees (`weightlib.memory.memory_view`), and the bytes the
    default `--max-memory` (`default_max_memory`, e.g. `90%`) allows with it."""
    view = memory_view()
    available = _known(view.available)
    cgroup = view.cgroup
    return {
        "mem_available_bytes": view.mem_available,
        "cgroup": None
        if cgroup is None
        else {
            "version": cgroup.version,
            "path": cgroup.path,
            "limit_bytes": cgroup.limit,
            "usage_bytes": cgroup.usage,
            "inactive_file_bytes": cgroup.inactive_file,
            "headroom_bytes": cgroup.headroom,
        },
        "available_bytes": available,
        "default_max_memory": default_max_memory,
        "default_max_memory_bytes": None
        if available is None
        else parse_memory_limit(default_max_memory, available, "default --max-memory"),
    }


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer: one request per endpoint, never a second one."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def check_endpoint(url: str, timeout: float = ENDPOINT_TIMEOUT) -> dict[str, Any]:
    """One HEAD request to `url` (credentials in it are not sent): whether an HTTP answer came
    within `timeout` seconds, its status, how long it took, or why there was none."""
    parts = urlsplit(url)
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))
    opener = urllib.request.build_opener(_NoRedirect)  # proxies from the environment, as clients
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    try:
        with opener.open(urllib.request.Request(bare, method="HEAD"), timeout=timeout) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:  # 3xx, 4xx, 5xx: the server answered
        status = exc.code
    except urllib.error.URLError as exc:
        error = str(exc.reason)
    except (OSError, ValueError) as exc:  # a timeout while reading, a malformed URL
        error = str(exc) or type(exc).__name__
    return {
        "url": redact_url(url),
        "answers": status is not None,
        "status": status,
        "seconds": round(time.monotonic() - started, 3),
        "error": error,
    }


def check_endpoints(urls: dict[str, str]) -> dict[str, dict[str, Any]]:
    """`check_endpoint` for each hub's URL, all at once (so the whole check takes at most one
    timeout); offline, no request is made and each says so."""
    if offline_requested():
        skipped = {"answers": None, "status": None, "seconds": 0.0, "error": "offline"}
        return {hub: {"url": redact_url(url), **skipped} for hub, url in urls.items()}
    with ThreadPoolExecutor(max_workers=len(urls) or 1) as pool:
        answers = {hub: pool.submit(check_endpoint, url) for hub, url in urls.items()}
        return {hub: future.result() for hub, future in answers.items()}


def collect_environment(
    default_max_memory: str, *, with_endpoint_checks: bool = False
) -> dict[str, Any]:
    """Everything `weightlib doctor` reports, as a JSON-ready dict.

    `default_max_memory` is prefetch's default `--max-memory` (the CLI passes the flow's
    `DEFAULT_MAX_MEMORY`); `with_endpoint_checks` adds one HEAD request per endpoint.
    """
    caches = [
        describe_directory("HF_HOME", hf_home()),
        describe_directory("HF_HUB_CACHE", hf_hub_cache()),
        describe_directory("MODELSCOPE_CACHE", modelscope_cache()),
    ]
    urls = endpoints()
    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "packages": {name: package_version(name) for name in PACKAGES},
        "caches": [asdict(c) for c in caches],
        "endpoints": {hub: redact_url(url) for hub, url in urls.items()},
        "endpoint_checks": check_endpoints(urls) if with_endpoint_checks else None,
        "offline": offline_flags(),
        "source": env_source() or HF,
        "token_configured": token_configured(),
        "hf_xet_high_performance": env_flag("HF_XET_HIGH_PERFORMANCE"),
        "memory": memory_report(default_max_memory),
        "kernel": kernel_features(),
    }
