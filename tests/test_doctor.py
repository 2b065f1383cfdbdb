"""`weightlib doctor`: versions, caches, endpoints and flags in effect, never a token."""

from __future__ import annotations

import json
from pathlib import Path

import weightlib
from tests.conftest import CliRunner
from tests.helpers import hermetic_env

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
