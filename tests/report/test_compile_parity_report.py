"""The compile-cost (XLA) and parity sections, rendered from stored records; break-even as a pure function."""

import copy
import json
from pathlib import Path

import pytest

from tweetbench.report.markdown import render_run_report, render_summary
from tweetbench.report.xla import break_even_for, break_even_steps, startup_cost_s

DATA = Path(__file__).parent.parent / "data"


def brute_force(cost, step, cpu_cost, cpu_step, limit=100_000):
    return next((n for n in range(1, limit) if cost + n * step <= cpu_cost + n * cpu_step + 1e-12), None)


@pytest.mark.parametrize("cost, step, cpu_cost, cpu_step", [
    (55.0, 0.1, 0.5, 0.4),     # two compiles, then 4x faster
    (2.0, 0.01, 0.3, 0.02),    # pays back after a few hundred steps
    (0.1, 0.1, 0.5, 0.4),      # cheaper start and faster: from the first step
    (10.0, 0.375, 0.0, 0.5),   # a quarter faster: 80 steps
])
def test_break_even_is_the_first_step_count_where_the_device_has_caught_up(cost, step, cpu_cost, cpu_step):
    assert break_even_steps(cost, step, cpu_cost, cpu_step) == brute_force(cost, step, cpu_cost, cpu_step)


def test_break_even_examples():
    # 10 s of compiles, gaining 0.3 s a step: 34 steps.
    assert break_even_steps(10.5, 0.1, 0.5, 0.4) == 34
    assert break_even_steps(0.2, 0.1, 0.5, 0.4) == 1


def test_a_device_slower_per_step_never_pays_its_compile_back():
    assert break_even_steps(30.0, 0.5, 0.1, 0.05) is None
    assert break_even_steps(30.0, 0.05, 0.1, 0.05) is None  # equal steady steps
    assert break_even_steps(0.0, 0.5, 1.0, 0.05) is None    # ahead at first, but slower: never


def records():
    cpu = json.loads((DATA / "cpu_result.json").read_text())
    cpu["metrics"]["parity"] = {"losses": [1.4215, 1.4031, 1.4134], "steps": 3, "dropout": 0.0}
    cpu["metrics"]["training"]["time_to_first_step_s"] = 0.5
    xla = copy.deepcopy(cpu)
    xla["device"] = {"name": "xla-cpu", "kind": "xla-cpu", "label": "XLA on CPU (not a TPU)", "hardware": "XLA on CPU",
                     "facts": {"pjrt_device": "CPU", "torch_xla": "2.9.0", "predict_grad_mode": "no_grad",
                               "persistent_compile_cache": False}}
    train = xla["metrics"]["training"]
    train["time_to_first_step_s"] = 12.5
    train["raw_warmup_s"] = [12.4, 9.0] + [0.05] * 8
    train["raw_step_s"] = [0.05] * 8
    train["step_ms"] = dict(train["step_ms"], p50=50.0)
    xla["metrics"]["device_totals"] = {"compile_count": 14, "compile_s": 49.06, "execute_count": 133,
                                       "execute_s": 0.2, "cached_compile_count": 114,
                                       "fallback_ops": {"aten::_local_scalar_dense": 28}}
    xla["metrics"]["device_counters"] = {"compile_count": 0, "compile_s": 0.0, "execute_count": 8}
    xla["metrics"]["device_phases"] = {"train": {"compile_count": 5, "compile_s": 13.6, "execute_count": 23,
                                                 "cached_compile_count": 18}}
    xla["timing"] = dict(xla.get("timing") or {}, phases_s={"train": 14.7})
    xla["metrics"]["parity"] = {"losses": [1.42150012, 1.4031, 1.4134], "steps": 3, "dropout": 0.0}
    return cpu, xla


def meta():
    return json.loads((DATA / "run_meta.json").read_text())


def test_startup_cost_counts_the_warmup_from_the_call_to_fit_beyond_steady_speed():
    _, xla = records()
    # warm-up: 12.5 s (from fit()), 9.0 s, then 8 steps at the 50 ms median
    assert startup_cost_s(xla) == pytest.approx(12.5 + 9.0 + 8 * 0.05 - 10 * 0.05)


def test_the_summary_shows_compile_cost_break_even_and_parity_per_device():
    cpu, xla = records()
    text = render_summary(meta(), [cpu, xla])
    assert "## Compile cost (XLA)" in text
    row = next(line for line in text.splitlines() if line.startswith("| XLA on CPU") and "12.5 s" in line)
    assert "14 (49.1 s)" in row and "0 / – / –" in row and "50.00 ms" in row
    assert "`aten::_local_scalar_dense` ×28" in row
    assert break_even_for(xla, cpu)[1] in row
    assert "## Parity with the CPU" in text and "| match |" in text and "| reference |" in text
    assert "**DIVERGED**" not in text
    assert "diverged from the CPU" not in text


def with_cpu_steps(cpu, seconds):
    train = cpu["metrics"]["training"]
    train["raw_warmup_s"], train["raw_step_s"] = [seconds] * 2, [seconds] * 8
    train["step_ms"] = dict(train["step_ms"], p50=seconds * 1e3)
    return cpu


def test_break_even_in_the_table_uses_both_records_of_the_run():
    cpu, xla = records()
    n, text = break_even_for(xla, with_cpu_steps(cpu, 0.01))
    assert n is None and text == "never (steady step 50.0 ms vs the CPU's 10.0 ms)"
    n, text = break_even_for(xla, with_cpu_steps(cpu, 0.2))
    assert n == break_even_steps(startup_cost_s(xla), 0.05, startup_cost_s(cpu), 0.2) == 141
    assert text == f"after 141 steps (start-up {startup_cost_s(xla):.1f} s vs the CPU's {startup_cost_s(cpu):.1f} s)"
    assert break_even_for(xla, None)[1] == "– (no CPU result in this run)"


def test_a_diverged_device_is_flagged_not_silently_compared():
    cpu, xla = records()
    xla["metrics"]["parity"]["losses"] = [1.4215, 1.4031, 1.4500]
    summary = render_summary(meta(), [cpu, xla])
    assert "> **XLA on CPU (not a TPU) diverged from the CPU**" in summary
    assert "ok (diverged from the CPU)" in summary
    assert "| **DIVERGED** |" in summary and "3.66e-02 (step 3)" in summary
    report = render_run_report(meta(), [cpu, xla])
    assert "| **DIVERGED** |" in report and "Compiles per phase, XLA on CPU (not a TPU)" in report


def test_runs_without_compiled_devices_or_parity_show_neither_section():
    cpu = json.loads((DATA / "cpu_result.json").read_text())
    text = render_summary(meta(), [cpu])
    assert "Compile cost" not in text and "Parity with the CPU" not in text


def test_the_report_names_the_compile_cache_folder_and_the_graphs_loaded_from_disk_per_phase():
    from tweetbench.report.xla import compile_section

    cpu, xla = records()
    folder = "/c/xla-compile/torch_xla-2.9.0-default-functionalization-on-0123456789"
    xla["device"]["facts"].update(persistent_compile_cache=folder, compile_cache_state="cold",
                                  compile_cache_key=folder.rsplit("/", 1)[1], functionalization="on")
    xla["metrics"]["device_phases"]["train"]["persistent_cache_hits"] = 0
    text = "\n".join(compile_section([cpu, xla], cpu, phases=True))
    assert (f"functionalization on; persistent compile cache `{folder}` (cold; one folder per torch_xla version, "
            "matmul precision, functionalization and XLA_FLAGS).") in text
    assert "| compile-cache hits | loaded from disk |" in text and "| 18 | 0 |" in text
    xla["device"]["facts"]["persistent_compile_cache"] = None
    assert "no persistent compile cache: every compile is cold" in "\n".join(compile_section([cpu, xla], cpu))
