"""What a result records about the machine and the software stack, read from this machine."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tweetbench.records.environment import (
    capture_environment,
    cpu_model,
    cpu_steal_fraction,
    git_commit,
    noise_state,
    package_version,
)


def test_the_environment_names_the_stack_that_is_running() -> None:
    import torch

    env = capture_environment()
    assert env["python"] == platform.python_version()
    assert env["torch"] == torch.__version__
    assert env["torch_threads"] == torch.get_num_threads()
    assert env["cpu_model"] == cpu_model() and env["cpu_model"]
    assert env["cpu_cores_logical"] >= 1 and env["ram_bytes"] > 0
    assert env["numpy"] == package_version("numpy")


def test_a_package_that_is_not_installed_has_no_version() -> None:
    assert package_version("tweetbench-no-such-package") is None
    assert package_version("jsonschema")


def test_the_commit_is_read_in_a_checkout_and_none_outside_one(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None
    if subprocess.run(["git", "--version"], capture_output=True).returncode != 0:
        pytest.skip("no git on this machine")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("a")
    subprocess.run(["git", "-C", str(tmp_path), "add", "f"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"],
                   check=True)
    clean = git_commit(tmp_path)
    assert clean is not None and len(clean["commit"]) == 40 and clean["dirty"] is False
    (tmp_path / "f").write_text("b")
    assert git_commit(tmp_path) == {"commit": clean["commit"], "dirty": True}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="steal time is a Linux counter")
def test_the_noise_state_reads_load_steal_and_usage() -> None:
    steal = cpu_steal_fraction(0.05)
    assert steal is not None and 0.0 <= steal <= 1.0
    state = noise_state()
    assert len(state["load_average"]) == 3
    assert 0.0 <= state["cpu_percent"] <= 100.0
