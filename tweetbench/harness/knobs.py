"""Apply the open division's ``StepOptions`` to a training module: its Adam, its compiled forward.

The process-wide options (threads, affinity) are the backend's (``DeviceBackend.process_settings``)
and the loader's workers go to ``make_loader``; everything else is here. The model itself, its
initial weights, the learning rate and Adam's semantics never change: only how the step is computed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from tweetbench.config import StepOptions
from tweetbench.workload.module import TweetClassifier

CLOSED = StepOptions()


def adam_options(base: Mapping[str, Any], options: StepOptions) -> dict[str, Any]:
    """The device's closed Adam arguments (``base``: capturable, fused) with the options' implementation."""
    out = dict(base)
    if options.adam is not None:
        out.pop("fused", None)
        out.pop("foreach", None)
        if options.adam == "fused":
            out["fused"] = True
        else:
            out["foreach"] = options.adam == "foreach"
    if options.broken:
        out["maximize"] = True  # test fault broken-knob: a knob that changes the math on purpose
    return out


def compile_forward(model: nn.Module, options: StepOptions) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``torch.compile`` of ``model.forward`` with the options' backend and mode; None when they compile nothing.

    Compiling the bound forward (not the module) leaves the module tree, the state dict and Lightning's
    view of the model as they are; the compile itself happens on the first call.
    """
    if options.compile_backend is None:
        return None
    kwargs: dict[str, Any] = {"backend": options.compile_backend}
    if options.compile_mode is not None:
        kwargs["mode"] = options.compile_mode
    return torch.compile(model.forward, **kwargs)


def open_module(model: nn.Module, lr: float, base_adam: Mapping[str, Any], options: StepOptions, *,
                log_metrics: bool = False) -> TweetClassifier:
    """A training module on a copy of ``model`` (same weights) whose step is computed the options' way."""
    module = TweetClassifier(copy.deepcopy(model), lr, log_metrics=log_metrics,
                             optimizer_options=adam_options(base_adam, options))
    module.step_options = options
    module.compiled_forward = compile_forward(module.model, options)
    return module
