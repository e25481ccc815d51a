import dataclasses
import os
import subprocess
import sys

from tweetbench.config import WORKLOADS, DataSource
from tweetbench.workload.dataset import load_data
from tweetbench.workload.fingerprint import workload_fingerprint
from tweetbench.workload.model import build_model

SNIPPET = """
from tweetbench.config import WORKLOADS, DataSource
from tweetbench.workload.dataset import load_data
from tweetbench.workload.fingerprint import workload_fingerprint
from tweetbench.workload.model import build_model
wl = WORKLOADS["tiny"]
data = load_data(wl, DataSource())
print(workload_fingerprint(wl, data, build_model(wl, data.num_classes)))
"""


def fingerprint(workload):
    data = load_data(workload, DataSource())
    return workload_fingerprint(workload, data, build_model(workload, data.num_classes))


def test_fingerprint_is_the_same_in_another_process_and_changes_with_the_seed(tmp_path):
    here = fingerprint(WORKLOADS["tiny"])
    env = {"TWEETBENCH_CACHE": str(tmp_path), "PYTHONHASHSEED": "7", "PATH": "/usr/bin:/bin",
           # where the packages live stays (the device image's jsonschema is on PYTHONPATH, as on the GPU machine)
           **{key: os.environ[key] for key in ("PYTHONPATH",) if key in os.environ}}
    there = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True, check=True,
                           env=env).stdout.strip()
    assert here == there
    assert here.startswith("sha256:") and len(here) == 7 + 64
    assert fingerprint(WORKLOADS["tiny"].with_seed(1)) != here


def test_fingerprint_covers_the_config():
    wl = WORKLOADS["tiny"]
    assert fingerprint(dataclasses.replace(wl, lr=2e-3)) != fingerprint(wl)
