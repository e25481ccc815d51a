"""Which devices ``tweetbench run`` runs, in order, from ``--devices`` and the data-parallel options."""

from __future__ import annotations

from pathlib import Path

from tweetbench.analysis.scaling import load_reference
from tweetbench.config import SPAWNED_STRATEGIES
from tweetbench.devices import BACKENDS, DeviceSpec, parse_device_list
from tweetbench.errors import UsageError
from tweetbench.harness.launcher import LaunchEnv


def run_devices(devices: str, *, strategy: str | None, num_nodes: int, scaling_reference: Path | None,
                launched: LaunchEnv | None) -> tuple[DeviceSpec, ...]:
    """The devices ``tweetbench run`` runs, in order, from ``--devices`` and the data-parallel options.

    Without ``--strategy``: the plain device list. With it: device counts, each preceded by the
    single-device run of its kind that scaling efficiency is measured against, the scaling reference (unless
    ``--scaling-reference`` names an earlier one, or a launcher started the ranks: rank 0 then runs
    the scaling reference after the data-parallel part). Refuses, as usage errors, what cannot run.
    """
    if strategy is None:
        if num_nodes != 1 or scaling_reference is not None:
            raise UsageError("--num-nodes and --scaling-reference go with --strategy (e.g. --strategy ddp)")
        if launched is not None and launched.world_size > 1:
            raise UsageError(f"{launched.launcher} started {launched.world_size} ranks: add --strategy ddp and give "
                             "--devices as a count per node, e.g. --devices gpu:8")
        return tuple(parse_device_list(devices))
    specs = parse_device_list(devices, counted=True)
    for spec in specs:
        problem = BACKENDS[spec.kind].strategy_problem(strategy, spec.count or 1)
        if problem:
            raise UsageError(problem)
        if strategy not in BACKENDS[spec.kind].strategies:
            runs = ", ".join(kind for kind, backend in BACKENDS.items() if strategy in backend.strategies)
            raise UsageError(f"--strategy {strategy} does not run on {spec.kind}: it runs on {runs}")
    if strategy in SPAWNED_STRATEGIES and (num_nodes > 1 or launched is not None):
        raise UsageError(f"--strategy {strategy} runs on one host, its ranks started by Lightning's launcher: drop "
                         "--num-nodes and torchrun/srun (a multi-host TPU slice is not supported yet)")
    if num_nodes > 1 and launched is None:
        raise UsageError("--num-nodes > 1 needs a launcher on every node: start tweetbench with torchrun or srun "
                         "(see the README's data-parallel section)")
    if scaling_reference is not None:
        for kind in {spec.kind for spec in specs}:
            load_reference(scaling_reference, kind)  # fail now, not after the run
    if launched is not None or scaling_reference is not None:
        return tuple(specs)
    ordered: list[DeviceSpec] = []
    for spec in specs:
        if DeviceSpec(spec.kind) not in ordered:
            ordered.append(DeviceSpec(spec.kind))
        ordered.append(spec)
    return tuple(ordered)
