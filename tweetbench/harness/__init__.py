"""Timed harnesses: training, inference, the bare-PyTorch baseline and the profiled passes."""
