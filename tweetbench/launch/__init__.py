"""The run: a worker process per device, the job it runs, torchrun/SLURM ranks, interrupts and timeouts."""
