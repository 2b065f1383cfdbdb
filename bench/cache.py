"""Benchmark: `weightlib cache ls` vs `hf cache ls` on a synthetic Hugging Face cache.

Builds a hub cache in the client's own layout (`models--org--name/` with `blobs/`, `refs/` and
`snapshots/<commit>/` relative links into `../../blobs/`): by default 100 repositories × 100
files = 10,000 files, the shards SPARSE blobs of a few MiB each (truncated, no data written),
the small files (config, tokenizer, a valid `model.safetensors.index.json`) real JSON. Every
fifth repository has a second revision (`refs/v1`) sharing all but two blobs, so blobs shared
between revisions must be counted once. `huggingface_hub.scan_cache_dir()` reads it first (its
warnings are counted), then, with the metadata warm, several rounds in a shuffled order time

  weightlib cache ls --source hf          (human output, to /dev/null)
  weightlib cache ls --source hf --json
  hf cache ls                             (its default output, to /dev/null)
  hf cache ls --json
  weightlib --version                     (start-up alone: the interpreter-start reference)

each a child process with HF_HUB_OFFLINE=1, telemetry and update checks off, a fresh HF_HOME,
proxies pointing at a closed port (no network) and bytecode cached in the temp dir (the first,
untimed run compiles; under PYTHONDONTWRITEBYTECODE every run would). Checks that every command
exits 0 and that the JSON of `weightlib cache ls` reports the repositories, files (distinct
blobs) and bytes (logical sizes, each blob once) the generator wrote; prints medians, minima,
the ratio to `hf cache ls` and the target of the issue: 100 repos / 10,000 files listed in
under 2 s.

    .venv/bin/python bench/cache.py                 # 100 repos × 100 files, 5 rounds
    .venv/bin/python bench/cache.py --quick         # 20 repos × 50 files
    .venv/bin/python bench/cache.py --repos 300 --files 200 --rounds 3 --keep /var/tmp/hfc

Not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
WEIGHTLIB = str(BIN / "weightlib")
HF = str(BIN / "hf")
MIB = 1024 * 1024
ORG = "bench-org"
SMALL_FILES = 5
"""config.json, generation_config.json, tokenizer_config.json, tokenizer/tokenizer.json and the
index: the rest of a repository's files are shards."""
SECOND_REVISION_EVERY = 5
TARGET_REPOS, TARGET_FILES, TARGET_SECONDS = 100, 10_000, 2.0

# ---- the synthetic cache ---------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    """One blob: its name in `blobs/` (sha256 for LFS files, git's sha1 else), size, content."""

    name: str
    size: int
    data: bytes | None = None
    """The bytes of a small file; None for a sparse shard (a hole of `size` bytes)."""


@dataclass
class Expected:
    """What the generator wrote, as `cache ls` should report it."""

    files_per_repo: int
    """Files of one revision (the `--files` asked for)."""
    repos: int = 0
    files: int = 0
    """Distinct blobs, summed over repositories."""
    bytes: int = 0
    """Logical sizes of the distinct blobs."""
    links: int = 0
    revisions: int = 0
    per_repo: dict[str, tuple[int, int]] = field(default_factory=dict)
    """repo id → (files, bytes)."""


def fake_commit(seed: str) -> str:
    """A stable 40-hex commit id."""
    return hashlib.sha1(seed.encode()).hexdigest()


def text_blob(data: bytes) -> Blob:
    """A regular (non-LFS) file, named by its git blob id as the hub does."""
    git_id = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return Blob(git_id, len(data), data)


def shard_blob(repo: str, name: str, size: int) -> Blob:
    """A sparse LFS shard, named by a (fake, stable) sha256."""
    return Blob(hashlib.sha256(f"{repo}/{name}/{size}".encode()).hexdigest(), size)


def revision_files(repo: str, count: int, variant: int) -> dict[str, Blob]:
    """The snapshot of one revision: relative path → blob. `variant` 1 changes the config and the
    last shard (two new blobs), everything else is shared with variant 0."""
    shards = count - SMALL_FILES
    names = [f"model-{k:05d}-of-{shards:05d}.safetensors" for k in range(1, shards + 1)]
    weight_map = {f"model.layers.{k}.weight": name for k, name in enumerate(names)}
    config = {"model_type": "llama", "name": repo, "num_hidden_layers": shards, "rev": variant}
    files = {
        "config.json": text_blob(json.dumps(config).encode()),
        "generation_config.json": text_blob(b'{"do_sample": false}'),
        "tokenizer_config.json": text_blob(b'{"model_max_length": 4096}'),
        "tokenizer/tokenizer.json": text_blob(b'{"version": "1.0", "model": {"vocab": {}}}'),
        "model.safetensors.index.json": text_blob(
            json.dumps({"metadata": {}, "weight_map": weight_map}).encode()
        ),
    }
    for k, name in enumerate(names, start=1):
        size = (2 + (k + len(repo)) % 3) * MIB + 8 * k
        if variant and k == shards:
            size += MIB
        files[name] = shard_blob(repo, name, size)
    return files


def write_blob(blobs: Path, blob: Blob) -> None:
    """Write a small blob's bytes, or make a sparse file of the shard's size (no data)."""
    path = blobs / blob.name
    if path.exists():
        return
    with path.open("wb") as handle:
        if blob.data is not None:
            handle.write(blob.data)
        else:
            handle.truncate(blob.size)


def write_repo(root: Path, index: int, count: int, expected: Expected) -> None:
    """One `models--org--name` folder: blobs, one or two snapshots of relative links, refs."""
    repo = f"{ORG}/model-{index:04d}"
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "blobs").mkdir(parents=True)
    variants = [0, 1] if index % SECOND_REVISION_EVERY == 0 else [0]
    refs = {0: "main"} if len(variants) == 1 else {0: "v1", 1: "main"}
    distinct: dict[str, int] = {}
    for variant in variants:
        commit = fake_commit(f"{repo}@{variant}")
        snapshot = folder / "snapshots" / commit
        for rel, blob in revision_files(repo, count, variant).items():
            write_blob(folder / "blobs", blob)
            link = snapshot / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            target = Path(os.path.relpath(folder / "blobs" / blob.name, link.parent))
            link.symlink_to(target)
            distinct[blob.name] = blob.size
            expected.links += 1
        ref = folder / "refs" / refs[variant]
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(commit)  # no newline: the client writes (and reads) the bare commit
    expected.repos += 1
    expected.revisions += len(variants)
    expected.files += len(distinct)
    expected.bytes += sum(distinct.values())
    expected.per_repo[repo] = (len(distinct), sum(distinct.values()))


def build_cache(root: Path, repos: int, files: int) -> Expected:
    """`repos` repositories of `files` files each (plus the second revisions) under `root`."""
    expected = Expected(files)
    for index in range(repos):
        write_repo(root, index, files, expected)
    return expected


def check_scan(root: Path, expected: Expected) -> None:
    """huggingface_hub's own scan of the folder: warnings (corrupted repos) and its totals."""
    from huggingface_hub import scan_cache_dir

    began = time.perf_counter()
    info = scan_cache_dir(root)
    seconds = time.perf_counter() - began
    print(f"scan_cache_dir: {len(info.warnings)} warnings, {seconds:.2f} s in-process")
    for warning in info.warnings[:5]:
        print(f"  {warning}")
    files = sum(r.nb_files for r in info.repos)
    report("scan_cache_dir has no warnings", not info.warnings, f"{len(info.warnings)}")
    report(
        "scan_cache_dir agrees with the generator",
        (len(info.repos), files, info.size_on_disk)
        == (expected.repos, expected.files, expected.bytes),
        f"{len(info.repos)} repos, {files} files, {info.size_on_disk} bytes",
    )


# ---- running the commands --------------------------------------------------------------------

FAILURES: list[str] = []


def report(check: str, passed: bool, detail: str = "") -> None:
    """Print one sanity check as PASS/FAIL (and remember the failures for the exit code)."""
    print(f"{'PASS' if passed else 'FAIL'}  {check}" + (f"  ({detail})" if detail else ""))
    if not passed:
        FAILURES.append(check)


def child_env(work: Path) -> dict[str, str]:
    """The environment of every command: offline, no telemetry, a fresh HF_HOME, no network;
    bytecode cached in `work` (as an installed package has it, without writing to the tree)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # else every run compiles the modules it imports
    dead = "http://127.0.0.1:9"  # the discard port: any request through a proxy fails at once
    env.update(
        PYTHONPYCACHEPREFIX=str(work / "pycache"),
        HF_HOME=str(work / "hf-home"),
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_UPDATE_CHECK="1",
        HTTP_PROXY=dead,
        HTTPS_PROXY=dead,
        http_proxy=dead,
        https_proxy=dead,
        NO_PROXY="",
        no_proxy="",
    )
    return env


def commands(root: Path) -> dict[str, list[str]]:
    """Name → command line."""
    ours = [WEIGHTLIB, "cache", "ls", "--cache-dir", str(root), "--source", "hf"]
    theirs = [HF, "cache", "ls", "--cache-dir", str(root)]
    return {
        "weightlib cache ls": ours,
        "weightlib cache ls --json": [*ours, "--json"],
        "hf cache ls": theirs,
        "hf cache ls --json": [*theirs, "--json"],
        "weightlib --version": [WEIGHTLIB, "--version"],
    }


def run(argv: list[str], env: dict[str, str], capture: bool) -> tuple[float, int, str, str]:
    """Wall seconds, exit code, stdout (if `capture`, else sent to /dev/null) and stderr."""
    stdout = subprocess.PIPE if capture else subprocess.DEVNULL
    began = time.perf_counter()
    done = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, env=env, timeout=600)
    seconds = time.perf_counter() - began
    out = done.stdout.decode(errors="replace") if capture else ""
    return seconds, done.returncode, out, done.stderr.decode(errors="replace")


def check_outputs(methods: dict[str, list[str]], env: dict[str, str], expected: Expected) -> None:
    """One untimed run of each command (it also warms the metadata): exit codes and numbers."""
    outputs: dict[str, str] = {}
    for name, argv in methods.items():
        seconds, code, out, err = run(argv, env, capture=True)
        report(f"{name} exits 0", code == 0, f"exit {code}, {seconds:.2f} s" + _tail(err))
        outputs[name] = out
    check_weightlib_json(outputs["weightlib cache ls --json"], expected)
    last = outputs["weightlib cache ls"].rstrip().splitlines()[-1:] or [""]
    wanted = f"total: {expected.repos} repositories, {expected.files} files,"
    report("weightlib cache ls prints the total line", last[0].startswith(wanted), last[0])
    try:
        hf_count = len(json.loads(outputs["hf cache ls --json"]))
    except (ValueError, TypeError):
        hf_count = -1
    report("hf cache ls --json lists every repo", hf_count == expected.repos, f"{hf_count}")


def _tail(err: str) -> str:
    return f"; stderr: {err.strip()[-500:]}" if err.strip() else ""


def check_weightlib_json(text: str, expected: Expected) -> None:
    """The totals and every repository of `weightlib cache ls --json` against the generator."""
    try:
        document = json.loads(text)
        total, repos = document["total"], document["repos"]
    except (ValueError, KeyError, TypeError) as error:
        report("weightlib cache ls --json parses", False, repr(error))
        return
    report("json: repos", total["repos"] == expected.repos, f"{total['repos']}/{expected.repos}")
    report("json: files", total["files"] == expected.files, f"{total['files']}/{expected.files}")
    report("json: bytes", total["bytes"] == expected.bytes, f"{total['bytes']}/{expected.bytes}")
    seen = {r["repo"]: (r["files"], r["bytes"]) for r in repos}
    wrong = [repo for repo, want in expected.per_repo.items() if seen.get(repo) != want]
    report("json: files and bytes of each repo", not wrong, f"{len(wrong)} differ {wrong[:3]}")
    revisions = sum(len(r["revisions"]) for r in repos)
    report("json: revisions", revisions == expected.revisions, f"{revisions}/{expected.revisions}")
    states = sorted({r["state"] for r in repos})
    report("json: every repo complete", states == ["complete"], ", ".join(states))
    report("json: no errors", not document.get("errors"), f"{document.get('errors')}"[:200])


def run_rounds(
    methods: dict[str, list[str]], env: dict[str, str], rounds: int
) -> dict[str, list[float]]:
    """Every command once per round, in a shuffled order; wall seconds per command."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    rng = random.Random(1)
    for round_number in range(rounds):
        order = list(methods)
        rng.shuffle(order)
        for name in order:
            seconds, code, _out, err = run(methods[name], env, capture=False)
            if code != 0:
                report(f"{name} exits 0 (round {round_number + 1})", False, f"{code}{_tail(err)}")
            times[name].append(seconds)
        line = "  ".join(f"{n} {times[n][-1]:.2f}" for n in methods)
        print(f"round {round_number + 1}: {line}", file=sys.stderr)
    return times


# ---- the report ------------------------------------------------------------------------------


def print_table(times: dict[str, list[float]], expected: Expected, rounds: int) -> None:
    """Median, minimum, median minus start-up, and the ratio to `hf cache ls` per command."""
    med = {name: statistics.median(values) for name, values in times.items()}
    startup, hf = med["weightlib --version"], med["hf cache ls"]
    print(
        f"\n{expected.repos} repos × {expected.files_per_repo} files, {expected.revisions} "
        f"revisions: {expected.links:,} links to {expected.files:,} distinct blobs, "
        f"{expected.bytes / 1024**3:.1f} GiB logical; {rounds} rounds, warm metadata:"
    )
    print(f"{'command':<28} {'median s':>9} {'min s':>7} {'- start-up':>10} {'/ hf cache ls':>13}")
    for name, values in times.items():
        print(
            f"{name:<28} {med[name]:9.3f} {min(values):7.3f} {med[name] - startup:10.3f} "
            f"{med[name] / hf:12.2f}x"
        )
    ours = med["weightlib cache ls"]
    nominal = expected.repos * expected.files_per_repo
    size = ""
    if (expected.repos, nominal) != (TARGET_REPOS, TARGET_FILES):
        size = f" (measured at {expected.repos} repos / {nominal:,} files: not the target size)"
    verdict = "met" if ours < TARGET_SECONDS else "NOT met"
    print(
        f"\ntarget: {TARGET_REPOS} repos / {TARGET_FILES:,} files listed in under "
        f"{TARGET_SECONDS:g} s: weightlib cache ls median {ours:.3f} s: {verdict}{size}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=100, help="repositories (default 100)")
    parser.add_argument("--files", type=int, default=100, help="files per repository (100)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--quick", action="store_true", help="20 repos × 50 files")
    parser.add_argument("--keep", metavar="DIR", help="build the cache in DIR and keep it")
    args = parser.parse_args()
    if args.quick:
        args.repos, args.files = 20, 50
    if args.files <= SMALL_FILES or args.repos < 1 or args.rounds < 1:
        parser.error(f"need --repos ≥ 1, --files > {SMALL_FILES} and --rounds ≥ 1")
    if args.keep and Path(args.keep).exists() and any(Path(args.keep).iterdir()):
        parser.error(f"--keep {args.keep}: the folder is not empty")

    work = Path(tempfile.mkdtemp(prefix="weightlib-bench-cache-"))
    root = Path(args.keep).absolute() if args.keep else work / "hub"
    root.mkdir(parents=True, exist_ok=True)
    try:
        print(f"building {args.repos} × {args.files} files in {root} …", file=sys.stderr)
        began = time.perf_counter()
        expected = build_cache(root, args.repos, args.files)
        print(f"built in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        check_scan(root, expected)
        methods = commands(root)
        env = child_env(work)
        check_outputs(methods, env, expected)
        times = run_rounds(methods, env, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(times, expected, args.rounds)
    if FAILURES:
        raise SystemExit(f"\n{len(FAILURES)} sanity check(s) failed: {', '.join(FAILURES)}")


if __name__ == "__main__":
    main()
