"""The systemd units (checked by systemd-analyze) and the cron file (a name cron reads, valid
fields, output kept out of mail)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import WEIGHTLIB
from tests.recipes import DEPLOY

SYSTEMD = DEPLOY / "systemd"
CRON = DEPLOY / "cron"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not found")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    service = (SYSTEMD / "weightlib-warm.service").read_text()
    # The one machine-specific part: where `weightlib` is. Point it at the command under test.
    assert re.search(r"^ExecStart=weightlib ", service, re.M)
    (tmp_path / "weightlib-warm.service").write_text(
        service.replace("ExecStart=weightlib ", f"ExecStart={WEIGHTLIB} ")
    )
    shutil.copy(SYSTEMD / "weightlib-warm.timer", tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "weightlib-warm.service", "weightlib-warm.timer"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not found")
def test_systemd_analyze_finds_faults(tmp_path: Path) -> None:
    # guards the test above: a unit whose command does not exist must fail
    (tmp_path / "bad.service").write_text("[Service]\nExecStart=/no/such/weightlib\n")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "bad.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0


def test_timer_is_monotonic_and_sets_nothing_that_only_calendar_timers_read() -> None:
    timer = (SYSTEMD / "weightlib-warm.timer").read_text()
    settings = [line.split("=", 1)[0] for line in timer.splitlines() if "=" in line]
    assert {"OnBootSec", "OnUnitActiveSec"} <= set(settings)
    assert "OnCalendar" not in settings and "Persistent" not in settings


CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def cron_jobs(text: str) -> list[list[str]]:
    """The job lines of an /etc/cron.d file (not comments or VAR=value lines), split in fields."""
    return [
        line.split(None, 6)
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#") and "=" not in line.split()[0]
    ]


def test_cron_file_has_a_name_debian_cron_reads() -> None:
    (only,) = list(CRON.iterdir())
    # Debian's cron reads /etc/cron.d names made of letters, digits, '_' and '-' only (no dot).
    assert re.fullmatch(r"[A-Za-z0-9_-]+", only.name), only.name


def test_cron_jobs_are_valid_and_log_instead_of_mailing() -> None:
    text = (CRON / "weightlib-warm").read_text()
    assert text.endswith("\n")  # cron ignores a last line without a newline
    (job,) = cron_jobs(text)
    for field, (low, high) in zip(job[:5], RANGES, strict=True):
        assert CRON_FIELD.match(field), field
        for number in map(int, re.findall(r"(?<!/)\b\d+", field)):
            assert low <= number <= high, field
    user, command = job[5], job[6]
    assert user == "root" and command.startswith("weightlib ")
    assert "%" not in command.replace("\\%", "")  # a bare % ends the command in cron
    assert re.search(r">>\s*\S+\s+2>&1\s*$", command)  # no mail every 10 minutes
