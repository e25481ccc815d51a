"""Applying the open division's options: each knob switches on, and closed leaves it off."""

from __future__ import annotations

import torch

from tweetbench.config import WORKLOADS, DataSource, StepOptions
from tweetbench.devices import DeviceSpec, create_backend, knobs
from tweetbench.errors import one_line
from tweetbench.harness.ablation import Arm, Block, train_block
from tweetbench.harness.knobs import CLOSED, adam_options, compile_forward, open_module
from tweetbench.workload.dataset import load_data, make_loader
from tweetbench.workload.model import build_model

TINY = WORKLOADS["tiny"]


def test_adam_options_switch_the_implementation_and_keep_the_device_arguments():
    assert adam_options({"capturable": True}, CLOSED) == {"capturable": True}
    assert adam_options({"capturable": True}, StepOptions(adam="foreach")) == {"capturable": True, "foreach": True}
    assert adam_options({"fused": True}, StepOptions(adam="foreach")) == {"foreach": True}
    assert adam_options({}, StepOptions(adam="fused")) == {"fused": True}
    assert adam_options({}, StepOptions(adam="for-loop")) == {"foreach": False}
    assert adam_options({}, StepOptions(adam="foreach", broken=True))["maximize"] is True


def test_compile_forward_only_when_asked():
    model = build_model(TINY, 4)
    assert compile_forward(model, CLOSED) is None
    assert callable(compile_forward(model, StepOptions(compile_backend="inductor", compile_mode="default")))


def test_open_module_copies_the_weights_and_records_its_options():
    model = build_model(TINY, 4)
    options = StepOptions(adam="fused")
    module = open_module(model, TINY.lr, {}, options)
    assert module.model is not model
    assert all(torch.equal(a, b) for a, b in zip(module.model.state_dict().values(), model.state_dict().values(),
                                                 strict=True))
    assert module.step_options == options
    optimizer = module.configure_optimizers()
    assert optimizer.defaults["fused"] is True
    closed = open_module(model, TINY.lr, {}, CLOSED).configure_optimizers()
    assert not closed.defaults["fused"] and not closed.defaults["foreach"]


def test_the_loader_knob_prefetches_in_workers_in_the_same_order():
    data = load_data(TINY, DataSource())
    plain = make_loader(data.train, 16, seed=3, total_batches=4)
    prefetched = make_loader(data.train, 16, seed=3, total_batches=4, workers=1)
    assert prefetched.num_workers == 1 and plain.num_workers == 0
    for (a, la), (b, lb) in zip(plain, prefetched, strict=True):
        assert torch.equal(a, b) and torch.equal(la, lb)


def test_each_cpu_knob_switches_on_in_a_training_block_and_closed_switches_it_off():
    """Every knob the CPU supports trains a few tiny steps with its option on; then closed, with it off."""
    data = load_data(TINY, DataSource())
    backend = create_backend(DeviceSpec("cpu"))
    model = build_model(TINY, data.num_classes)
    block = Block(TINY.batch_size, TINY.seed, "32-true", warmup=1, steps=2)
    for knob in backend.open_knobs("32-true"):
        if knob.problem:
            continue
        arm = Arm(knob.name, knob.options, open_module(model, TINY.lr, {}, knob.options))
        recorder = train_block(arm, backend, data.train, block, 0)
        assert len(recorder.measured) == 2, knob.name
        assert (arm.module.compiled_forward is not None) == (knob.options.compile_backend is not None)
        closed = Arm("closed", CLOSED, open_module(model, TINY.lr, {}, CLOSED))
        train_block(closed, backend, data.train, block, 0)
        assert closed.module.compiled_forward is None


def test_a_knob_that_raises_is_one_line():
    try:
        raise RuntimeError("backend 'nope' not found\n  long traceback text")
    except RuntimeError as exc:
        assert one_line(exc) == "RuntimeError: backend 'nope' not found"
        assert one_line(exc, limit=7) == "RuntimeError: backend"
    assert one_line(ValueError()) == "ValueError"


def test_the_broken_test_knob_changes_the_math():
    broken = knobs.broken()
    assert broken.options.broken and adam_options({}, broken.options)["maximize"] is True
