"""The sync-debug pass: which calls inside measured training steps make the host wait for the device.

A hidden synchronisation (``.item()``, a device-to-host copy, ``nonzero``) stalls the host once per step and
ends the overlap of host and device. torch reports each one as a warning once
``torch.cuda.set_sync_debug_mode("warn")`` is on (the backend's ``set_sync_debug``; devices without a
host-device split have none, and the pass says "not applicable"). This pass trains the workload's model
through the same Lightning ``Trainer`` as the closed division, turns the mode on for the measured steps
only, and names each synchronising call by the first frame outside torch. The harness's own
synchronisation at each step's end runs with the mode off. The target is zero.
"""

from __future__ import annotations

import os
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch

from tweetbench.config import WorkloadConfig
from tweetbench.devices import DeviceBackend
from tweetbench.harness.trainer import make_trainer
from tweetbench.workload.model import build_model
from tweetbench.workload.module import TweetClassifier

# torch's sync-debug warning reads "called a synchronizing CUDA operation".
SYNC_WARNING = "synchronizing"
_SKIP_DIRS = (os.path.dirname(torch.__file__), os.path.abspath(warnings.__file__), os.path.abspath(__file__))


@dataclass(frozen=True)
class SyncDebugConfig:
    """How many steps run before the mode goes on (cuDNN plans, allocator growth), and how many are checked."""

    warmup_steps: int = 5
    measured_steps: int = 20


def call_site(stack: list[traceback.FrameSummary]) -> str:
    """The innermost frame outside torch, the warnings module and this file: ``pkg/file.py:LINE in func``."""
    for frame in reversed(stack):
        path = os.path.abspath(frame.filename)
        if path.startswith(_SKIP_DIRS[0] + os.sep) or path in _SKIP_DIRS[1:]:
            continue
        short = path.split("site-packages" + os.sep)[-1] if "site-packages" in path else os.path.relpath(path)
        return f"{short}:{frame.lineno} in {frame.name}"
    return "inside torch (no Python caller)"


class SyncCounter:
    """Counts torch's synchronisation warnings while active, by call site; other warnings pass through."""

    def __init__(self) -> None:
        self.sites: Counter[str] = Counter()
        self.messages: dict[str, str] = {}
        self._catch: Any = None
        self._previous: Any = None

    def _show(self, message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
              line: str | None = None) -> None:
        text = str(message)
        if SYNC_WARNING not in text:
            self._previous(message, category, filename, lineno, file, line)
            return
        site = call_site(traceback.extract_stack()[:-1])
        self.sites[site] += 1
        self.messages.setdefault(site, text.splitlines()[0][:200])

    def __enter__(self) -> SyncCounter:
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("always")  # every call counted, not the first per line
        self._previous, warnings.showwarning = warnings.showwarning, self._show
        return self

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)

    @property
    def total(self) -> int:
        return sum(self.sites.values())


class SyncDebugWindow(pl.Callback):
    """Turns the device's sync-debug mode on for the measured steps only; its own sync runs with it off."""

    def __init__(self, backend: DeviceBackend, config: SyncDebugConfig) -> None:
        self.backend, self.config = backend, config
        self.done = 0

    def _debug(self, on: bool) -> None:
        setter = getattr(self.backend, "set_sync_debug", None)
        if setter is not None:
            setter(on)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._debug(False)
        self.backend.synchronize()
        self.done += 1
        end = self.config.warmup_steps + self.config.measured_steps
        self._debug(self.config.warmup_steps <= self.done < end)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._debug(False)


def synthetic_loader(workload: WorkloadConfig, steps: int, pin_memory: bool, seed: int = 0) -> Any:
    """Batches of the workload's shapes (token ids, author labels), pinned like the closed division's."""
    generator = torch.Generator().manual_seed(seed)
    count = steps * workload.batch_size
    tokens = torch.randint(1, workload.vocab_size, (count, workload.seq_len), generator=generator)
    labels = torch.randint(0, workload.corpus_authors, (count,), generator=generator)
    dataset = torch.utils.data.TensorDataset(tokens, labels)
    return torch.utils.data.DataLoader(dataset, batch_size=workload.batch_size, pin_memory=pin_memory)


def sync_debug_pass(backend: DeviceBackend, workload: WorkloadConfig, precision: str,
                    config: SyncDebugConfig = SyncDebugConfig()) -> dict[str, Any]:
    """Train ``warmup + measured`` steps of the workload on ``backend``; count the syncs in the measured ones."""
    applicable = getattr(backend, "set_sync_debug", None) is not None
    result: dict[str, Any] = {"device": backend.spec.name, "precision": precision, "applicable": applicable,
                              "reason": "" if applicable else
                              f"{backend.spec.kind}: no host-device synchronisation to detect (torch's sync-debug "
                              "mode is CUDA's); the same steps ran without it",
                              "warmup_steps": config.warmup_steps, "measured_steps": config.measured_steps}
    supported, why = backend.supports_precision(precision)
    if not supported:
        return {**result, "applicable": False, "reason": why, "verdict": "not applicable", "sync_calls": 0,
                "steps_run": 0, "sites": []}
    torch.manual_seed(workload.seed)
    math = backend.configure_precision(precision)
    module = TweetClassifier(build_model(workload, workload.corpus_authors), workload.lr,
                             optimizer_options=backend.optimizer_options(precision))
    steps = config.warmup_steps + config.measured_steps
    window = SyncDebugWindow(backend, config)
    trainer = make_trainer(backend, max_steps=steps, callbacks=[window], precision=precision)
    with SyncCounter() as counter:
        trainer.fit(module, synthetic_loader(workload, steps, backend.pin_memory))
    result.update({
        "math_mode": math.get("math_mode"), "steps_run": window.done, "sync_calls": counter.total,
        "sites": [{"site": site, "count": count, "message": counter.messages[site]}
                  for site, count in counter.sites.most_common()],
    })
    result["verdict"] = ("not applicable" if not applicable else
                         "pass: no synchronising call" if counter.total == 0 else
                         f"fail: {counter.total} synchronising call(s) in {config.measured_steps} steps")
    return result


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The pass's result as a few lines of text."""
    lines = [f"sync-debug {result['device']} {result['precision']} ({result.get('math_mode')}), "
             f"{result['steps_run']} steps run: {result['verdict']}" + (f" ({result['reason']})" if result["reason"]
                                                                       else "")]
    lines += [f"  {site['count']:>4} x {site['site']}: {site['message']}" for site in result.get("sites", [])]
    return lines
