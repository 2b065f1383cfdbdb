"""Parse a model reference: `org/name`, `org/name@rev`, `hf://org/name`, `hf://datasets/org/name`,
`ms://org/name` / `modelscope://org/name`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidInputError
from ..safepath import unsafe_reason

SOURCES = ("hf", "modelscope")
_SCHEMES = {"hf": "hf", "huggingface": "hf", "ms": "modelscope", "modelscope": "modelscope"}
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_REPO_ID = 96
"""The Hugging Face Hub's limit on a repository id's length (its client refuses longer ones)."""


@dataclass(frozen=True)
class ModelRef:
    """A repository on a hub, with the revision asked for (None: the default branch)."""

    source: str
    repo: str
    revision: str | None = None
    repo_type: str = "model"

    def __str__(self) -> str:
        prefix = "datasets/" if self.repo_type == "dataset" else ""
        scheme = "hf://" if self.source == "hf" else "ms://"
        at = f"@{self.revision}" if self.revision else ""
        return f"{scheme}{prefix}{self.repo}{at}"


def _split_scheme(text: str, body: str, source: str | None) -> tuple[str, str]:
    """(hub, rest) from an optional `scheme://` prefix, which must agree with `source`."""
    ref_source = None
    if "://" in body:
        scheme, body = body.split("://", 1)
        ref_source = _SCHEMES.get(scheme.lower())
        if ref_source is None:
            raise InvalidInputError(
                f"{text}: unknown hub scheme {scheme!r}; use hf://, ms:// or modelscope://"
            )
    if source is not None and source not in SOURCES:
        raise InvalidInputError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    if ref_source and source and ref_source != source:
        raise InvalidInputError(
            f"{text}: the reference names {ref_source} but --source is {source}"
        )
    return ref_source or source or "hf", body


def _split_revision(text: str, body: str, revision: str | None) -> tuple[str, str | None]:
    """(rest, revision) from an optional `@rev` suffix, which must agree with `--revision`."""
    if revision is not None and not revision.strip():
        raise InvalidInputError("--revision is empty: give a branch, tag or commit")
    ref_revision = None
    if "@" in body:
        body, ref_revision = body.rsplit("@", 1)
        if not ref_revision:
            raise InvalidInputError(f"{text}: empty revision after '@'")
    if ref_revision and revision and ref_revision != revision:
        raise InvalidInputError(
            f"{text}: revision {ref_revision!r} in the reference differs from "
            f"--revision {revision!r}"
        )
    final = ref_revision or revision
    if final is not None and unsafe_reason(final) is not None:
        raise InvalidInputError(f"{final!r}: not a valid revision ({unsafe_reason(final)})")
    return body, final


def _split_repo(text: str, body: str, source: str) -> tuple[str, str]:
    """(repo id, repo type) from `org/name`, `datasets/org/name` or `models/org/name`."""
    repo_type = "model"
    parts = body.strip("/").split("/")
    if len(parts) == 3 and parts[0] in ("datasets", "models"):
        repo_type = "dataset" if parts[0] == "datasets" else "model"
        parts = parts[1:]
    if len(parts) != 2 or not all(_PART.match(p) and ".." not in p for p in parts):
        raise InvalidInputError(
            f"{text[:120]}: not a repository id; expected org/name (or hf://org/name)"
        )
    repo = "/".join(parts)
    if source == "hf" and (len(repo) > MAX_REPO_ID or "--" in repo):
        raise InvalidInputError(
            f"{text[:120]}: not a valid repository id (at most {MAX_REPO_ID} characters, no '--')"
        )
    return repo, repo_type


def parse_model_ref(
    text: str, *, revision: str | None = None, source: str | None = None
) -> ModelRef:
    """Split `text` into hub, repo id, repo type and revision; malformed input is InvalidInputError.

    `revision` (from `--revision`) must agree with an `@rev` suffix when both are given.
    `source` (`hf`/`modelscope`) must agree with a `scheme://` prefix.
    """
    final_source, body = _split_scheme(text, text.strip(), source)
    body, final_revision = _split_revision(text, body, revision)
    repo, repo_type = _split_repo(text, body, final_source)
    return ModelRef(final_source, repo, final_revision, repo_type)
