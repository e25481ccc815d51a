"""The command line only: parse arguments, call the library, print one-line errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from tweetbench import __version__
from tweetbench.errors import TweetbenchError, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is a one-line ``UsageError`` rather than usage text and exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see 'tweetbench {self.prog.split()[-1]} --help')"
                         if " " in self.prog else f"{message} (see 'tweetbench --help')")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive whole number")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be zero or more")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    from tweetbench.config import DEFAULT_PRESET, DEFAULT_WORKLOAD, PRESETS, WORKLOADS

    parser = _Parser(prog="tweetbench", description="Benchmark a BiLSTM tweet classifier on CPU, GPU and XLA.")
    parser.add_argument("--version", action="version", version=f"tweetbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the benchmark on each device and write the reports")
    run.add_argument("--devices", default="cpu", help="comma-separated: cpu, gpu, gpu:N, tpu, xla-cpu (default cpu)")
    run.add_argument("--preset", default=DEFAULT_PRESET, help=f"how long to measure: {', '.join(PRESETS)} "
                     f"(default {DEFAULT_PRESET})")
    run.add_argument("--workload", default=DEFAULT_WORKLOAD, help=f"{', '.join(WORKLOADS)} (default {DEFAULT_WORKLOAD})")
    run.add_argument("--data", type=Path, help="your own tweets, CSV or JSONL (default: the built-in corpus)")
    run.add_argument("--text-column", default="text", help="column with the tweet text (default text)")
    run.add_argument("--label-column", default="author", help="column with the author (default author)")
    run.add_argument("--out", type=Path, default=Path("results"), help="results directory (default results)")
    run.add_argument("--seed", type=non_negative_int, default=0, help="workload seed (default 0)")
    run.add_argument("--timeout", type=positive_seconds, help="seconds each device may take before it is "
                     "recorded as failed (default depends on the preset)")
    run.add_argument("--require-all", action="store_true", help="exit non-zero if a device is unavailable")
    run.add_argument("--no-profile", dest="profile", action="store_false", help="skip the profiled passes")

    sub.add_parser("devices", help="list the devices and whether they can run here")

    report = sub.add_parser("report", help="regenerate report.md and summary.md from the JSON results")
    report.add_argument("run_dir", nargs="?", type=Path, help="a run directory (default: the latest under --out)")
    report.add_argument("--out", type=Path, default=Path("results"), help="results directory (default results)")
    return parser


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from rich.console import Console

    from tweetbench.config import DataSource, get_preset, get_workload
    from tweetbench.devices import parse_device_list
    from tweetbench.suite import RunOptions, run_suite
    from tweetbench.ui import RunProgress, results_table

    workload = get_workload(args.workload).with_seed(args.seed)
    preset = get_preset(args.preset)
    specs = tuple(parse_device_list(args.devices))
    data = DataSource(args.data, args.text_column, args.label_column)
    if args.data is not None:
        from tweetbench.dataset import check_data

        check_data(workload, data)
    options = RunOptions(devices=specs, workload=workload, preset=preset, out=args.out, data=data,
                         timeout_s=args.timeout, profile=args.profile, require_all=args.require_all,
                         command=("tweetbench", *argv))
    console = Console(stderr=True)
    with RunProgress(console) as progress:
        outcome = run_suite(options, progress.on_event)
    Console().print(results_table(outcome.results))
    print(f"results: {outcome.run_dir}  summary: {args.out / 'summary.md'}")
    if not outcome.complete:
        print("tweetbench: the run was interrupted; it is marked incomplete", file=sys.stderr)
    if args.require_all and any(r.status == "unavailable" for r in outcome.results):
        print("tweetbench: a device was unavailable and --require-all was given", file=sys.stderr)
        return max(outcome.exit_code, 1)
    return outcome.exit_code


def cmd_devices(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from tweetbench.devices import BACKENDS, DeviceSpec, probe

    table = Table(title="devices")
    for column in ("device", "available", "hardware", "what it is / why not"):
        table.add_column(column, overflow="fold")
    for kind, backend in BACKENDS.items():
        availability = probe(DeviceSpec(kind))
        table.add_row(kind, "[green]yes" if availability.available else "[yellow]no", availability.hardware,
                      backend.description if availability.available else availability.reason)
    Console().print(table)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from tweetbench.report.writer import regenerate

    run_dir = regenerate(args.out, args.run_dir)
    print(f"rewrote {run_dir / 'report.md'} and {args.out / 'summary.md'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "run":
            return cmd_run(args, argv)
        if args.command == "devices":
            return cmd_devices(args)
        return cmd_report(args)
    except TweetbenchError as exc:
        print(f"tweetbench: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tweetbench: interrupted", file=sys.stderr)
        return 130
