"""Analytic FLOPs of the workload: how much arithmetic one training sample and one inference cost.

The count follows the model in ``model.py`` exactly as it runs: every LSTM time step is
computed, padding included, because the batches have a static shape.

Per sample, with ``T`` = sequence length, ``E`` = embedding size, ``H`` = hidden size per
direction, ``D`` = directions (2 for the BiLSTM), ``L`` = LSTM layers, ``C`` = classes and
``I_l`` = the input size of layer ``l`` (``E`` for the first, ``D*H`` after it):

* embedding lookup: 0 (a gather, no arithmetic);
* LSTM matmuls: ``sum_l D * T * 2 * 4H * (I_l + H)``: four gates, each a multiply-add of the
  input and the previous hidden state (a multiply-add counts as 2 FLOPs);
* LSTM element-wise: ``sum_l D * T * 17H``: the two bias vectors (8H), the gate non-linearities
  (3 sigmoids and a tanh, 4H, one FLOP each), ``c' = f*c + i*g`` (3H), ``tanh(c')`` (H) and
  ``h = o*tanh(c')`` (H);
* masked mean pool: ``2*T*D*H + D*H + T`` (mask multiply, sum over time, divide; count the mask);
* linear head: ``2*D*H*C + C``.

``forward = lstm_matmul + lstm_elementwise + pool + head`` is the cost of one inference.
A training sample costs ``3 * forward``: the backward pass computes the gradient with respect to
both the inputs and the weights of every matmul, twice the forward work. As in the usual
model-FLOPs-utilisation convention, the optimizer update, dropout and the loss are left out
(for v1 they add about 1% to a training step).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tweetbench.config import WorkloadConfig

# The multiplier from one forward pass to one training sample (forward + backward).
TRAINING_MULTIPLIER = 3
# FLOPs per LSTM time step, direction and hidden unit outside the matmuls (see the module docstring).
LSTM_ELEMENTWISE_PER_UNIT = 17
CONVENTION = ("model FLOPs: a multiply-add is 2 FLOPs; padding steps counted; training = 3 x forward; "
              "optimizer, dropout and loss not counted")


@dataclass(frozen=True)
class WorkloadFlops:
    """The analytic FLOPs of one workload, per sample."""

    forward_per_sample: int
    training_per_sample: int
    parts: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "forward_per_sample": self.forward_per_sample,
            "training_per_sample": self.training_per_sample,
            "forward_parts": dict(self.parts),
            "convention": CONVENTION,
        }


def lstm_flops(seq_len: int, input_size: int, hidden_size: int, *, num_layers: int = 1,
               directions: int = 2) -> tuple[int, int]:
    """(matmul FLOPs, element-wise FLOPs) of a (Bi)LSTM over one sequence."""
    matmul = elementwise = 0
    for layer in range(num_layers):
        layer_in = input_size if layer == 0 else directions * hidden_size
        matmul += directions * seq_len * 2 * 4 * hidden_size * (layer_in + hidden_size)
        elementwise += directions * seq_len * LSTM_ELEMENTWISE_PER_UNIT * hidden_size
    return matmul, elementwise


def workload_flops(workload: WorkloadConfig, num_classes: int) -> WorkloadFlops:
    """The FLOPs of one inference and one training sample of ``workload``."""
    directions = 2 if workload.bidirectional else 1
    seq, hidden = workload.seq_len, workload.hidden_size
    features = directions * hidden
    lstm_matmul, lstm_elementwise = lstm_flops(seq, workload.embed_dim, hidden,
                                               num_layers=workload.num_layers, directions=directions)
    parts = {
        "embedding": 0,
        "lstm_matmul": lstm_matmul,
        "lstm_elementwise": lstm_elementwise,
        "pool": 2 * seq * features + features + seq,
        "head": 2 * features * num_classes + num_classes,
    }
    forward = sum(parts.values())
    return WorkloadFlops(forward, TRAINING_MULTIPLIER * forward, parts)


def percent_of(achieved: float | None, peak: float | None) -> float | None:
    """``achieved`` as a percentage of ``peak``, or None when either is missing."""
    if not achieved or not peak:
        return None
    return 100.0 * achieved / peak
