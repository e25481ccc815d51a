"""The open-division section: closed against open per device, each knob's ablation and the accuracy gate,
rendered from stored records."""

import json
from pathlib import Path


from tweetbench.report.division import ablation_table, division_section, division_table, gate_lines
from tweetbench.report.markdown import render_run_report, render_summary
from tweetbench.report.convergence import render_convergence_report

DATA = Path(__file__).parent.parent / "data"


def open_block():
    return {
        "knobs": [
            {"name": "adam=fused", "knob": "adam", "option": "fused", "setting": "torch.optim.Adam(fused=True)",
             "supported": True, "problem": "", "speedup": 1.31, "ci95": [1.2, 1.4], "rounds": 12,
             "decision": "kept", "why": "resolved faster: 1.31× [1.20, 1.40]", "parity_max_abs_diff": 1e-6,
             "compile_s": None},
            {"name": "compile=inductor", "knob": "compile", "option": "inductor", "setting": "torch.compile(model)",
             "supported": True, "problem": "", "speedup": 1.08, "ci95": [1.02, 1.13], "rounds": 12,
             "decision": "kept", "why": "resolved faster", "parity_max_abs_diff": 2e-7, "compile_s": 25.1},
            {"name": "threads=8", "knob": "threads", "option": "8", "setting": "torch.set_num_threads(8)",
             "supported": False, "problem": "only 2 logical cores", "speedup": None, "ci95": None, "rounds": 0,
             "decision": "dropped", "why": "cannot run here", "parity_max_abs_diff": None, "compile_s": None},
        ],
        "applied": ["adam=fused", "compile=inductor"],
        "choice_reason": "the combination of the kept knobs: 1.42× [1.35, 1.50] against closed",
        "training": {"closed_samples_per_s": 700.0, "open_samples_per_s": 990.0, "speedup": 1.41,
                     "ci95": [1.33, 1.5], "rounds": 12, "ci_method": "percentile bootstrap over 12 interleaved rounds"},
        "inference_batch1": {"closed_p50_ms": 1.40, "open_p50_ms": 1.10, "speedup": 1.27, "ci95": [1.2, 1.3],
                             "rounds": 6, "ci_method": "percentile bootstrap over 6 interleaved rounds"},
        "inference_offline": {"batch_size": 256, "closed_samples_per_s": 5000.0, "open_samples_per_s": 6100.0,
                              "speedup": 1.22, "ci95": None, "rounds": 6, "ci_method": "too few rounds"},
        "compile": {"seconds": 25.1, "step_saving_ms": 12.0, "payback_steps": 2092, "note": ""},
        "gate": {"parity": {"verdict": "match", "max_abs_diff": 2e-7, "tolerance": 1e-3, "reason": ""}},
        "valid": True, "reason": "",
    }


def closed_record():
    return json.loads((DATA / "cpu_result.json").read_text())


def open_record(block=None, label="CPU (open)"):
    r = closed_record()
    r["device"] = dict(r["device"], label=label)
    r["workload"]["name"] += "+open"
    r["workload"]["fingerprint"] += "+open"
    r["workload"].setdefault("config", {})["division"] = "open"
    r["metrics"]["open"] = open_block() if block is None else block
    return r


def meta():
    return json.loads((DATA / "run_meta.json").read_text())


def test_the_division_table_shows_closed_open_their_ratio_the_knobs_and_the_gate():
    table = division_table([closed_record(), open_record()])
    lines = table.splitlines()
    assert len(lines) == 3  # header, rule, one row: the closed result has no open block
    assert "batch-256 closed / open samples/s" in lines[0]
    row = lines[2]
    assert row.startswith("| CPU (open) | 700 | 990 | 1.41× [1.33, 1.50] | 1.400 / 1.100 (1.27×) | ")
    assert "5,000 / 6,100 (1.22×)" in row and "`adam=fused`, `compile=inductor`" in row
    assert row.endswith("| parity match |")


def test_the_ablation_lists_every_knob_the_compile_payback_and_the_gate():
    text = ablation_table(open_record())
    assert "| `adam=fused` | `torch.optim.Adam(fused=True)` | 1.31× [1.20, 1.40] | **kept** | resolved faster: " \
           "1.31× [1.20, 1.40] |" in text
    assert "| `threads=8` | `torch.set_num_threads(8)` | – | dropped (not supported here) | cannot run here; only 2 " \
           "logical cores |" in text
    assert text.index("adam=fused") < text.index("compile=inductor") < text.index("threads=8")  # in order
    assert "Compilation: 25.1 s, paid back after 2,092 steps at 12.0 ms saved per step." in text
    assert "- Parity: match, max |Δloss| 2e-07 ≤ 1e-03." in text


def test_a_compile_that_never_pays_back_gives_its_note_and_a_convergence_gate_its_epochs():
    block = open_block()
    block["compile"] = {"seconds": 30.0, "step_saving_ms": None, "payback_steps": None,
                        "note": "open is not faster per step: never paid back"}
    block["gate"]["convergence"] = {"closed_epochs": 3, "open_epochs": 4, "allowed_epochs": 4, "ok": True,
                                    "reason": ""}
    block["closed_convergence"] = {"time_to_accuracy_s": 42.49, "epochs_to_accuracy": 3, "best_val_acc": 0.85751,
                                   "test_acc": 0.8665, "epochs_run": 6}
    text = ablation_table(open_record(block))
    assert "Compilation: 30.0 s; open is not faster per step: never paid back." in text
    assert "- Convergence: open 4 epochs vs closed 3, allowed 4 → ok." in text
    assert ("- Closed's own convergence run on this device: target reached in 42.5 s (3 epochs), best validation "
            "accuracy 0.8575, test accuracy 0.8665, 6 epochs run") in text


def test_missing_keys_and_nulls_read_as_an_en_dash():
    block = {"knobs": [{"name": "adam=fused", "decision": "dropped", "why": "not resolved", "speedup": 1.02,
                        "ci95": None}],
             "applied": [], "gate": {"parity": {"verdict": "match", "max_abs_diff": None, "tolerance": 1e-3}},
             "training": {"closed_samples_per_s": 700.0, "open_samples_per_s": None, "speedup": None, "ci95": None},
             "valid": True, "reason": ""}
    row = division_table([open_record(block)]).splitlines()[2]
    assert row == "| CPU (open) | 700 | – | – | – | – | none (open = closed) | parity match |"
    assert "batched closed / open" in division_table([open_record(block)])  # no batch size recorded
    text = ablation_table(open_record(block))
    assert "| `adam=fused` | – | 1.02× [–] | dropped | not resolved |" in text
    assert "max |Δloss| – vs 1e-03" in text and "Compilation" not in text
    assert division_section([open_record({})])[0] == "## Open division"  # an empty block still renders


def test_no_open_result_renders_nothing():
    assert division_table([closed_record()]) == ""
    assert division_section([closed_record()]) == []
    assert ablation_table(closed_record()) == ""
    assert "Open division" not in render_run_report(meta(), [closed_record()])


def test_an_invalid_open_result_shows_its_reason_above_the_table_and_in_it():
    block = open_block()
    reason = "parity diverged: max |Δloss| 3.1e-01 > 1e-03 (knob adam=fused)"
    block.update(valid=False, reason=reason)
    block["gate"]["parity"].update(verdict="diverged", max_abs_diff=0.31, reason="step 2")
    r = dict(open_record(block), status="invalid", reason=reason)
    section = "\n".join(division_section([closed_record(), r]))
    assert f"> **CPU (open): the open result is invalid**: {reason}." in section
    assert f"| **invalid**: {reason.replace('|', chr(92) + '|')} |" in section  # pipes escaped in a cell
    assert "- Parity: diverged, max |Δloss| 3e-01 > 1e-03 (step 2)." in gate_lines(block)
    assert f"- **Invalid**: {reason}." in section


def test_the_section_sits_after_the_plain_words_in_the_report_the_summary_and_the_convergence_report(convergence_record):
    results = [closed_record(), open_record()]
    for text in (render_run_report(meta(), results), render_summary(meta(), results)):
        assert text.index("tweets per second") < text.index("## Open division") < text.index("### CPU (open)")
        assert "interleaved" in text and "never the model, the hyper-parameters" in text
        assert "1.41× [1.33, 1.50]" in text
    conv = convergence_record(label="CPU (open)")
    conv["metrics"]["convergence"].update(
        epochs_run=3, best_val_acc=0.71, test_acc=0.7, epochs_to_accuracy=2, samples_per_s=1000.0,
        stopped_early=False, max_epochs=3, best_val_loss=0.9, best_val_acc_epoch=3, test_loss=0.8, test_samples=192,
        test_weights="best epoch", batch_size=16, lr=1e-3, precision="32-true", train_s=12.0, fit_wall_s=15.2,
        tensorboard_dir="tensorboard/cpu", time_to_accuracy_train_s=8.0,
        early_stopping={"monitor": "val_loss", "mode": "min", "patience": 3})
    conv.update(reason="", environment={})
    block = {key: open_block()[key] for key in ("knobs", "applied", "choice_reason", "gate", "valid", "reason")}
    block["gate"]["convergence"] = {"closed_epochs": 3, "open_epochs": 3, "allowed_epochs": 4, "ok": True}
    conv["metrics"]["open"] = block  # a convergence run: no throughput figures
    for text in (render_convergence_report(dict(meta(), scenario="convergence"), [conv]),
                 render_summary(dict(meta(), scenario="convergence"), [conv])):
        assert text.index("## Open division") < text.index("| `adam=fused` |")
        assert "| CPU (open) | – | – | – | – | – | `adam=fused`, `compile=inductor` | parity match, convergence ok |" \
            in text and "- Convergence: open 3 epochs vs closed 3, allowed 4 → ok." in text


def test_a_knob_measured_in_processes_of_its_own_says_how_it_was_interleaved_and_its_parity():
    record = open_record()
    record["metrics"]["open"]["knobs"].append(
        {"name": "functionalization=off", "knob": "functionalization", "option": "off",
         "setting": "XLA_DISABLE_FUNCTIONALIZATION=1 before torch_xla loads", "supported": True, "problem": "",
         "speedup": 0.93, "ci95": [0.88, 0.98], "rounds": 12, "decision": "dropped",
         "why": "slower: 0.93× [0.88, 0.98]", "parity_max_abs_diff": 0.0, "compile_s": None,
         "isolation": "two long-lived worker processes, one per setting, driven in ABBA order"})
    text = ablation_table(record)
    assert "| `functionalization=off` | `XLA_DISABLE_FUNCTIONALIZATION=1 before torch_xla loads` | " \
           "0.93× [0.88, 0.98] | dropped | slower: 0.93× [0.88, 0.98] |" in text
    assert ("- `functionalization=off` ran in processes of its own: two long-lived worker processes, one per "
            "setting, driven in ABBA order; parity max |Δloss| against closed 0e+00, 12 rounds.") in text
    assert "ran in processes of its own" not in ablation_table(open_record())
