"""Parsed arguments in, the library's typed options out: ``run``'s ``RunOptions`` and ``tune``'s ``TuneOptions``.

Every check that needs more than one argument at once is made here, before anything runs, so that a bad
combination is a one-line usage error and writes nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tweetbench.errors import UsageError

if TYPE_CHECKING:
    from tweetbench.config import DataSource, ServeConfig
    from tweetbench.devices import DeviceSpec
    from tweetbench.launch.options import RunOptions
    from tweetbench.launch.tune import TuneOptions


def _data_source(args: argparse.Namespace) -> DataSource:
    from tweetbench.config import DataSource

    return DataSource(args.data, args.text_column, args.label_column, getattr(args, "delimiter", None))


def run_options(args: argparse.Namespace, argv: Sequence[str]) -> list[RunOptions]:
    """One ``RunOptions`` per workload variant (direction x precision), each its own run and fingerprint."""
    from tweetbench.config import get_preset
    from tweetbench.harness.launcher import LaunchEnv
    from tweetbench.launch.options import RunOptions
    from tweetbench.launch.plan import run_devices
    from tweetbench.records.files import ensure_writable_dir
    from tweetbench.workload.variants import resolve_many

    workloads = [w.with_seed(args.seed) for w in resolve_many(args.workload, args.precision, args.division)]
    preset = get_preset(args.preset)
    if args.max_epochs is not None:
        preset = dataclasses.replace(preset, max_epochs=args.max_epochs)
    specs = run_devices(args.devices, strategy=args.strategy, num_nodes=args.num_nodes,
                        scaling_reference=args.scaling_reference, launched=LaunchEnv.detect())
    if args.strategy and (args.scenario != "benchmark" or args.division != "closed"):
        raise UsageError("--strategy runs the closed division's benchmark scenario only")
    data = _data_source(args)
    if args.data is not None:
        from tweetbench.workload.dataset import check_data

        check_data(workloads[0], data)
    ensure_writable_dir(args.out)  # before the progress display starts, so the error stays one line
    return [RunOptions(devices=specs, workload=workload, preset=preset, out=args.out, data=data,
                       timeout_s=args.timeout, profile=args.profile, require_all=args.require_all,
                       scenario=args.scenario, command=("tweetbench", *argv), strategy=args.strategy,
                       repeats=args.repeats, num_nodes=args.num_nodes, scaling_reference=args.scaling_reference,
                       threads=args.threads, on_interference=getattr(args, "on_interference", "flag"),
                       xla_functionalization=xla_functionalization(args, specs), serve=serve_config(args))
            for workload in workloads]


def serve_config(args: argparse.Namespace) -> ServeConfig | None:
    """The serve scenario's settings: the preset's, with --server and --latency-bound-ms."""
    from tweetbench.config import SERVE_PRESETS, SERVER_KINDS

    servers = tuple(name.strip() for name in getattr(args, "server", "inprocess").split(",") if name.strip())
    bound = getattr(args, "latency_bound_ms", None)
    unknown = [name for name in servers if name not in SERVER_KINDS]
    if unknown or not servers:
        raise UsageError(f"unknown --server {','.join(unknown) or '(empty)'}: choose from {', '.join(SERVER_KINDS)}")
    if args.scenario != "serve":
        if servers != ("inprocess",) or bound is not None:
            raise UsageError("--server and --latency-bound-ms go with --scenario serve")
        return None
    config = dataclasses.replace(SERVE_PRESETS[args.preset], servers=tuple(dict.fromkeys(servers)))
    return config if bound is None else dataclasses.replace(config, latency_bound_ms=bound)


def xla_functionalization(args: argparse.Namespace, specs: Sequence[DeviceSpec]) -> str | None:
    """``--xla-functionalization``, refused where no XLA device runs (it would change nothing)."""
    setting = getattr(args, "xla_functionalization", None)
    if setting is not None and not any(spec.kind in ("tpu", "xla-cpu") for spec in specs):
        raise UsageError("--xla-functionalization applies to XLA devices only: add tpu or xla-cpu to --devices, "
                         "or leave it out")
    return setting


def tune_options(args: argparse.Namespace, argv: Sequence[str]) -> TuneOptions:
    """``tweetbench tune``'s options: one device, the workload variant, the preset's settings."""
    from tweetbench.devices import parse_device
    from tweetbench.launch.tune import TuneOptions
    from tweetbench.scenarios.tune import get_tune_settings
    from tweetbench.workload.variants import resolve

    if "," in args.device:
        raise UsageError("tune runs on one device: give --device cpu (or gpu, gpu:N, tpu, xla-cpu)")
    workload = resolve(args.workload, args.precision).with_seed(args.seed)
    data = _data_source(args)
    if args.data is not None:
        from tweetbench.workload.dataset import check_data

        check_data(workload, data)
    return TuneOptions(device=parse_device(args.device), workload=workload,
                       settings=get_tune_settings(args.preset, sweep_max=args.max_batch), out=args.out,
                       data=data, command=("tweetbench", *argv))
