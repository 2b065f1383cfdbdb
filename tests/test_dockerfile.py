"""The Dockerfile: hadolint-clean, multi-stage, slim, non-root, no network at start, extras by arg;
every file it copies is in the build context `.dockerignore` leaves."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from pathlib import Path

from dockerfile_parse import DockerfileParser

from tests.installed import CHECKOUT

HADOLINT = str(Path(sys.executable).with_name("hadolint"))
DOCKERFILE = CHECKOUT / "Dockerfile"


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    """The real hadolint (from the test extra); any finding, down to style, fails."""
    return subprocess.run(
        [HADOLINT, "--failure-threshold", "style", "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_dockerfile_passes_hadolint() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout


def test_hadolint_finds_faults(tmp_path: Path) -> None:
    # guards the test above against a linter that passes everything
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install weightlib\n")
    result = hadolint(bad)
    assert result.returncode == 1 and "DL3007" in result.stdout


def stages() -> list[list[tuple[str, str]]]:
    """(instruction, value) per build stage, in order."""
    parsed = DockerfileParser(path=str(DOCKERFILE))
    found: list[list[tuple[str, str]]] = []
    for item in parsed.structure:
        if item["instruction"] == "FROM":
            found.append([])
        if found and item["instruction"] != "COMMENT":
            found[-1].append((item["instruction"], item["value"]))
    return found


def test_wheel_is_built_in_the_first_stage_and_only_its_venv_is_kept() -> None:
    build, final = stages()
    runs = " ".join(value for instruction, value in build if instruction == "RUN")
    assert "pip wheel" in runs and "${EXTRAS:+[$EXTRAS]}" in runs
    assert ("ARG", 'EXTRAS=""') in build
    assert ("COPY", "--from=build /opt/weightlib /opt/weightlib") in final
    assert not any(instruction == "RUN" and "pip" in value for instruction, value in final)


def test_final_stage_is_slim_unprivileged_and_puts_both_commands_on_path() -> None:
    parsed = DockerfileParser(path=str(DOCKERFILE))
    assert parsed.baseimage.startswith("python:") and "-slim" in parsed.baseimage
    assert len(set(parsed.parent_images)) == 1  # both stages share it: the venv's python exists
    final = dict(stages()[-1])
    user = final["USER"].split(":")[0]
    assert user.isdigit() and int(user) >= 1000
    assert final["ENV"].startswith("PATH=/opt/weightlib/bin:")
    assert json.loads(final["ENTRYPOINT"]) == ["weightlib"]  # exec form: signals reach it


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern decides; `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        bare = pattern.lstrip("!")
        if fnmatch.fnmatch(path, bare) or path.startswith(bare + "/"):
            ignored = not negate
    return ignored


def test_every_copied_source_exists_and_is_in_the_build_context() -> None:
    patterns = [
        line
        for line in (CHECKOUT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    sources = []
    for instruction, value in stages()[0]:
        if instruction == "COPY" and not value.startswith("--from"):
            sources += value.split()[:-1]
    assert "weightlib" in sources and "deploy/entrypoint.sh" in sources
    for source in sources:
        assert (CHECKOUT / source).exists(), source
        assert not _ignored(source, patterns), f"{source} is excluded by .dockerignore"
    assert _ignored("tests", patterns) and _ignored(".venv", patterns)
