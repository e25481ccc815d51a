"""Fixtures of the report tests: small records for the study's renderers and plots (tune, convergence, the
open division's convergence row)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest



def _convergence_record(device="cpu", label="CPU", reached=True):
    curves = {"epoch": [1, 2, 3], "train_loss": [1.3, 1.0, 0.8], "train_acc": [0.4, 0.6, 0.7],
              "val_loss": [1.2, 0.9, None], "val_acc": [0.55, 0.68, 0.71], "wall_s": [5.0, 10.1, 15.2],
              "train_s": [4.0, 8.0, 12.0]}
    return {"device": {"name": device, "label": label}, "workload": {"name": "tweets-bilstm-tiny"},
            "status": "ok", "metrics": {"convergence": {
                "curves": curves, "best_epoch": 2, "target_accuracy": 0.6,
                "time_to_accuracy_s": 10.1 if reached else None, "target_reached": reached}}}


def _sweep_record():
    ok = [{"batch_size": b, "status": "ok", "samples_per_s": s, "val_acc": a}
          for b, s, a in ((16, 500.0, 0.52), (32, 900.0, 0.45), (64, 1500.0, 0.34))]
    return {"sizes": [16, 32, 64, 128, 256], "budget_samples": 1024, "lr": 1e-3, "first_failure": 128,
            "throughput_peak": {"batch_size": 64, "samples_per_s": 1500.0},
            "accuracy_peak": {"batch_size": 16, "val_acc": 0.52},
            "points": ok + [{"batch_size": 128, "status": "out-of-memory", "reason": "CUDA out of memory"},
                            {"batch_size": 256, "status": "not-run", "reason": "stopped"}]}


@pytest.fixture(scope="session")
def convergence_record() -> Callable[..., dict[str, Any]]:
    """A convergence record: ``convergence_record(device="cpu", label="CPU", reached=True)``."""
    return _convergence_record


@pytest.fixture(scope="session")
def sweep_record() -> Callable[[], dict[str, Any]]:
    """A batch-size sweep as the tune record holds it."""
    return _sweep_record
