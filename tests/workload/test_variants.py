"""Workload variants: own names, own fingerprints, unsupported precisions recorded, variants side by side."""

import copy
import json
from pathlib import Path

import pytest

from tweetbench.cli import main
from tweetbench.config import DataSource, DeviceJob, get_preset, get_workload
from tweetbench.errors import UsageError
from tweetbench.launch.runner import run_device
from tweetbench.report.variants import render_variants
from tweetbench.workload import variants
from tweetbench.workload.dataset import load_data
from tweetbench.workload.fingerprint import workload_fingerprint
from tweetbench.workload.model import build_model

DATA = Path(__file__).parent.parent / "data"


def test_direction_variant_is_a_registered_workload_with_its_own_name():
    uni, bi = get_workload("v1-uni"), get_workload("v1")
    assert uni.name == "tweets-lstm-v1-uni" and not uni.bidirectional and bi.bidirectional
    assert variants.family_key(uni.to_dict()) == variants.family_key(bi.to_dict())
    assert variants.direction(uni.to_dict()) == "LSTM" and variants.direction(bi.to_dict()) == "BiLSTM"


def test_precision_variant_is_renamed_and_its_config_carries_the_precision():
    bf16 = variants.resolve("v1", "bf16-mixed")
    assert bf16.name == "tweets-bilstm-v1@bf16-mixed"
    assert bf16.to_dict()["precision"] == "bf16-mixed"
    assert variants.resolve("v1").name == "tweets-bilstm-v1"  # fp32 keeps the plain name
    assert variants.with_precision(bf16, "16-mixed").name == "tweets-bilstm-v1@16-mixed"  # never stacks
    assert variants.resolve("v1-uni", "16-mixed").name == "tweets-lstm-v1-uni@16-mixed"


def test_each_variant_has_its_own_fingerprint():
    base = get_workload("tiny")
    data = load_data(base, DataSource())
    prints = set()
    for wl in (base, variants.with_precision(base, "bf16-mixed"), get_workload("tiny-uni")):
        prints.add(workload_fingerprint(wl, load_data(wl, DataSource()), build_model(wl, data.num_classes)))
    assert len(prints) == 3


def test_variant_lists_are_the_cartesian_product_and_bad_values_are_one_line_errors():
    names = [w.name for w in variants.resolve_many("tiny,tiny-uni", "32-true,bf16-mixed")]
    assert names == ["tweets-bilstm-tiny", "tweets-bilstm-tiny@bf16-mixed", "tweets-lstm-tiny-uni",
                     "tweets-lstm-tiny-uni@bf16-mixed"]
    for workloads, precisions in (("tiny", "fp8"), ("tiny,tiny", "32-true"), ("tiny,", "32-true"), ("nope", "32-true")):
        with pytest.raises(UsageError):
            variants.resolve_many(workloads, precisions)


def test_cli_refuses_an_unknown_precision_in_one_line(capsys, tmp_path):
    assert main(["run", "--precision", "fp8", "--workload", "tiny", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tweetbench: error: unknown precision 'fp8'") and err.count("\n") == 1


def test_unsupported_precision_is_recorded_as_unavailable_and_the_run_goes_on(tmp_path):
    job = DeviceJob("cpu", variants.resolve("tiny", "16-mixed"), get_preset("smoke"))
    result = run_device(job, run_id="20260101-000000-abcdef", run_dir=tmp_path, command=["tweetbench", "run"])
    assert result.status == "unavailable"
    assert result.data["reason"].startswith("unsupported on this device")
    assert result.data["workload"]["name"] == "tweets-bilstm-tiny@16-mixed"


def _variant(record, name, *, bidirectional=True, precision="32-true", samples_per_s=None, status=None,
             reason=""):
    r = copy.deepcopy(record)
    r["workload"]["name"] = name
    r["workload"]["config"].update(name=name, bidirectional=bidirectional, precision=precision)
    if samples_per_s is not None:
        r["metrics"]["training"]["samples_per_s"] = samples_per_s
    if status is not None:
        r.update(status=status, reason=reason, metrics={})
    return r


def test_variants_page_puts_direction_and_precision_variants_side_by_side():
    cpu = json.loads((DATA / "cpu_result.json").read_text())
    records = [
        _variant(cpu, "tweets-bilstm-tiny", samples_per_s=1000.0),
        _variant(cpu, "tweets-lstm-tiny-uni", bidirectional=False, samples_per_s=1800.0),
        _variant(cpu, "tweets-bilstm-tiny@16-mixed", precision="16-mixed", status="unavailable",
                 reason="unsupported on this device: Lightning's 16-mixed needs a GPU"),
        # A device that is simply absent is not a variant result.
        {**_variant(cpu, "tweets-bilstm-tiny", status="unavailable", reason="no CUDA GPU found"),
         "device": {"name": "gpu", "kind": "gpu", "label": "GPU (none)", "hardware": "none"}},
    ]
    text = render_variants(records)
    assert "| tweets-lstm-tiny-uni | LSTM | fp32 |" in text
    assert "| tweets-bilstm-tiny | BiLSTM | fp32 |" in text and "reference" in text
    assert "1.80×" in text  # the LSTM's throughput against the fp32 BiLSTM on the same device
    assert "unsupported on this device: Lightning's 16-mixed needs a GPU" in text
    assert "GPU (none)" not in text
