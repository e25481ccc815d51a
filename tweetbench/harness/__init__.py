"""Timed passes: training, inference, the overhead against bare PyTorch, the peak, memory, profiling, parity and the data-parallel ranks."""
