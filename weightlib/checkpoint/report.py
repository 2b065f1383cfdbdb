"""What `weightlib index` reports of a checkpoint: shards in load order, gaps and broken files.

Problems are collected rather than raised, so one corrupt shard does not hide the others.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from ..errors import AuthError, IntegrityError, MissingShardsError, NotFoundError, WeightlibError
from ..index import parse_index
from ..safetensors_header import SafetensorsHeader, read_header_with
from ..shards import require_weights
from .local import Checkpoint, select_checkpoint_weights


@dataclass
class ShardSummary:
    """One weight file as `weightlib index` reports it."""

    file: str
    tensors: int | None
    """Tensor count from the safetensors header (or the .bin index); None when unknown."""
    bytes: int
    dtypes: list[str]


@dataclass
class CheckpointReport:
    """What `weightlib index` found: shards in load order, what is missing and what is broken."""

    model: str
    format: str | None
    index_file: str | None
    shards: list[ShardSummary] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errors: list[WeightlibError] = field(default_factory=list)

    @property
    def total_tensors(self) -> int:
        return sum(s.tensors or 0 for s in self.shards)

    @property
    def total_bytes(self) -> int:
        return sum(s.bytes for s in self.shards)

    def raise_for_problems(self) -> None:
        """Raise the first problem as its typed error (missing shards before corrupt files)."""
        if self.missing:
            raise MissingShardsError(f"{self.model}/{self.index_file}", self.missing)
        if self.errors:
            raise self.errors[0]


def _header_of(checkpoint: Checkpoint, path: str, size: int) -> SafetensorsHeader:
    source = f"{checkpoint.name}/{path}"
    try:
        return read_header_with(
            lambda start, length: checkpoint.read_range(path, start, length), size, source
        )
    except NotFoundError:
        raise
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise AuthError(f"{source}: permission denied") from None
        raise IntegrityError(f"{source}: cannot read header ({exc.strerror or exc})") from None


def describe_checkpoint(checkpoint: Checkpoint, fmt: str = "auto") -> CheckpointReport:
    """Summarise every selected shard from its header (safetensors) or the index (.bin).

    Problems are collected, not raised, so one corrupt shard does not hide the others.
    Raises `NoWeightFilesError` only when there is nothing to describe.
    """
    selection = select_checkpoint_weights(checkpoint, fmt)
    if not selection.files and not selection.missing:
        require_weights(selection, checkpoint.name)
    sizes = checkpoint.file_sizes()
    report = CheckpointReport(checkpoint.name, selection.format, selection.index_file)
    report.missing = list(selection.missing)
    index_tensors: dict[str, list[str]] = {}
    index_name = selection.index_file
    if index_name and index_name in sizes:
        index = parse_index(checkpoint.read_file(index_name), f"{checkpoint.name}/{index_name}")
        index_tensors = index.tensors_by_shard()
        report.index_file = index_name
    for path in selection.files:
        if selection.format != "safetensors":
            named = index_tensors.get(path)
            report.shards.append(
                ShardSummary(path, len(named) if named is not None else None, sizes[path], [])
            )
            continue
        try:
            header = _header_of(checkpoint, path, sizes[path])
        except WeightlibError as exc:
            report.errors.append(exc)
            report.shards.append(ShardSummary(path, None, sizes[path], []))
            continue
        report.shards.append(ShardSummary(path, len(header.tensors), sizes[path], header.dtypes))
        absent = set(index_tensors.get(path, ())) - {t.name for t in header.tensors}
        if absent:
            report.errors.append(
                IntegrityError(
                    f"{checkpoint.name}/{path}: {len(absent)} tensor(s) the index places here are "
                    f"not in the file, e.g. {sorted(absent)[0]!r}"
                )
            )
    return report
