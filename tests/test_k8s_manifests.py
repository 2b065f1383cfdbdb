"""The Kubernetes recipes: valid for a current Kubernetes, one coherent volume and model story,
sized and locked down as the README explains, and the warm loop behaves as its probe expects."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import WEIGHTLIB, hermetic_env, stop_process, wait_for
from tests.layouts import write_checkpoint
from tests.recipes import MANIFESTS, WORKLOADS, manifest, pod_spec, shell_scripts
from weightlib import __version__

KUBERNETES_VALIDATE = str(Path(sys.executable).with_name("kubernetes-validate"))
KUBERNETES_VERSION = "1.37.0"
"""A current release that kubernetes-validate ships schemas for."""


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    """`kubernetes-validate --strict` (unknown fields are errors) of one manifest."""
    return subprocess.run(
        [KUBERNETES_VALIDATE, "--strict", "-k", KUBERNETES_VERSION, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_strictly(path: Path) -> None:
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout


def test_strict_validation_rejects_an_unknown_field(tmp_path: Path) -> None:
    # guards the test above: a misspelt field (what --strict exists for) must fail
    text = (Path(MANIFESTS[0]).parent / "daemonset.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("readOnlyRootFilesystem", "readOnlyRootFileSystem"))
    assert validate(bad).returncode != 0


def container(name: str) -> dict[str, Any]:
    """The one container of a workload manifest."""
    (only,) = pod_spec(manifest(name))["containers"]
    result: dict[str, Any] = only
    return result


@pytest.mark.parametrize("name", WORKLOADS)
def test_pods_run_locked_down_as_the_image_user(name: str) -> None:
    pod = pod_spec(manifest(name))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's user: owns the files
    box = container(name)["securityContext"]
    assert box["readOnlyRootFilesystem"] is True
    assert box["allowPrivilegeEscalation"] is False
    assert box["capabilities"] == {"drop": ["ALL"]}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]


@pytest.mark.parametrize("name", WORKLOADS)
def test_image_is_this_release_not_latest_and_nothing_is_installed_at_start(name: str) -> None:
    box = container(name)
    assert box["image"].endswith(f"/weightlib:{__version__}")
    assert "pip" not in " ".join(box.get("command", []) + box.get("args", []))


def test_both_recipes_share_one_volume_and_one_model_name() -> None:
    volumes = {}
    for name in WORKLOADS:
        pod = pod_spec(manifest(name))
        (models,) = (v for v in pod["volumes"] if v["name"] == "models")
        (mount,) = (m for m in container(name)["volumeMounts"] if m["name"] == "models")
        volumes[name] = (models["hostPath"]["path"], mount["mountPath"])
        assert container(name)["envFrom"] == [{"configMapRef": {"name": "weightlib-model"}}]
        assert pod["nodeSelector"] == {"weightlib/models": "mounted"}
    assert len(set(volumes.values())) == 1
    model_dir = manifest("model.yaml")["data"]["MODEL_DIR"]
    assert model_dir.startswith(volumes["daemonset.yaml"][1] + "/")
    download = ["download", "$(MODEL)", "--local-dir", "$(MODEL_DIR)"]
    assert container("cronjob.yaml")["args"][:4] == download


def test_daemonset_has_no_memory_limit_and_a_readiness_signal() -> None:
    pod = pod_spec(manifest("daemonset.yaml"))
    box = container("daemonset.yaml")
    assert "memory" not in box["resources"].get("limits", {})  # page cache is charged here
    assert "memory" in box["resources"]["requests"]
    (models,) = (v for v in pod["volumes"] if v["name"] == "models")
    assert models["hostPath"]["type"] == "DirectoryOrCreate"
    assert box["readinessProbe"]["exec"]["command"] == ["test", "-e", "/tmp/warm"]
    assert "priorityClassName" not in pod  # a warmer must be the first to go, not the last


def test_cronjob_is_bounded() -> None:
    document = manifest("cronjob.yaml")
    job = document["spec"]["jobTemplate"]["spec"]
    assert document["spec"]["concurrencyPolicy"] == "Forbid"
    assert 0 < job["activeDeadlineSeconds"] <= 24 * 3600
    resources = container("cronjob.yaml")["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]


def run_warm_loop(model_dir: Path, state: Path, home: Path) -> subprocess.Popen[str]:
    """The DaemonSet's own loop, run here with its /tmp pointed at `state`; its log (what
    `kubectl logs` shows) goes to `state`/out and `state`/err."""
    (script,) = shell_scripts(manifest("daemonset.yaml"))
    env = {
        **hermetic_env(home),
        "PATH": f"{Path(WEIGHTLIB).parent}:/usr/bin:/bin",
        "MODEL_DIR": str(model_dir),
        "WARM_INTERVAL": "0.2",
    }
    return subprocess.Popen(
        ["sh", "-c", script.replace("/tmp/", f"{state}/")],
        env=env,
        stdout=(state / "out").open("w"),
        stderr=(state / "err").open("w"),
        text=True,
        start_new_session=True,  # stopped as a group: the shell and its `sleep`
    )


def logs(state: Path) -> tuple[str, str]:
    """The loop's stdout and stderr so far."""
    return (state / "out").read_text(), (state / "err").read_text()


def test_warm_loop_marks_ready_after_a_pass_and_logs_each_summary(tmp_path: Path) -> None:
    model = tmp_path / "models" / "m"
    write_checkpoint(model, [{"a": (1 << 20,)}], dtype="U8")
    state = tmp_path / "state"
    state.mkdir()
    loop = run_warm_loop(model, state, tmp_path / "home")
    try:
        wait_for(lambda: (state / "warm").exists(), timeout=60)
        time.sleep(1.0)  # a few more passes
    finally:
        stop_process(loop, group=True)
    out, err = logs(state)
    assert out.count('"resident_after_bytes"') >= 2, err  # one JSON summary per pass, in the log
    assert "failed" not in err


def test_warm_loop_stays_unready_and_says_why_when_the_folder_is_missing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "warm").touch()  # ready from an earlier pass
    loop = run_warm_loop(tmp_path / "models" / "absent", state, tmp_path / "home")
    try:
        wait_for(lambda: not (state / "warm").exists(), timeout=60)
        time.sleep(0.5)
    finally:
        stop_process(loop, group=True)
    _, err = logs(state)
    assert "failed with exit 3" in err
