"""The analytic FLOPs against torch's own FLOP counter on an unrolled copy of the model.

``FlopCounterMode`` does not see inside the fused ``aten::lstm`` op, but it does count
``LSTMCell``. So the test unrolls the model's LSTM into cells that share its weights, checks that
the unrolled model computes the same logits, and compares the matmul FLOPs it counts (forward,
and forward + backward) with the analytic formula.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tweetbench.config import WORKLOADS
from tweetbench.workload.flops import (
    TRAINING_MULTIPLIER,
    lstm_flops,
    percent_of,
    workload_flops,
)
from tweetbench.workload.model import BiLSTMClassifier, build_model


def _cell(lstm: nn.LSTM, layer: int, reverse: bool) -> nn.LSTMCell:
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    cell = nn.LSTMCell(getattr(lstm, "weight_ih" + suffix).shape[1], lstm.hidden_size)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(cell, name).data = getattr(lstm, name + suffix).data
    return cell


def unrolled_logits(model: BiLSTMClassifier, tokens: torch.Tensor) -> torch.Tensor:
    """The model's forward pass with its LSTM run step by step through LSTMCells."""
    lstm = model.lstm
    x = model.embedding(tokens)
    batch, seq, _ = x.shape
    for layer in range(lstm.num_layers):
        outputs = []
        for reverse in ((False, True) if lstm.bidirectional else (False,)):
            cell = _cell(lstm, layer, reverse)
            h = x.new_zeros(batch, lstm.hidden_size)
            c = x.new_zeros(batch, lstm.hidden_size)
            steps: list[torch.Tensor] = [x.new_empty(0)] * seq
            for t in (reversed(range(seq)) if reverse else range(seq)):
                h, c = cell(x[:, t], (h, c))
                steps[t] = h
            outputs.append(torch.stack(steps, dim=1))
        x = torch.cat(outputs, dim=-1)
    mask = (tokens != 0).unsqueeze(-1).to(x.dtype)
    pooled = (x * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    return model.head(model.dropout(pooled))


def _matmul_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@pytest.mark.parametrize("layers", [1, 2])
def test_analytic_matmul_flops_match_torchs_counter(layers):
    workload = dataclasses.replace(WORKLOADS["tiny"], num_layers=layers)
    classes = 4
    model = build_model(workload, classes).eval()
    tokens = torch.randint(1, workload.vocab_size, (workload.batch_size, workload.seq_len))
    tokens[:, -3:] = 0  # padding: still computed, so still counted
    with torch.no_grad():
        torch.testing.assert_close(unrolled_logits(model, tokens), model(tokens), rtol=1e-4, atol=1e-5)

    flops = workload_flops(workload, classes)
    analytic_matmul = flops.parts["lstm_matmul"] + 2 * 2 * workload.hidden_size * classes
    assert _matmul_flops(lambda: unrolled_logits(model, tokens)) == workload.batch_size * analytic_matmul

    model.train()
    counted = _matmul_flops(lambda: unrolled_logits(model, tokens).sum().backward())
    # Autograd skips one product per direction and layer: the gradient with respect to the initial
    # hidden state, a constant zero. The 3x convention keeps it; it is 1/T of the recurrent matmuls.
    hidden = workload.hidden_size
    skipped = 2 * layers * 2 * 4 * hidden * hidden
    assert counted == workload.batch_size * (TRAINING_MULTIPLIER * analytic_matmul - skipped)


def test_v1_figures_and_their_parts():
    flops = workload_flops(WORKLOADS["v1"], 10)
    # 2 directions x 48 steps x (2 x 4 x 128 x (128 + 128) + 17 x 128), hand-computed.
    assert flops.parts["lstm_matmul"] == 2 * 48 * 262_144
    assert flops.parts["lstm_elementwise"] == 2 * 48 * 2_176
    assert flops.parts["embedding"] == 0
    assert flops.forward_per_sample == sum(flops.parts.values())
    assert flops.training_per_sample == 3 * flops.forward_per_sample
    assert 25e6 < flops.forward_per_sample < 26e6
    record = flops.to_dict()
    assert record["forward_parts"]["head"] == 2 * 256 * 10 + 10 and "3 x forward" in record["convention"]


def test_unidirectional_and_stacked_lstm_inputs():
    one_way = lstm_flops(10, 8, 4, directions=1)
    assert one_way == (10 * 2 * 4 * 4 * (8 + 4), 10 * 17 * 4)
    # The second layer of a BiLSTM reads both directions of the first: input 2H.
    two_layers = lstm_flops(10, 8, 4, num_layers=2, directions=2)
    assert two_layers[0] == 2 * 10 * 2 * 4 * 4 * (8 + 4) + 2 * 10 * 2 * 4 * 4 * (8 + 4)


def test_percent_of_peak():
    assert percent_of(25.0, 100.0) == 25.0
    assert percent_of(None, 100.0) is None and percent_of(5.0, None) is None and percent_of(5.0, 0.0) is None
