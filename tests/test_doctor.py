"""`weightlib doctor`: versions, caches, endpoints and flags in effect, never a token."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest

import weightlib
from tests.conftest import CliRunner
from tests.helpers import REPO_ROOT, hermetic_env
from tests.hubs.fixtures import running_hub

SECRET = "hf_doctor_secret_value_123"


def test_doctor_json_reports_the_environment(run_cli: CliRunner, tmp_path: Path) -> None:
    env = hermetic_env(
        tmp_path,
        HF_TOKEN=SECRET,
        HF_ENDPOINT="http://127.0.0.1:9",
        HF_HUB_OFFLINE="1",
        VLLM_USE_MODELSCOPE="1",
    )
    result = run_cli("doctor", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["packages"]["weightlib"] == weightlib.__version__
    assert report["packages"]["huggingface_hub"]
    caches = {c["name"]: c for c in report["caches"]}
    assert caches["HF_HOME"]["path"] == str(tmp_path / "hf")
    assert caches["HF_HUB_CACHE"]["path"] == str(tmp_path / "hf" / "hub")
    assert caches["HF_HOME"]["free_bytes"] > 0 and caches["HF_HOME"]["fs_type"]
    assert report["endpoints"]["huggingface"] == "http://127.0.0.1:9"
    assert report["offline"]["HF_HUB_OFFLINE"] is True
    assert report["token_configured"] == {"huggingface": True, "modelscope": False}
    assert report["source"] == "modelscope"
    assert isinstance(report["kernel"]["cachestat"], bool)


def test_doctor_text_without_token(run_cli: CliRunner, tmp_path: Path) -> None:
    result = run_cli("doctor", env=hermetic_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "token configured: huggingface no, modelscope no" in result.stdout
    assert "huggingface: https://huggingface.co" in result.stdout
    assert "default source: hf" in result.stdout


# ---- what prefetch's memory guard sees ------------------------------------------------------


def meminfo_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemAvailable in /proc/meminfo")


def test_doctor_shows_what_the_memory_guard_sees(run_cli: CliRunner, tmp_path: Path) -> None:
    env = hermetic_env(tmp_path)
    memory = json.loads(run_cli("doctor", "--json", env=env).stdout)["memory"]
    assert abs(memory["mem_available_bytes"] - meminfo_available()) < meminfo_available() / 5
    headroom = memory["cgroup"]["headroom_bytes"] if memory["cgroup"] else None
    limits = [memory["mem_available_bytes"], *([headroom] if headroom is not None else [])]
    assert memory["available_bytes"] == min(limits)
    assert memory["default_max_memory"] == "90%"  # prefetch's default, from the flow
    assert memory["default_max_memory_bytes"] == int(memory["available_bytes"] * 0.9)
    text = run_cli("doctor", env=env).stdout
    assert "memory (prefetch's guard):" in text
    shown = re.search(r"\n  default --max-memory 90%: .+ \((\d+) bytes\)\n", text)
    assert shown, text
    assert abs(int(shown.group(1)) - memory["default_max_memory_bytes"]) < 10**9  # moments apart


def test_memory_view_names_the_cgroup_level_in_effect(tmp_path: Path) -> None:
    from weightlib.memory import available_memory_bytes, memory_view

    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/meminfo").write_text("MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n")
    (tmp_path / "proc/self/mounts").write_text("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")
    (tmp_path / "proc/self/cgroup").write_text("0::/outer/inner\n")
    for level, limit, usage in (("outer", "3000000000", "1000000000"), ("outer/inner", "max", "0")):
        folder = tmp_path / "sys/fs/cgroup" / level
        folder.mkdir(parents=True)
        (folder / "memory.max").write_text(limit + "\n")
        (folder / "memory.current").write_text(usage + "\n")
        (folder / "memory.stat").write_text("inactive_file 500000000\n")
    view = memory_view(tmp_path)
    assert view.mem_available == 4000000 * 1024
    assert view.cgroup is not None and view.cgroup.path.endswith("/sys/fs/cgroup/outer")
    assert (view.cgroup.version, view.cgroup.limit, view.cgroup.usage) == (2, 3 * 10**9, 10**9)
    assert view.cgroup.headroom == 2_500_000_000
    assert view.available == 2_500_000_000 == available_memory_bytes(tmp_path)


# ---- --check-endpoints ----------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_check_endpoints_sends_one_head_to_each(run_cli: CliRunner, tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub") as hub:
        closed = f"http://127.0.0.1:{closed_port()}"
        env = hermetic_env(tmp_path, HF_ENDPOINT=hub.url, MODELSCOPE_ENDPOINT=closed)
        mark = hub.mark()
        result = run_cli("doctor", "--check-endpoints", "--json", env=env)
        assert result.returncode == 0, result.stderr
        checks = json.loads(result.stdout)["endpoint_checks"]
        requests = hub.requests(mark)
    assert [(r["method"], r["path"]) for r in requests] == [("HEAD", "/")]
    assert checks["huggingface"]["answers"] is True
    assert checks["huggingface"]["status"] == requests[0]["status"]
    assert checks["huggingface"]["url"] == hub.url
    assert checks["modelscope"]["answers"] is False
    assert checks["modelscope"]["status"] is None
    assert "refused" in checks["modelscope"]["error"].lower()


def test_check_endpoints_text(run_cli: CliRunner, tmp_path: Path) -> None:
    with running_hub(tmp_path / "hub") as hub:
        closed = f"http://127.0.0.1:{closed_port()}"
        env = hermetic_env(tmp_path, HF_ENDPOINT=hub.url, MODELSCOPE_ENDPOINT=closed)
        text = run_cli("doctor", "--check-endpoints", env=env).stdout
    assert re.search(rf"huggingface: {re.escape(hub.url)}: answers \(HTTP \d+, ", text), text
    assert f"modelscope: {closed}: no answer: " in text


@pytest.mark.parametrize(
    ("args", "offline"),
    [(("doctor", "--json"), "0"), (("doctor", "--check-endpoints", "--json"), "1")],
)
def test_no_request_unless_asked_and_online(
    run_cli: CliRunner, tmp_path: Path, args: tuple[str, ...], offline: str
) -> None:
    with running_hub(tmp_path / "hub") as hub:
        env = hermetic_env(tmp_path, HF_ENDPOINT=hub.url, HF_HUB_OFFLINE=offline)
        mark = hub.mark()
        result = run_cli(*args, env=env)
        assert result.returncode == 0, result.stderr
        assert hub.requests(mark) == []
    checks = json.loads(result.stdout)["endpoint_checks"]
    if offline == "1":
        assert checks["huggingface"] == {
            "url": hub.url,
            "answers": None,
            "status": None,
            "seconds": 0.0,
            "error": "offline",
        }
    else:
        assert checks is None


def test_an_endpoint_that_never_answers_times_out() -> None:
    from weightlib.environment import ENDPOINT_TIMEOUT, check_endpoint

    assert ENDPOINT_TIMEOUT == 5.0
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        started = time.monotonic()
        check = check_endpoint(f"http://127.0.0.1:{port}/", timeout=0.5)
    assert time.monotonic() - started < 3
    assert check["answers"] is False and "timed out" in check["error"]


def test_readme_documents_every_field(run_cli: CliRunner, tmp_path: Path) -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### `weightlib doctor", 1)[1].split("\n### ", 1)[0]
    documented = re.findall(r'"(\w+)"', section.replace("\n", " "))
    closed = f"http://127.0.0.1:{closed_port()}"  # checked, but no request leaves this machine
    env = hermetic_env(tmp_path, HF_ENDPOINT=closed, MODELSCOPE_ENDPOINT=closed)
    report = json.loads(run_cli("doctor", "--check-endpoints", "--json", env=env).stdout)
    fields = set(report) | set(report["memory"]) | set(report["endpoint_checks"]["huggingface"])
    fields |= set(report["memory"]["cgroup"] or {})
    assert fields <= set(documented), fields - set(documented)
    # the cgroup's fields, documented also where no cgroup limits memory (`cgroup` is null)
    for name in ("version", "path", "limit_bytes", "usage_bytes", "inactive_file_bytes"):
        assert f'"{name}"' in section, name
    assert '"headroom_bytes"' in section
