"""tweetbench: a hardware benchmark for training and serving a BiLSTM tweet classifier."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
