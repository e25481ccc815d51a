"""The benchmark's model: a pure PyTorch BiLSTM tweet classifier (no Lightning, no I/O)."""

from __future__ import annotations

import torch
from torch import nn

from tweetbench.config import WorkloadConfig


class BiLSTMClassifier(nn.Module):
    """Embedding -> (Bi)LSTM -> mean over non-pad positions -> dropout -> linear."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_size: int,
        num_classes: int,
        *,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(
            embed_dim,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            batch_first=True,
        )
        features = hidden_size * (2 if bidirectional else 1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(features, num_classes)

    @classmethod
    def from_workload(cls, workload: WorkloadConfig, num_classes: int) -> BiLSTMClassifier:
        return cls(
            workload.vocab_size,
            workload.embed_dim,
            workload.hidden_size,
            num_classes,
            num_layers=workload.num_layers,
            bidirectional=workload.bidirectional,
            dropout=workload.dropout,
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Map token ids ``(batch, seq_len)`` to logits ``(batch, num_classes)``."""
        mask = (tokens != 0).unsqueeze(-1).to(self.head.weight.dtype)
        outputs, _ = self.lstm(self.embedding(tokens))
        # Mask arithmetic rather than indexing keeps every shape static (XLA needs that).
        summed = (outputs * mask).sum(dim=1)
        pooled = summed / mask.sum(dim=1).clamp(min=1.0)
        return self.head(self.dropout(pooled))


def build_model(workload: WorkloadConfig, num_classes: int) -> BiLSTMClassifier:
    """Build the model with the workload's seed, so every device starts from the same weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(workload.seed)
        return BiLSTMClassifier.from_workload(workload, num_classes)
