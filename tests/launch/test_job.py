"""A device job survives its trip through the job file, the thread count included; results record it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tweetbench.config import PRESETS, WORKLOADS, DeviceJob
from tweetbench.errors import ResultsError
from tweetbench.launch.job import job_from_dict, job_to_dict
from tweetbench.records import DeviceResult

DATA = Path(__file__).parent.parent / "data"


@pytest.mark.parametrize("threads", [None, 1, 3])
def test_a_job_round_trips_through_its_file(tmp_path, threads):
    job = DeviceJob("cpu", WORKLOADS["tiny"], PRESETS["smoke"], profile=False, trial=2, threads=threads)
    text = json.dumps(job_to_dict(job, run_id="r", run_dir=tmp_path, result_path=tmp_path / "cpu.json",
                                  command=["tweetbench", "run"]))
    assert job_from_dict(json.loads(text)) == job


def test_a_job_file_from_before_threads_keeps_torchs_default(tmp_path):
    data = job_to_dict(DeviceJob("cpu", WORKLOADS["tiny"], PRESETS["smoke"]), run_id="r", run_dir=tmp_path,
                       result_path=tmp_path / "cpu.json", command=[])
    del data["threads"]
    assert job_from_dict(data).threads is None


def test_the_result_schema_takes_the_requested_thread_count():
    base = json.loads((DATA / "cpu_result.json").read_text())
    assert DeviceResult(dict(base, threads=2)).to_dict()["threads"] == 2
    assert DeviceResult(dict(base, threads=None)).to_dict()["threads"] is None
    with pytest.raises(ResultsError, match="threads"):
        DeviceResult(dict(base, threads=0))
