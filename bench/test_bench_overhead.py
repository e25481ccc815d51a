"""tweetbench's framework overhead: Lightning against a bare PyTorch loop, interleaved in one run.

``tweetbench.harness.overhead.run_overhead`` alternates blocks of Lightning ``fit`` steps and
bare-loop steps on the same batches (Lightning, bare, bare, Lightning, ...), both timed as whole
synchronised steps. The ratio (Lightning throughput / bare throughput) goes into ``extra_info``.
In full mode (``--benchmark-only``) on the v1 shapes, the CPU must not miss the 0.95 target (the whole
95% interval over rounds below it): a performance target, asserted only there, never in the fast mode
that CI runs.
"""

from __future__ import annotations

import dataclasses

import pytest
from benchrig import Mode, Rig

from tweetbench.analysis.overhead import overhead_summary
from tweetbench.analysis.summary import Summary
from tweetbench.config import PRESETS
from tweetbench.harness.overhead import run_overhead
from tweetbench.scenarios.metrics import OVERHEAD_TARGET

TARGET_WORKLOAD = "tweets-bilstm-v1"


# run_overhead's Trainers skip validation on purpose (limit_val_batches=0).
@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_lightning_overhead(benchmark, rig: Rig, mode: Mode) -> None:
    preset = PRESETS["quick"] if mode.full else dataclasses.replace(PRESETS["smoke"], overhead_rounds=4,
                                                                        overhead_steps=4)
    wl = rig.workload
    benchmark.group = "lightning-overhead"
    # One round: the interleaving inside run_overhead is the measurement; the round time is its cost.
    run = benchmark.pedantic(run_overhead, args=(rig.fresh_module(), rig.backend, rig.data.train),
                             kwargs=dict(batch_size=wl.batch_size, seed=wl.seed, preset=preset, precision=wl.precision),
                             rounds=1, warmup_rounds=0, iterations=1)
    lightning = Summary.from_samples([s for block in run.lightning_seconds for s in block])
    bare = Summary.from_samples([s for block in run.bare_seconds for s in block])
    assert run.order[:2] == ["lightning", "bare"] and len(run.round_ratios) == preset.overhead_rounds
    summary = overhead_summary(run.lightning_seconds, run.bare_seconds, OVERHEAD_TARGET)
    benchmark.extra_info.update(rig.info(
        mode=mode.name, ratio=run.ratio, target=OVERHEAD_TARGET, meets_target=summary["verdict"] == "meets",
        verdict=summary["verdict"], ci95=summary["ci95"],
        round_ratios=run.round_ratios, order=run.order, lightning_step_p50_ms=lightning.p50 * 1e3,
        bare_step_p50_ms=bare.p50 * 1e3, samples_per_s=wl.batch_size / lightning.p50,
        bare_samples_per_s=wl.batch_size / bare.p50, batch_size=wl.batch_size,
    ))
    if mode.full and wl.name == TARGET_WORKLOAD and rig.backend.kind == "cpu":
        # A clear miss fails; an interval that spans the target is "unresolved at this noise", not a failure.
        assert summary["verdict"] != "misses", (
            f"Lightning runs at {run.ratio:.3f}x the bare PyTorch loop's throughput on CPU (95% interval "
            f"{summary['ci95']}), below the {OVERHEAD_TARGET} target "
            f"(round ratios {', '.join(f'{r:.3f}' for r in run.round_ratios)})")
