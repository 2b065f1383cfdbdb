"""Which hub a model reference names: `hf://`/`ms://`/`modelscope://`, `--source` or the env.

Precedence: a `scheme://` prefix, then `--source`, then `WEIGHTLIB_SOURCE`, then vLLM's
`VLLM_USE_MODELSCOPE=1`; otherwise Hugging Face. The default revision differs per hub
(`main` on Hugging Face, `master` on ModelScope).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..errors import InvalidInputError
from .refs import SOURCES, ModelRef, parse_model_ref

HF = "hf"
MODELSCOPE = "modelscope"

DEFAULT_REVISIONS = {HF: "main", MODELSCOPE: "master"}
"""The branch a hub serves when no revision is given."""

_ALIASES = {
    "hf": HF,
    "huggingface": HF,
    "hugging-face": HF,
    "ms": MODELSCOPE,
    "modelscope": MODELSCOPE,
}
_SCHEME_PREFIXES = ("hf://", "huggingface://", "ms://", "modelscope://")
_TRUE = ("1", "true", "yes", "on")
VLLM_TRUE = ("1", "true")
"""vLLM's reading of `VLLM_USE_MODELSCOPE` (0.34.0 `envs.py`): on when the stripped, lower-cased
value is one of these; `yes` and `on` are off there, so they are off here too: weightlib and the
server it prepares for must agree which hub a name refers to, or the server looks in the other
cache."""


def normalize_source(value: str | None, *, what: str = "--source") -> str | None:
    """`hf`/`huggingface` → `hf`, `ms`/`modelscope` → `modelscope`; None or empty → None."""
    if value is None or not value.strip():
        return None
    source = _ALIASES.get(value.strip().lower())
    if source is None:
        raise InvalidInputError(
            f"{what} {value!r} is not a hub; use one of {', '.join(SOURCES)} (or ms, huggingface)"
        )
    return source


def env_source(env: Mapping[str, str] | None = None) -> str | None:
    """The hub the environment asks for: `WEIGHTLIB_SOURCE`, else `VLLM_USE_MODELSCOPE` read as
    vLLM reads it (`VLLM_TRUE`)."""
    environ = os.environ if env is None else env
    chosen = normalize_source(environ.get("WEIGHTLIB_SOURCE"), what="WEIGHTLIB_SOURCE")
    if chosen is not None:
        return chosen
    if environ.get("VLLM_USE_MODELSCOPE", "").strip().lower() in VLLM_TRUE:
        return MODELSCOPE
    return None


def has_scheme(model: str) -> bool:
    """True when `model` starts with a hub scheme (`hf://`, `ms://`, `modelscope://`)."""
    return model.strip().lower().startswith(_SCHEME_PREFIXES)


def select_source(
    model: str, source: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The hub for `model`: its scheme, else `source` (`--source`), else the environment, else `hf`.

    A scheme and an explicit `source` that disagree are an InvalidInputError; the environment
    never overrides a scheme.
    """
    explicit = normalize_source(source)
    if has_scheme(model):
        scheme = model.strip().split("://", 1)[0].lower()
        named = _ALIASES[scheme]
        if explicit is not None and explicit != named:
            raise InvalidInputError(
                f"{model}: the reference names {named} but --source is {explicit}"
            )
        return named
    if explicit is not None:
        return explicit
    return env_source(env) or HF


def resolve_model_ref(
    model: str,
    *,
    revision: str | None = None,
    source: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ModelRef:
    """Parse `model` with the hub `select_source` chooses; the revision stays None if not given."""
    return parse_model_ref(model, revision=revision, source=select_source(model, source, env))


def uses_modelscope(
    model: str, source: str | None = None, env: Mapping[str, str] | None = None
) -> bool:
    """True when `model` is to be fetched from ModelScope (scheme, `source` or environment)."""
    return select_source(model, source, env) == MODELSCOPE


def default_revision(source: str) -> str:
    """`main` for Hugging Face, `master` for ModelScope."""
    return DEFAULT_REVISIONS[normalize_source(source) or HF]


ENDPOINT_VARIABLES = {HF: "HF_ENDPOINT", MODELSCOPE: "MODELSCOPE_ENDPOINT"}
"""The environment variable each hub's client reads its server address from."""


def check_endpoint_env(source: str, env: Mapping[str, str] | None = None) -> None:
    """Refuse (exit 2, at once) a hub endpoint variable that is not an http(s) URL with a host,
    instead of letting the client retry a request that can never be made."""
    variable = ENDPOINT_VARIABLES[source]
    value = (os.environ if env is None else env).get(variable, "").strip()
    if not value:
        return
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # ValueError for a port that is not a number
    except ValueError:
        valid = False
    if not valid:
        raise InvalidInputError(
            f"{variable} is not an http(s) URL with a host (e.g. https://hub.example.com)"
        )


def env_offline(env: Mapping[str, str] | None = None) -> bool:
    """True when the environment forbids network access: `WEIGHTLIB_OFFLINE`, or the hub
    client's own rule (`HF_HUB_OFFLINE`, else `TRANSFORMERS_OFFLINE`), so weightlib and the
    libraries of the server it prepares for never disagree about being offline."""
    environ = os.environ if env is None else env
    client = environ.get("HF_HUB_OFFLINE") or environ.get("TRANSFORMERS_OFFLINE") or ""
    return any(v.strip().lower() in _TRUE for v in (environ.get("WEIGHTLIB_OFFLINE", ""), client))


def offline_requested(offline: bool | None = None) -> bool:
    """The one offline decision: an explicit `offline` (`--offline`), else the environment."""
    return env_offline() if offline is None else offline


__all__ = [
    "DEFAULT_REVISIONS",
    "HF",
    "MODELSCOPE",
    "check_endpoint_env",
    "default_revision",
    "env_offline",
    "env_source",
    "has_scheme",
    "normalize_source",
    "offline_requested",
    "resolve_model_ref",
    "select_source",
    "uses_modelscope",
]
