"""Data-parallel runs: launcher detection, rank bookkeeping, and real 2-process gloo runs on the CPU
(Lightning's launcher under the suite, and torchrun), including a rank that crashes and one that hangs."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tweetbench import cli, faults
from tweetbench.config import PRESETS, WORKLOADS, ParallelPlan
from tweetbench.devices import DeviceSpec
from tweetbench.devices.xla import _torch_xla_problem
from tweetbench.errors import ResultsError, UsageError
from tweetbench.harness import ddp, launcher, rank_files, ranks
from tweetbench.launch import failures, plan
from tweetbench.launch.env import single_process_env
from tweetbench.records import read_result, validate
from tweetbench.workload.dataset import EncodedSplit, make_loader

PLAN = ParallelPlan("ddp", devices=2)
TORCHRUN_ENV = {"TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "GROUP_RANK": "1"}


# --------------------------------------------------------------------------- launcher environment


def test_detects_torchrun_and_slurm_and_nothing_else():
    assert launcher.LaunchEnv.detect(TORCHRUN_ENV) == launcher.LaunchEnv("torchrun", 4, 3, 1, 1)
    slurm = {"SLURM_NTASKS": "8", "SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NODEID": "1",
             "SLURM_JOB_NAME": "bench"}
    assert launcher.LaunchEnv.detect(slurm) == launcher.LaunchEnv("slurm", 8, 5, 1, 1)
    # An interactive allocation is not a launch (Lightning's rule too); no variables, no launcher.
    assert launcher.LaunchEnv.detect({**slurm, "SLURM_JOB_NAME": "bash"}) is None
    assert launcher.LaunchEnv.detect({"LOCAL_RANK": "1"}) is None
    with pytest.raises(UsageError, match="WORLD_SIZE='two'"):
        launcher.LaunchEnv.detect({**TORCHRUN_ENV, "WORLD_SIZE": "two"})


def test_a_plan_must_match_the_ranks_the_launcher_started():
    launched = launcher.LaunchEnv("torchrun", 4, 0, 0, 0)
    launched.check(ParallelPlan("ddp", devices=2, num_nodes=2))
    with pytest.raises(UsageError, match="torchrun started 4 rank"):
        launched.check(ParallelPlan("ddp", devices=2))


def test_the_single_device_reference_runs_without_the_launchers_variables():
    env = single_process_env({**TORCHRUN_ENV, "SLURM_NTASKS": "2", "MASTER_PORT": "1", "PATH": "/bin",
                              "OMP_NUM_THREADS": "1"})
    assert env == {"PATH": "/bin", "OMP_NUM_THREADS": "1"}


def test_rank_of_this_process():
    # Ranks that Lightning's launcher starts get LOCAL_RANK and NODE_RANK; the launching process has neither.
    assert ranks.RankInfo.current(PLAN, {}).rank == 0
    info = ranks.RankInfo.current(PLAN, {"LOCAL_RANK": "1", "NODE_RANK": "1"})
    assert (info.rank, info.local_rank, info.node_rank, info.world_size) == (3, 1, 1, 2)
    assert ranks.RankInfo.current(PLAN, TORCHRUN_ENV).rank == 3
    assert ranks.rank_spec(DeviceSpec("gpu", count=8), PLAN) == DeviceSpec("gpu", index=0)


def test_rank_faults_name_one_rank():
    env = {faults.FAULT_ENV: "cpu:crash,rank1:hang"}
    assert faults.rank_fault(1, env) == "hang"
    assert faults.rank_fault(0, env) is None


def test_ranks_share_the_single_device_batch_stream():
    import torch

    split = EncodedSplit(torch.arange(40 * 4).reshape(40, 4) + 1, torch.zeros(40, dtype=torch.long))
    whole = [tokens for tokens, _ in make_loader(split, 4, seed=3, total_batches=6)]
    shares = [[tokens for tokens, _ in ranks.rank_loader(split, 4, seed=3, total_batches=3, rank=r, world=2)]
              for r in (0, 1)]
    assert [len(r) for r in shares] == [3, 3]
    interleaved = [batch for pair in zip(*shares) for batch in pair]
    assert all(torch.equal(a, b) for a, b in zip(interleaved, whole, strict=True))
    assert ranks.non_pad_tokens(ranks.rank_loader(split, 4, seed=3, total_batches=3, rank=1, world=2),
                                1, 2) == 2 * 4 * 4


# --------------------------------------------------------------------------- what a failed rank leaves behind


def test_the_earliest_rank_error_leads_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv(rank_files.REPORT_ENV, "")  # restored afterwards: rank_reporting sets it
    for rank in (1, 0):  # rank 1 fails first; rank 0 then sees the broken connection
        monkeypatch.setenv("LOCAL_RANK", str(rank))
        with pytest.raises(RuntimeError), rank_files.rank_reporting(tmp_path, "cpu-2", PLAN):
            raise RuntimeError(f"boom on {rank}\nsecond line")
        time.sleep(0.01)
    assert os.environ[rank_files.REPORT_ENV] == str(tmp_path / "cpu-2")
    reason = failures.failure_reason(tmp_path, "cpu-2", "worker exited with code 1", 2)
    assert reason == "rank 1 failed: RuntimeError: boom on 1; then rank(s) 0 failed too (worker exited with code 1)"
    assert failures.failure_reason(tmp_path, "other", "timed out", 2) == "timed out"


def test_a_hung_rank_is_named_from_the_ranks_whereabouts(tmp_path):
    env = {rank_files.REPORT_ENV: str(tmp_path / "cpu-2")}
    waiting, hung = rank_files.RankWatch(0, env), rank_files.RankWatch(1, env)
    for watch in (waiting, hung):
        watch.phase = "train"
        watch.on_step(2)
        watch.write()
    waiting.enter_collective()
    waiting.write()
    reason = failures.failure_reason(tmp_path, "cpu-2", "timed out after 30 s", 2)
    assert reason == ("rank 1 stopped in train at step 2 outside communication, while rank(s) 0 waited in a "
                      "collective for it (timed out after 30 s)")
    assert "rank(s) 2 never reported" in failures.failure_reason(tmp_path, "cpu-2", "x", 3)
    # Killed before any rank got to the loop: say where each one was.
    for rank in (0, 1):
        rank_files.RankWatch(rank, {rank_files.REPORT_ENV: str(tmp_path / "slow")}).write()
    assert failures.failure_reason(tmp_path, "slow", "timed out", 2) == (
        "last seen: rank 0 in setup at step 0, rank 1 in setup at step 0 (timed out)")


# --------------------------------------------------------------------------- the command line's checks


def test_run_devices_puts_the_single_device_reference_first():
    run = plan.run_devices
    assert run("cpu", strategy=None, num_nodes=1, scaling_reference=None, launched=None) == (DeviceSpec("cpu"),)
    assert run("cpu:2,cpu:4", strategy="ddp", num_nodes=1, scaling_reference=None, launched=None) == (
        DeviceSpec("cpu"), DeviceSpec("cpu", count=2), DeviceSpec("cpu", count=4))
    launched = launcher.LaunchEnv("torchrun", 2, 0, 0, 0)
    assert run("cpu:2", strategy="ddp", num_nodes=1, scaling_reference=None, launched=launched) == (
        DeviceSpec("cpu", count=2),)


@pytest.mark.parametrize("devices, options, message", [
    ("cpu", {"strategy": "ddp"}, "give each device as cpu:N"),
    ("cpu:0", {"strategy": "ddp"}, "give each device as cpu:N"),
    ("tpu:8", {"strategy": "ddp"}, "does not run on tpu: it runs on cpu, gpu"),
    ("cpu:2", {"strategy": "ddp", "num_nodes": 2}, "needs a launcher on every node"),
    ("cpu", {"num_nodes": 2}, "go with --strategy"),
    ("cpu:2,cpu:2", {"strategy": "ddp"}, "listed twice"),
])
def test_run_devices_refuses_what_cannot_run(devices, options, message):
    kwargs = {"strategy": None, "num_nodes": 1, "scaling_reference": None, "launched": None, **options}
    with pytest.raises(UsageError, match=message):
        plan.run_devices(devices, **kwargs)


def test_a_launcher_with_several_ranks_needs_a_strategy():
    with pytest.raises(UsageError, match="add --strategy ddp"):
        plan.run_devices("cpu", strategy=None, num_nodes=1, scaling_reference=None,
                                launched=launcher.LaunchEnv("slurm", 2, 0, 0, 0))


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["run", "--devices", "cpu", "--strategy", "ddp", "--out", str(tmp_path)]) == 2
    assert cli.main(["run", "--devices", "cpu:2", "--strategy", "ddp", "--out", str(tmp_path),
                     "--scaling-reference", str(tmp_path / "nope.json")]) == 4
    assert cli.main(["run", "--devices", "cpu:2", "--strategy", "fsdp"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("tweetbench: error: ") for line in err)
    with pytest.raises(ResultsError):
        plan.run_devices("cpu:2", strategy="ddp", num_nodes=1, scaling_reference=tmp_path / "x.json",
                                launched=None)


# --------------------------------------------------------------------------- real runs (2 processes, gloo)

SMOKE = ["--preset", "smoke", "--workload", "tiny"]
TINY_BATCH = WORKLOADS["tiny"].batch_size


def _run(args, *, out, env=None, timeout=300, torchrun=False):
    prefix = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m"] \
        if torchrun else [sys.executable, "-m"]
    started = time.monotonic()
    proc = subprocess.run([*prefix, "tweetbench", "run", *args, *SMOKE, "--out", str(out)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})}, cwd=out.parent)
    return proc, time.monotonic() - started


def _only_run_dir(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def _check_ok(run_dir: Path) -> dict:
    result = read_result(run_dir / "cpu-2.json").to_dict()
    assert result["status"] == "ok", result["reason"]
    d = result["distributed"]
    assert (d["world_size"], d["num_nodes"], d["strategy"], d["process_group_backend"]) == (2, 1, "ddp", "gloo")
    assert d["global_batch"] == 2 * TINY_BATCH
    assert [r["rank"] for r in d["ranks"]] == [0, 1]
    for rank in d["ranks"]:
        assert len(rank["raw_step_s"]) == len(rank["raw_comm_s"]) == 8  # the same 8 measured steps
        assert 0 < rank["comm_share"] < 1
        # Every rank is gone: they lived in the worker's process group (or torchrun's) and ended with it.
        assert not psutil.pid_exists(rank["pid"]) or psutil.Process(rank["pid"]).status() == psutil.STATUS_ZOMBIE
    assert d["communication"]["measured"] and d["communication"]["buckets_per_step"] >= 1
    scaling = d["scaling"]
    assert scaling["efficiency"] > 0 and scaling["reason"] == ""
    assert scaling["reference"]["device"] == "cpu" and scaling["reference"]["source"] == "this run"
    assert scaling["reference"]["fingerprint"] == result["workload"]["fingerprint"]
    for path in run_dir.glob("*.json"):
        if path.name != "run.json":
            validate(json.loads(path.read_text()), str(path))
    assert "## Scaling" in (run_dir / "report.md").read_text()
    return result



@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    proc, _ = _run(["--devices", "cpu:2", "--strategy", "ddp"], out=out)
    return proc, out


@pytest.mark.slow
def test_a_two_process_ddp_run_records_its_world_and_scaling_efficiency(ddp_run):
    proc, out = ddp_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    run_dir = _only_run_dir(out)
    assert json.loads((run_dir / "run.json").read_text())["devices"] == ["cpu", "cpu:2"]
    result = _check_ok(run_dir)
    assert result["distributed"]["launcher"] == "lightning"
    breakdown = result["breakdown"]
    assert breakdown["ranks"] == 2 and all(r["breakdown"] for r in result["distributed"]["ranks"])
    assert sum(p["share"] for p in breakdown["parts"].values()) == pytest.approx(1.0)
    # Lightning's per-step SIGTERM broadcast: timed, and made every 10th step only (harness/sigterm.py).
    sigterm = result["distributed"]["lightning_sigterm"]
    assert sigterm["applies"] and sigterm["every_n_steps"] == 10, sigterm
    measured = result["metrics"]["training"]["measured_steps"]
    assert 2 * (measured // 10) <= sigterm["calls"] <= 2 * (measured // 10 + 1)  # two ranks
    assert sigterm["ms_per_call"] > 0 and 0 < sigterm["share_of_step_lightning_default"] < 1


@pytest.mark.slow
def test_a_torchrun_launch_runs_each_rank_in_process(tmp_path):
    proc, _ = _run(["--devices", "cpu:2", "--strategy", "ddp", "--no-profile"], out=tmp_path / "out",
                   torchrun=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = _check_ok(_only_run_dir(tmp_path / "out"))
    assert result["distributed"]["launcher"] == "torchrun"
    assert result["breakdown"] is None  # --no-profile


@pytest.fixture(scope="module")
def crash_run(ddp_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("crash")
    # The old spelling of --scaling-reference, still accepted.
    proc, took = _run(["--devices", "cpu:2", "--strategy", "ddp", "--no-profile", "--timeout", "120",
                       "--scaling-baseline", str(_only_run_dir(ddp_run[1]))], out=out,
                      env={faults.FAULT_ENV: "rank1:crash"})
    return proc, took, out


@pytest.mark.slow
def test_a_rank_that_crashes_fails_the_run_with_its_error(crash_run):
    proc, took, out = crash_run
    assert proc.returncode == 1 and took < 120
    result = read_result(_only_run_dir(out) / "cpu-2.json").to_dict()
    assert result["status"] == "failed"
    assert result["reason"].startswith("rank 1 failed: RuntimeError: tweetbench test fault: rank 1 crashing on "
                                       "purpose")
    assert result["distributed"]["world_size"] == 2
    assert "this run is failed" in result["distributed"]["scaling"]["reason"]


@pytest.mark.slow
def test_a_rank_that_hangs_is_killed_at_the_timeout_and_named(ddp_run, crash_run, tmp_path):
    # The timeout counts from the worker's start, so it must leave the ranks time to reach the fault:
    # the crash run, which reaches the same fault, says how long that takes on this machine now.
    timeout = max(30, round(2.5 * crash_run[1]))
    proc, took = _run(["--devices", "cpu:2", "--strategy", "ddp", "--no-profile", "--timeout", str(timeout),
                       "--scaling-reference", str(_only_run_dir(ddp_run[1]))], out=tmp_path / "out",
                      env={faults.FAULT_ENV: "rank1:hang"}, timeout=timeout + 120)
    assert proc.returncode == 1 and took < timeout + 60
    result = read_result(_only_run_dir(tmp_path / "out") / "cpu-2.json").to_dict()
    assert result["status"] == "failed"
    assert "rank 1 stopped in train at step 2 outside communication" in result["reason"]
    assert f"timed out after {timeout} s" in result["reason"]


# --------------------------------------------------------------------------- Lightning's XLA strategy (TPU cores)


@pytest.mark.parametrize("devices, options, message", [
    ("xla-cpu:2", {}, "no collective operations on XLA:CPU"),
    ("xla-cpu:1", {}, "refuses a single device"),
    ("cpu:2", {}, "does not run on cpu: it runs on tpu"),
    ("tpu:8", {"num_nodes": 2}, "runs on one host"),
    ("tpu:8", {"launched": launcher.LaunchEnv("torchrun", 8, 0, 0, 0)}, "runs on one host"),
])
def test_the_xla_strategy_refuses_what_cannot_run(devices, options, message):
    kwargs = {"strategy": "xla", "num_nodes": 1, "scaling_reference": None, "launched": None, **options}
    with pytest.raises(UsageError, match=message):
        plan.run_devices(devices, **kwargs)


def test_the_xla_strategy_runs_on_tpu_cores_after_a_single_tpu_reference():
    assert plan.run_devices("tpu:8", strategy="xla", num_nodes=1, scaling_reference=None,
                                   launched=None) == (DeviceSpec("tpu"), DeviceSpec("tpu", count=8))
    assert ParallelPlan("xla", 8).spawned and not PLAN.spawned


def test_trainer_options_give_lightnings_xla_strategy_a_root_dir_of_its_own(tmp_path):
    from pytorch_lightning.strategies import DDPStrategy, XLAStrategy

    assert isinstance(ddp.trainer_options(PLAN)["strategy"], DDPStrategy)
    # Lightning's XLAStrategy imports torch_xla when it is built (absent on the GPU image, for one).
    if _torch_xla_problem():
        pytest.skip(_torch_xla_problem())

    options = ddp.trainer_options(ParallelPlan("xla", 8), tmp_path)
    assert isinstance(options["strategy"], XLAStrategy) and options["devices"] == 8
    # The launcher hands rank 0's weights back through a checkpoint there, not in the user's directory.
    assert options["default_root_dir"] == str(tmp_path) and options["use_distributed_sampler"] is False


def test_rank_exports_are_read_in_rank_order_and_a_silent_rank_is_named(tmp_path):
    from tweetbench.harness.rank_files import read_rank_exports

    prefix = str(tmp_path / "job")
    for rank in (1, 0, 3):
        rank_files.rank_file(prefix, rank, "train").write_text(json.dumps({"rank": rank}))
    with pytest.raises(RuntimeError, match=r"rank\(s\) 2 of 4 wrote no train figures"):
        read_rank_exports(prefix, "train", 4)
    for rank in (0, 1):
        rank_files.rank_file(prefix, rank, "train").write_text(json.dumps({"rank": rank}))
    assert [f["rank"] for f in read_rank_exports(prefix, "train", 2)] == [0, 1]
    assert not list(tmp_path.glob("job.rank[01].*"))  # read once, then removed


def test_a_tpu_count_without_a_tpu_is_unavailable_with_the_reason(tmp_path):
    proc, _ = _run(["--devices", "tpu:8", "--strategy", "xla"], out=tmp_path / "out", timeout=120)
    assert proc.returncode == 0, proc.stderr
    run_dir = _only_run_dir(tmp_path / "out")
    for name in ("tpu.json", "tpu-8.json"):
        result = read_result(run_dir / name).to_dict()
        assert result["status"] == "unavailable" and result["reason"], name
    assert read_result(run_dir / "tpu-8.json").to_dict()["distributed"]["strategy"] == "xla"


# Lightning's XLAStrategy refuses one device under PjRT, and XLA:CPU has no collectives to run more
# (pytorch/xla#5005): with that one refusal patched out, a one-replica run on XLA:CPU takes the whole
# spawned path a TPU run takes (Lightning's XLA launcher, per-rank export files, the record).
_ONE_REPLICA = """
import os, sys
from pathlib import Path
from pytorch_lightning.strategies import XLAStrategy
from pytorch_lightning.utilities.rank_zero import rank_zero_only

def one_replica(self):
    rank_zero_only.rank = self.global_rank

XLAStrategy.setup_distributed = one_replica
from tweetbench.config import PRESETS, WORKLOADS, DeviceJob, ParallelPlan
from tweetbench.records import dumps
from tweetbench.launch.runner import run_device

out = Path(sys.argv[1])
os.environ["TWEETBENCH_RANK_REPORTS"] = str(out / "job")
job = DeviceJob("xla-cpu:1", WORKLOADS["tiny"], PRESETS["smoke"], parallel=ParallelPlan("xla", 1))
(out / "result.json").write_text(dumps(run_device(job, run_id="t", run_dir=out, command=["test"])))
"""


@pytest.mark.slow
@pytest.mark.skipif(bool(_torch_xla_problem()), reason=_torch_xla_problem() or "torch_xla is usable")
def test_the_xla_strategys_spawned_ranks_report_through_their_export_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-c", _ONE_REPLICA, str(out)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    validate(result, "result.json")
    assert result["status"] == "ok", result["reason"]
    d = result["distributed"]
    assert (d["strategy"], d["world_size"], d["process_group_backend"]) == ("xla", 1, "xla")
    (rank,) = d["ranks"]
    smoke = PRESETS["smoke"]
    assert rank["rank"] == 0 and len(rank["raw_step_s"]) == smoke.measured_steps
    assert rank["device_counters"]["compile_count"] == 0  # the measured window replayed compiled graphs
    assert not d["communication"]["measured"] and "compiled into the step" in d["communication"]["method"]
    assert result["metrics"]["training"]["time_to_first_step_s"] > 0
    assert result["breakdown"]["ranks"] == 1 and result["breakdown"]["per_rank"] == "distributed.ranks[*].breakdown"
    # Export files read and removed; Lightning's hand-back checkpoint stayed out of the working directory.
    assert [p.name for p in out.iterdir()] == ["result.json"] and [p.name for p in tmp_path.iterdir()] == ["out"]
