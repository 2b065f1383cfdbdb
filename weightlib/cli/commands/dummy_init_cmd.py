"""`weightlib dummy-init MODEL --output DIR`: MODEL's tensor layout, seeded random values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..completion import complete_dtype
from ..examples import Example, add_command
from ..output import emit, format_bytes, print_line, silent
from ..params import ForceOverwrite, Json, Model
from ..progress import byte_progress, running

if TYPE_CHECKING:
    from weightlib.dummy import DummyResult

EXAMPLES = (
    Example(
        "A random-weight copy of a hub model for load tests, no weight bytes fetched:",
        "weightlib dummy-init Qwen/Qwen2.5-7B-Instruct --output /tmp/qwen-dummy",
    ),
    Example(
        "Reproducible bf16 values, replacing an earlier output:",
        "weightlib dummy-init ./model -o ./dummy --seed 0 --dtype bf16 --force",
    ),
)

QUIET = "nothing on stdout"

DTYPE_HELP = (
    "Dtype of floating tensors: keep, bf16, fp16 or fp32 "
    "(fp8/fp4 quantized tensors keep theirs; integer tensors are never converted)."
)
Output = Annotated[str, typer.Option("--output", "-o", metavar="DIR", help="Folder to write.")]
Seed = Annotated[
    int, typer.Option(metavar="N", help="Seed; each tensor re-seeds its generator with it.")
]
Low = Annotated[float, typer.Option(metavar="X", help="Lower bound of the uniform values.")]
High = Annotated[float, typer.Option(metavar="X", help="Upper bound of the uniform values.")]
Dtype = Annotated[
    str, typer.Option(metavar="DTYPE", help=DTYPE_HELP, autocompletion=complete_dtype)
]


def print_summary(result: DummyResult) -> None:
    """One line: where, how many files and tensors, how many bytes, how long."""
    print_line(
        f"{result.output}: {len(result.files)} files, {result.tensors} tensors, "
        f"{format_bytes(result.bytes)} in {result.seconds:.1f}s"
    )


def dummy_init_command(
    model: Model,
    output: Output,
    seed: Seed = 1234,
    low: Low = -1e-3,
    high: High = 1e-3,
    dtype: Dtype = "keep",
    force: ForceOverwrite = False,
    as_json: Json = False,
) -> None:
    """Write MODEL's tensor layout with seeded random values.

    Only the safetensors headers and the index of MODEL are read. Floating tensors get
    uniform(LOW, HIGH) from a generator re-seeded with SEED per tensor (vLLM's dummy weights);
    integer and bool tensors are zeros. Config and tokenizer files are copied. Every file is
    written to a temp file and renamed when complete; the index comes last.
    """
    # start-up: weightlib.dummy costs ~14 ms; only dummy-init needs it
    from weightlib.dummy import check_dummy_options, plan_dummy_checkpoint, write_dummy_checkpoint

    check_dummy_options(low, high, dtype)
    plan = plan_dummy_checkpoint(model, dtype)
    progress = byte_progress("dummy-init")  # a bar on a terminal; no plain lines otherwise
    with running(progress, plan.data_bytes):
        result = write_dummy_checkpoint(
            plan,
            output,
            seed=seed,
            low=low,
            high=high,
            force=force,
            progress=None if progress is None else progress.add,
        )
    emit(result, render=print_summary, quiet_render=silent)


def register(app: typer.Typer) -> None:
    """Add `dummy-init` to the app."""
    add_command(app, "dummy-init", dummy_init_command, EXAMPLES)
