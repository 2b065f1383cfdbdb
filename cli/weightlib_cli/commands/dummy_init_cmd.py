"""`weightlib dummy-init MODEL --output DIR`: MODEL's tensor layout, seeded random values."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from ..output import (
    OPTIONS,
    byte_progress_bar,
    format_bytes,
    print_json,
    print_line,
    stderr_is_terminal,
)
from ..params import Json, Model

if TYPE_CHECKING:
    from weightlib.dummy import ProgressCallback

DTYPE_HELP = (
    "Dtype of floating tensors: keep, bf16, fp16 or fp32 "
    "(fp8/fp4 quantized tensors keep theirs; integer tensors are never converted)."
)


@contextlib.contextmanager
def _progress(total: int, enabled: bool) -> Iterator[ProgressCallback | None]:
    """A Rich progress bar by bytes on stderr when it is a terminal; otherwise no callback."""
    if not enabled:
        yield None
        return
    written = 0
    with byte_progress_bar("dummy-init", total) as set_done:

        def advance(nbytes: int) -> None:
            nonlocal written
            written += nbytes
            set_done(written)

        yield advance


def dummy_init_command(
    model: Model,
    output: Annotated[str, typer.Option("--output", "-o", metavar="DIR", help="Folder to write.")],
    seed: Annotated[
        int,
        typer.Option(metavar="N", help="Seed; each tensor re-seeds its generator with it."),
    ] = 1234,
    low: Annotated[
        float, typer.Option(metavar="X", help="Lower bound of the uniform values.")
    ] = -1e-3,
    high: Annotated[
        float, typer.Option(metavar="X", help="Upper bound of the uniform values.")
    ] = 1e-3,
    dtype: Annotated[str, typer.Option(metavar="DTYPE", help=DTYPE_HELP)] = "keep",
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty --output (replaces files).")
    ] = False,
    as_json: Json = False,
) -> None:
    """Write MODEL's tensor layout (names, shapes, dtypes, shards) filled with random values.

    Only the safetensors headers and the index of MODEL are read. Floating tensors get
    uniform(LOW, HIGH) from a generator re-seeded with SEED per tensor (vLLM's dummy weights);
    integer and bool tensors are zeros. Config and tokenizer files are copied. Every file is
    written to a temp file and renamed when complete; the index comes last.
    """
    from weightlib.dummy import check_dummy_options, plan_dummy_checkpoint, write_dummy_checkpoint

    check_dummy_options(low, high, dtype)
    plan = plan_dummy_checkpoint(model, dtype)
    show = stderr_is_terminal() and not OPTIONS.quiet
    with _progress(plan.data_bytes, show) as callback:
        result = write_dummy_checkpoint(
            plan, output, seed=seed, low=low, high=high, force=force, progress=callback
        )
    if as_json:
        print_json(result.to_json())
        return
    print_line(
        f"{result.output}: {len(result.files)} files, {result.tensors} tensors, "
        f"{format_bytes(result.bytes)} in {result.seconds:.1f}s"
    )


def register(app: typer.Typer) -> None:
    """Add `dummy-init` to the app."""
    app.command("dummy-init")(dummy_init_command)
