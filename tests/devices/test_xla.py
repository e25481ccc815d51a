"""XLA devices: probes without network or torch_xla, compile accounting, and xla-cpu end to end.

The XLA checks run torch_xla on the host CPU (``PJRT_DEVICE=CPU``) in their own processes, as the
worker does; they skip when torch_xla is not installed (install the ``xla`` extra).
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tweetbench.analysis.parity import parity_checks
from tweetbench.devices import create_backend, parse_device, probe
from tweetbench.devices.base import diff_counters
from tweetbench.devices.tpu_guard import tpu_chip_count, tpu_pci_generations
from tweetbench.devices.xla import (
    FUNCTIONALIZATION_ENV,
    TPU_MATH_MODES,
    TPUBackend,
    _torch_xla_problem,
    functionalization_state,
    tpu_generation,
    tpu_hardware,
)
from tweetbench.devices.xla_cache import CACHE_BASE_ENV, PERSISTENT_CACHE_ENV, compile_cache_base, compile_cache_key
from tweetbench.devices.xla_metrics import compile_problem, transfer_problem
from tweetbench.records import read_result

needs_xla = pytest.mark.skipif(bool(_torch_xla_problem()), reason=_torch_xla_problem() or "torch_xla is usable")


def python(code: str, *, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def tweetbench(*args: str, cwd, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tweetbench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env={**os.environ, **(env or {})})


# -- probes and pure parts (no torch_xla) -----------------------------------------------------------

def test_xla_cpu_has_one_device_only():
    availability = probe(parse_device("xla-cpu:1"))
    assert not availability.available and "xla-cpu:0" in availability.reason


@pytest.mark.skipif(tpu_chip_count() > 0, reason="this machine has TPU chips")
def test_tpu_probe_reads_the_pci_bus_and_says_why_not():
    availability = probe(parse_device("tpu"))
    assert not availability.available and availability.reason == "no TPU chip found on the PCI bus"


def test_xla_precisions_are_those_of_lightnings_xla_plugin():
    backend = create_backend(parse_device("xla-cpu"))
    assert backend.supports_precision("32-true") == (True, "")
    ok, why = backend.supports_precision("bf16-mixed")
    assert not ok and "bf16-true" in why


def test_a_compile_inside_the_measured_window_is_a_problem_and_none_is_not():
    backend = create_backend(parse_device("xla-cpu"))
    assert backend.check_measurement({"compile_count": 0, "compile_s": 0.0}) == ""
    assert backend.check_measurement({"compile_count": 2, "compile_s": 3.3}) == \
        "2 XLA compilations during the measured steps (3.3 s)"
    assert compile_problem({"compile_count": 1, "compile_s": 0.5}).startswith("1 XLA compilation ")
    # A graph loaded from the on-disk cache (no compile counted) is as much a defect of the window.
    assert backend.check_measurement({"compile_count": 0, "persistent_cache_hits": 1}) == \
        "1 graph loaded from the persistent compile cache during the measured steps"
    assert compile_problem({"compile_count": 1, "compile_s": 0.5, "persistent_cache_hits": 3}) == \
        "1 XLA compilation during the measured steps (0.5 s), and 3 graphs loaded from the persistent compile cache"
    # Graphs replayed from the in-memory cache are every steady step's: no problem.
    assert compile_problem({"compile_count": 0, "cached_compile_count": 40, "persistent_cache_misses": 0}) == ""
    assert create_backend(parse_device("cpu")).check_measurement({"compile_count": 5}) == ""


def test_the_benchmark_marks_a_result_invalid_when_a_measured_window_compiled():
    from tweetbench.scenarios.outcome import Outcome, check_windows

    backend = create_backend(parse_device("xla-cpu"))
    outcome = Outcome()
    check_windows(outcome, backend, {"training": ({"compile_count": 0, "transfer_to_device_count": 970}, 10),
                                     "batch-1 inference": ({"compile_count": 1, "compile_s": 0.5}, 10)})
    assert outcome.status == "invalid"
    assert outcome.reason == "1 XLA compilation during the measured steps (0.5 s) of batch-1 inference"
    # Host round-trips beyond the batch's tensors (+ the RNG seed) are flagged, not invalid.
    (warning,) = outcome.metrics["window_warnings"]
    assert warning.startswith("97.0 host-to-device transfers per measured step, beyond the batch's 3: ")
    assert warning.endswith(" of training")


def test_a_window_that_loaded_a_graph_from_the_compile_cache_makes_the_result_invalid():
    from tweetbench.scenarios.outcome import Outcome, check_windows

    outcome = Outcome()
    check_windows(outcome, create_backend(parse_device("xla-cpu")),
                  {"training": ({"compile_count": 0, "persistent_cache_hits": 2, "transfer_to_device_count": 10}, 10)})
    assert outcome.status == "invalid"
    assert outcome.reason == "2 graphs loaded from the persistent compile cache during the measured steps of training"


def test_the_compile_cache_folder_is_keyed_by_version_precision_functionalization_and_flags():
    base = compile_cache_key("2.9.0", "highest", "on", "")
    assert base.startswith("torch_xla-2.9.0-highest-functionalization-on-")
    others = {compile_cache_key("2.9.0", "default", "on", ""), compile_cache_key("2.9.0", "highest", "off", ""),
              compile_cache_key("2.9.0", "highest", "on", "--xla_cpu_use_thunk_runtime=false"),
              compile_cache_key("2.8.0", "highest", "on", "")}
    assert base not in others and len(others) == 4
    assert compile_cache_key("2.9.0", "highest", "on", "") == base  # stable across processes


def test_the_cache_base_is_the_users_folder_or_the_one_a_parent_process_keyed_under(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_BASE_ENV, raising=False)
    monkeypatch.setenv("TWEETBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv(PERSISTENT_CACHE_ENV, raising=False)
    assert compile_cache_base() == tmp_path / "xla-compile"
    monkeypatch.setenv(PERSISTENT_CACHE_ENV, "/mine")
    assert str(compile_cache_base()) == "/mine"
    # A knob worker inherits its parent's keyed folder in XLA_PERSISTENT_CACHE_PATH: it keys under the base.
    monkeypatch.setenv(PERSISTENT_CACHE_ENV, "/mine/torch_xla-2.9.0-highest-functionalization-on-0123456789")
    monkeypatch.setenv(CACHE_BASE_ENV, "/mine")
    assert str(compile_cache_base()) == "/mine"


def test_functionalization_off_is_an_open_knob_set_in_the_environment_of_processes_of_its_own(monkeypatch):
    from tweetbench.config import StepOptions
    from tweetbench.devices.base import DeviceBackend

    monkeypatch.delenv(FUNCTIONALIZATION_ENV, raising=False)
    backend = create_backend(parse_device("xla-cpu"))
    knob = next(k for k in backend.open_knobs("32-true") if k.knob == "functionalization")
    assert knob.name == "functionalization=off" and not knob.problem
    assert backend.process_env(knob.options) == {FUNCTIONALIZATION_ENV: "1"}
    assert backend.process_env(StepOptions()) == {}
    monkeypatch.setenv(FUNCTIONALIZATION_ENV, "1")  # the user turned it off: the knob turns it back on
    knob = next(k for k in backend.open_knobs("32-true") if k.knob == "functionalization")
    assert knob.name == "functionalization=on" and backend.process_env(knob.options) == {FUNCTIONALIZATION_ENV: "0"}
    assert DeviceBackend.process_env(create_backend(parse_device("cpu")), knob.options) == {}


@pytest.mark.parametrize(("value", "state"), [(None, "on"), ("1", "off"), ("true", "off"), ("0", "on"),
                                            ("false", "on"), ("yes", "on"), (" 2", "off"), ("", "on")])
def test_functionalization_state_reads_the_variable_as_torch_xla_does(monkeypatch, value, state):
    if value is None:
        monkeypatch.delenv(FUNCTIONALIZATION_ENV, raising=False)
    else:
        monkeypatch.setenv(FUNCTIONALIZATION_ENV, value)
    assert functionalization_state() == state


def test_the_transfer_warning_names_the_gather_indices_only_when_functionalization_is_on():
    window = {"transfer_to_device_count": 970}
    warning = transfer_problem(window, 10, 3, "on")
    assert warning.startswith("97.0 host-to-device transfers per measured step, beyond the batch's 3")
    assert warning.endswith("(the cause: torch_xla's functionalization (on, its default): the LSTM cell's in-place "
                            "gate views become gathers whose int64 indices are built on the host, several per "
                            "time step)")
    assert transfer_problem(window, 10, 3, "off") == ("97.0 host-to-device transfers per measured step, beyond the "
                                                      "batch's 3: tensors made on the host at every step")
    assert transfer_problem({"transfer_to_device_count": 30}, 10, 3, "on") == ""
    assert transfer_problem(window, 0, 3, "on") == transfer_problem({}, 10, 3, "on") == ""


def test_the_backends_transfer_warning_reads_functionalization_from_this_process(monkeypatch):
    backend = create_backend(parse_device("xla-cpu"))
    window = {"transfer_to_device_count": 970}
    monkeypatch.delenv(FUNCTIONALIZATION_ENV, raising=False)  # torch_xla's default, as the closed division runs
    assert "gathers whose int64 indices" in backend.measurement_warning(window, 10, 3)
    monkeypatch.setenv(FUNCTIONALIZATION_ENV, "0")
    assert "gathers whose int64 indices" in backend.measurement_warning(window, 10, 3)
    monkeypatch.setenv(FUNCTIONALIZATION_ENV, "1")
    assert backend.measurement_warning(window, 10, 3) == transfer_problem(window, 10, 3, "off")


def test_counter_snapshots_subtract_nested_and_drop_zero_fallbacks():
    before = {"compile_count": 3, "compile_s": 1.5, "fallback_ops": {"aten::nonzero": 2, "aten::sort": 1}}
    after = {"compile_count": 5, "compile_s": 4.0, "fallback_ops": {"aten::nonzero": 2, "aten::sort": 4,
                                                                     "aten::unique": 1}}
    assert diff_counters(after, before) == {"compile_count": 2, "compile_s": 2.5,
                                            "fallback_ops": {"aten::sort": 3, "aten::unique": 1}}


def test_the_parent_and_a_cpu_worker_never_import_torch_xla():
    # Everything the CLI and a cpu worker load, plus probes of every kind and a Lightning fit on the CPU.
    proc = python("""
        import sys
        import tweetbench.cli, tweetbench.launch.suite, tweetbench.launch.runner, tweetbench.scenarios.benchmark, tweetbench.harness.parity
        from tweetbench import devices
        from tweetbench.config import DataSource, get_workload
        from tweetbench.workload.dataset import load_data, make_loader
        from tweetbench.harness.trainer import make_trainer
        from tweetbench.workload.model import build_model
        from tweetbench.workload.module import TweetClassifier
        for name in ("cpu", "gpu", "tpu", "xla-cpu"):
            devices.probe(devices.parse_device(name))
        wl = get_workload("tiny")
        data = load_data(wl, DataSource())
        backend = devices.create_backend(devices.parse_device("cpu"))
        make_trainer(backend, max_steps=1).fit(TweetClassifier(build_model(wl, data.num_classes), wl.lr),
                                               make_loader(data.train, wl.batch_size, seed=0, total_batches=1))
        print("LOADED" if "torch_xla" in sys.modules else "CLEAN")
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("CLEAN")


# -- torch_xla on the host CPU ----------------------------------------------------------------------

@pytest.mark.xla
@needs_xla
def test_measured_window_counts_a_new_graph_and_not_a_cached_one_and_nothing_asks_the_network():
    proc = python("""
        import json, torch
        from tweetbench.devices import create_backend, parse_device
        backend = create_backend(parse_device("xla-cpu"))
        backend.setup()
        from torch_xla._internal import tpu

        def no_network(*args, **kwargs):
            raise AssertionError("asked the TPU metadata server")

        tpu._get_metadata = tpu.get_tpu_env = no_network
        from tweetbench.harness.trainer import make_trainer

        make_trainer(backend, max_steps=1)  # Lightning logs TPU availability here
        x = torch.ones(4, 4, device=backend.torch_device)
        backend.synchronize()
        windows = []
        for _ in range(2):  # the same graph twice: compiled once, then found in the cache
            backend.begin_measurement()
            y = (x @ x + 1).sum()
            backend.synchronize()
            windows.append(backend.end_measurement())
        print(json.dumps({"windows": windows, "problems": [backend.check_measurement(w) for w in windows],
                          "facts": backend.facts(), "value": float(y.cpu()),
                          "memory": backend.memory()}))
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    first, second = out["windows"]
    assert first["compile_count"] == 1 and first["compile_s"] > 0 and first["execute_count"] >= 1
    assert second["compile_count"] == 0 and second["cached_compile_count"] >= 1
    assert out["problems"][0].startswith("1 XLA compilation during the measured steps")
    assert out["problems"][1] == ""
    assert out["facts"]["pjrt_device"] == "CPU" and out["facts"]["predict_grad_mode"] == "no_grad"
    assert out["facts"]["functionalization"] == "on"  # torch_xla's default, as the closed division runs it
    assert out["facts"]["persistent_compile_cache"] is None  # opened by configure_precision, not called here
    assert out["value"] == 80.0
    assert out["memory"] == {}  # PJRT on the CPU keeps no allocator statistics


@pytest.fixture(scope="module")
def xla_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("xla-results")
    # A compile cache of its own: the run is cold, so the compile figures below are real compiles.
    proc = tweetbench("run", "--devices", "cpu,xla-cpu", "--workload", "tiny", "--preset", "smoke",
                      "--out", str(out), cwd=out.parent, env={"XLA_PERSISTENT_CACHE_PATH": str(out.parent / "cache")})
    return proc, out


@pytest.mark.slow
@pytest.mark.xla
@needs_xla
def test_xla_cpu_end_to_end_is_ok_with_compile_figures_and_cpu_parity(xla_run):
    proc, out = xla_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    cpu = read_result(run_dir / "cpu.json").to_dict()
    xla = read_result(run_dir / "xla-cpu.json").to_dict()
    assert xla["status"] == "ok", xla["reason"]
    assert xla["device"]["label"] == "XLA on CPU (not a TPU) [fp32 IEEE (XLA matmul precision highest)]"
    assert "TPU" not in xla["device"]["hardware"] and xla["device"]["facts"]["compile_cache_state"] == "cold"
    metrics = xla["metrics"]
    totals, window = metrics["device_totals"], metrics["device_counters"]
    assert totals["compile_count"] >= 2 and totals["compile_s"] > 0 and totals["execute_s"] > 0
    assert window["compile_count"] == 0 and window["execute_count"] >= metrics["training"]["measured_steps"]
    assert metrics["device_phases"]["train"]["compile_count"] >= 1
    train = metrics["training"]
    assert train["measured_steps"] == 8 and train["step_ms"]["p50"] > 0
    # Host round-trips per step are counted. torch_xla's default, functionalization on, lowers the LSTM
    # cell's in-place gate views to gathers with host-built indices: 97 uploads per tiny training step (off,
    # only the batch's: see the functionalization knob of the open division). The report names the cause.
    facts = xla["device"]["facts"]
    assert facts["functionalization"] == "on"
    assert facts["persistent_compile_cache"].endswith(facts["compile_cache_key"])
    assert "-highest-functionalization-on-" in facts["compile_cache_key"]
    transfers = train["host_transfers"]
    assert transfers["to_device_per_step"] > 10 * transfers["allowed_to_device_per_step"] == 30
    report = (run_dir / "report.md").read_text()
    assert "host-to-device transfers per measured step, beyond" in report
    assert "gathers whose int64 indices are built on the host" in report
    for section in (train, metrics["inference"]["offline"]):  # a gain, or one flagged unreliable and kept apart
        assert (section["overlap_gain"] or section.get("overlap_gain_unreliable") or 0) > 0
    assert totals["persistent_cache_misses"] >= 1
    # The first step carries the compile; the steady steps do not.
    assert train["time_to_first_step_s"] * 1e3 > 5 * train["step_ms"]["p50"]
    verdicts = {c.device: c for c in parity_checks([cpu, xla], "cpu")}
    assert verdicts["xla-cpu"].verdict == "match", verdicts["xla-cpu"].reason
    assert "device_totals" not in cpu["metrics"]  # the CPU counts no compiles
    summary = (out / "summary.md").read_text()
    assert "## Compile cost (XLA)" in summary and "## Parity with the CPU" in summary
    assert "| match |" in summary and "break-even" in summary.lower()


def _fake_pci(root, *device_ids: str):
    for i, device in enumerate(device_ids):
        slot = root / f"0000:00:0{i}.0"
        slot.mkdir(parents=True)
        (slot / "vendor").write_text("0x1ae0\n")
        (slot / "device").write_text(device + "\n")
    return root


def test_tpu7x_chips_are_counted_on_the_pci_bus(tmp_path):
    assert tpu_chip_count(_fake_pci(tmp_path, "0x0076", "0x0076", "0x9999")) == 2


def test_a_tpu_index_beyond_the_chips_is_unavailable_not_failed(tmp_path, monkeypatch):
    from tweetbench import devices
    from tweetbench.devices import xla

    root = _fake_pci(tmp_path, "0x0076", "0x0076")
    monkeypatch.setattr(xla, "tpu_chip_count", lambda: tpu_chip_count(root))
    monkeypatch.setattr(xla, "tpu_pci_generations", lambda: tpu_pci_generations(root))
    monkeypatch.setattr(xla, "_torch_xla_problem", lambda: "")  # the count is checked before torch_xla is needed
    availability = devices.probe(parse_device("tpu:3"))
    assert not availability.available
    assert availability.reason == "tpu:3 does not exist: this machine has 2 TPU chip(s), tpu:0..tpu:1"
    many = devices.probe(parse_device("tpu:4", counted=True))
    assert not many.available and "4 devices per node asked for" in many.reason
    assert availability.hardware == "TPU7x, 2 chips"


def test_the_tpu_generation_comes_from_the_pci_ids_and_torch_xlas_device_kind(tmp_path):
    assert tpu_pci_generations(_fake_pci(tmp_path, "0x0063", "0x0063", "0x9999")) == ["v5e", "v5e"]
    assert tpu_generation(None, ["v5e", "v5e"]) == "v5e"
    for kind, generation in (("TPU v4", "v4"), ("TPU v5 lite", "v5e"), ("TPU v5", "v5p"), ("TPU v5p", "v5p"),
                             ("TPU v6 lite", "v6e"), ("TPU7x", "TPU7x")):
        assert tpu_generation(kind, []) == generation
    assert tpu_generation("TPU v6 lite", ["v5e"]) == "v6e"  # the device kind, where it names one, wins
    assert tpu_generation("some new kind", ["v5p"]) == "v5p"
    assert tpu_generation(None, ["v5e", "v6e"]) is None and tpu_generation(None, []) is None


def test_the_tpu_label_names_the_generation_and_the_six_pass_fp32():
    assert TPU_MATH_MODES["highest"] == "fp32 (six bf16 passes, ≈22 bits)"
    assert TPUBackend.label(tpu_hardware(4, ["v5e"] * 4), TPU_MATH_MODES["highest"]) == \
        "TPU (v5e, 4 chips) [fp32 (six bf16 passes, ≈22 bits)]"
    assert tpu_hardware(1, ["v6e"]) == "v6e, 1 chip"
    assert tpu_hardware(8, ["v4"] * 8, "TPU v5 lite") == "v5e, 8 chips"
    assert tpu_hardware(2, ["v5e", "v6e"]) == "2 chips, generation mixed: v5e, v6e"
    assert tpu_hardware(2, []) == "2 chips, generation unknown"
    # XLA on the CPU computes IEEE fp32 at "highest": its label says so, never the TPU's passes.
    assert create_backend(parse_device("xla-cpu")).math_modes["highest"] == "fp32 IEEE (XLA matmul precision highest)"


def test_ab_sides_can_set_functionalization_and_the_worker_applies_it_before_torch_xla_loads(tmp_path, monkeypatch):
    from tweetbench import cli
    from tweetbench.config import DeviceJob, get_preset
    from tweetbench.launch import worker
    from tweetbench.workload import variants

    argv = ["ab", "--devices", "xla-cpu", "--workload", "tiny", "--out", str(tmp_path),
            "--a", "--xla-functionalization on", "--b", "--xla-functionalization off"]
    args = cli.build_parser().parse_args(argv)
    sides = {name: cli._ab_side(args, getattr(args, name), name, argv) for name in ("a", "b")}
    assert sides["a"].xla_functionalization == "on" and sides["b"].xla_functionalization == "off"
    job = DeviceJob("xla-cpu", variants.resolve("tiny"), get_preset("smoke"), xla_functionalization="off")
    monkeypatch.setenv(FUNCTIONALIZATION_ENV, "0")
    worker._apply_process_env(job)
    assert os.environ[FUNCTIONALIZATION_ENV] == "1" and functionalization_state() == "off"
    worker._apply_process_env(DeviceJob("xla-cpu", variants.resolve("tiny"), get_preset("smoke")))
    assert os.environ[FUNCTIONALIZATION_ENV] == "1"  # no option: the environment as it is


def test_functionalization_is_refused_in_one_line_where_no_xla_device_runs(tmp_path, capsys):
    from tweetbench.cli import main

    assert main(["run", "--devices", "cpu", "--xla-functionalization", "off", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == ("tweetbench: error: --xla-functionalization applies to XLA devices "
                                               "only: add tpu or xla-cpu to --devices, or leave it out")


@pytest.mark.xla
@needs_xla
def test_serving_single_sample_path_runs_the_graph_the_batch_paths_warm_up_compiled():
    proc = python("""
        import json, torch
        from tweetbench.config import get_workload
        from tweetbench.devices import create_backend, parse_device
        from tweetbench.harness.sut import Predictor
        from tweetbench.workload.model import build_model
        backend = create_backend(parse_device("xla-cpu"))
        backend.setup()
        model = build_model(get_workload("tiny"), 4).to(backend.torch_device).eval()
        tokens = torch.randint(1, 50, (16, get_workload("tiny").seq_len), generator=torch.Generator().manual_seed(0))
        predictor = Predictor(model, backend, tokens, torch.no_grad)
        batch = predictor(list(range(16)), 16)
        predictor([0], 1)  # the warm-up's batch of one
        counts = {}
        for name, run in (("one", lambda: [predictor.one(i) for i in range(16)]),
                          ("batch of 2", lambda: predictor([0, 1], 2))):  # a shape not warmed up: it compiles
            backend.begin_measurement()
            answers = run()
            counts[name] = backend.end_measurement().get("compile_count")
            if name == "one":
                counts["same answers"] = answers == batch
        print(json.dumps(counts))
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert counts == {"one": 0, "same answers": True, "batch of 2": 1}
