"""The command line only: parse arguments, call the library, print one-line errors."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from tweetbench import __version__
from tweetbench.errors import TweetbenchError, UsageError

if TYPE_CHECKING:
    from tweetbench.config import ServeConfig
    from tweetbench.devices import DeviceSpec
    from tweetbench.harness.ranks import LaunchEnv
    from tweetbench.launch.options import RunOptions, RunOutcome


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


def delimiter_char(text: str) -> str:
    from tweetbench.workload.reader import parse_delimiter

    try:
        return parse_delimiter(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_number(unit: str) -> Callable[[str], float]:
    """An argparse type: a finite number above zero, in ``unit``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {unit}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of {unit}")
        return value

    return parse


positive_seconds = _positive_number("seconds")
positive_ms = _positive_number("milliseconds")


# tweetbench ab: the run options it shares with run, and those each side (--a, --b) may set on its own.
AB_SIDE_OPTIONS = ("workload", "precision", "division", "threads", "data", "text_column", "label_column", "delimiter",
                   "xla_functionalization")
AB_COMMON_OPTIONS = (*AB_SIDE_OPTIONS, "devices", "preset", "out", "seed", "timeout")


def _copy_options(source: argparse.ArgumentParser, target: argparse.ArgumentParser, dests: Sequence[str]) -> None:
    """Give ``target`` copies of ``source``'s option definitions for ``dests``, so both parse alike."""
    import copy

    for action in source._actions:
        if action.dest in dests:
            target._add_action(copy.copy(action))


def _flags(parser: argparse.ArgumentParser) -> str:
    return ", ".join(action.option_strings[-1] for action in parser._actions)


def build_parser() -> argparse.ArgumentParser:
    from tweetbench.config import (
        DEFAULT_PRESET,
        DEFAULT_WORKLOAD,
        ON_INTERFERENCE,
        PRESETS,
        STRATEGIES,
        WORKLOADS,
    )

    parser = _Parser(prog="tweetbench", description="Benchmark a BiLSTM tweet classifier on CPU, GPU and XLA.")
    parser.add_argument("--version", action="version", version=f"tweetbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the benchmark on each device and write the reports")
    run.add_argument("--devices", default="cpu", help="comma-separated: cpu, gpu, gpu:N, tpu, xla-cpu (default cpu); "
                     "with --strategy, KIND:N is N devices per node (cpu:2, gpu:8)")
    run.add_argument("--preset", default=DEFAULT_PRESET, help=f"how long to measure: {', '.join(PRESETS)} "
                     f"(default {DEFAULT_PRESET})")
    run.add_argument("--workload", default=DEFAULT_WORKLOAD, help=f"{', '.join(WORKLOADS)} (default {DEFAULT_WORKLOAD})")
    run.add_argument("--data", type=Path, help="your own tweets, CSV or JSONL (default: the built-in corpus)")
    run.add_argument("--text-column", default="text", help="column with the tweet text (default text)")
    run.add_argument("--label-column", default="author", help="column with the author (default author)")
    run.add_argument("--delimiter", type=delimiter_char, help="the CSV's delimiter: one character, or tab, comma, "
                     "semicolon, pipe (default: detected; tab for .tsv)")
    run.add_argument("--out", type=Path, default=Path("results"), help="results directory (default results)")
    run.add_argument("--seed", type=non_negative_int, default=0, help="workload seed (default 0)")
    run.add_argument("--timeout", type=positive_seconds, help="seconds each device may take before it is "
                     "recorded as failed (default depends on the preset)")
    run.add_argument("--require-all", action="store_true", help="exit non-zero if a device is unavailable")
    run.add_argument("--no-profile", dest="profile", action="store_false", help="skip the profiled passes")
    run.add_argument("--repeats", type=positive_int, default=1, help="independent trials per device, each in a "
                     "fresh process; the headline is their median with an interval (default 1)")
    run.add_argument("--strategy", choices=STRATEGIES, help="run data-parallel with this Lightning strategy: "
                     "ddp (cpu, gpu) or xla (TPU cores); --devices then gives a count per node (cpu:2, gpu:8, "
                     "tpu:8), and a single-device run of the same workload comes first for scaling efficiency")
    run.add_argument("--num-nodes", type=positive_int, default=1, help="nodes of a data-parallel run, each started "
                     "by torchrun or srun (default 1)")
    run.add_argument("--scaling-baseline", type=Path, metavar="RUN_DIR_OR_JSON", help="an earlier single-device "
                     "result to compute scaling efficiency against, instead of running one now")
    run.add_argument("--scenario", default="benchmark", choices=("benchmark", "convergence", "serve"),
                     help="benchmark: timed training and inference; convergence: train to the workload's target "
                     "accuracy with early stopping; serve: MLPerf LoadGen's scenarios against the trained model "
                     "(default benchmark)")
    run.add_argument("--server", default="inprocess", help="serve: the system under test, comma-separated: "
                     "inprocess (a dynamic batcher in the worker, default), litserve (a LitServe HTTP server on "
                     "127.0.0.1), or both")
    run.add_argument("--latency-bound-ms", type=positive_ms, help="serve: the Server scenario's p99 latency "
                     "bound in ms (default 50: see the README's Serving section)")
    run.add_argument("--precision", default="32-true", help="comma-separated: 32-true (IEEE fp32), 32-tf32 (CUDA), "
                     "32-xla-default (XLA), bf16-mixed, 16-mixed; each is its own workload variant and run "
                     "(default 32-true)")
    run.add_argument("--max-epochs", type=positive_int, help="cap on the convergence scenario's epochs "
                     "(default: the preset's, 100; smoke 3)")
    run.add_argument("--division", default="closed", help="closed (stock PyTorch + Lightning, default) or open (each "
                     "device's fastest step at the same accuracy: knobs ablated against closed, in the same run)")
    run.add_argument("--threads", type=positive_int, help="torch threads in each worker (torch.set_num_threads, "
                     "before anything runs; recorded in the result); default: torch's own choice")
    run.add_argument("--xla-functionalization", choices=("on", "off"), help="torch_xla's functionalization pass "
                     "on XLA devices, set in the worker before torch_xla loads (XLA_DISABLE_FUNCTIONALIZATION); "
                     "default: torch_xla's own, on (or your XLA_DISABLE_FUNCTIONALIZATION); recorded in the result")
    run.add_argument("--on-interference", default="flag", choices=ON_INTERFERENCE,
                     help="when other processes took CPU during a measured window (or it stalled): flag records and "
                     "names it (default); remeasure measures that window again, up to 3 attempts, all kept in the "
                     "record; invalid marks the device's result invalid with the reason")

    tune = sub.add_parser("tune", help="Lightning's batch-size and learning-rate finders and a batch-size sweep")
    tune.add_argument("--device", default="cpu", help="one device: cpu, gpu, gpu:N, tpu, xla-cpu (default cpu)")
    tune.add_argument("--workload", default=DEFAULT_WORKLOAD, help=f"{', '.join(WORKLOADS)} (default {DEFAULT_WORKLOAD})")
    tune.add_argument("--precision", default="32-true", help="32-true, 32-tf32, 32-xla-default, bf16-mixed or 16-mixed "
                      "(default 32-true)")
    tune.add_argument("--preset", default="quick", help="smoke, quick or standard: the sample budget per size and "
                      "the finders' steps (default quick)")
    tune.add_argument("--max-batch", type=positive_int, help="largest batch size of the sweep, a power of two "
                      "(default 2048; smoke 128)")
    tune.add_argument("--data", type=Path, help="your own tweets, CSV or JSONL (default: the built-in corpus)")
    tune.add_argument("--text-column", default="text", help="column with the tweet text (default text)")
    tune.add_argument("--label-column", default="author", help="column with the author (default author)")
    tune.add_argument("--delimiter", type=delimiter_char, help="the CSV's delimiter: one character, or tab, "
                      "comma, semicolon, pipe (default: detected; tab for .tsv)")
    tune.add_argument("--out", type=Path, default=Path("results"), help="results directory (default results)")
    tune.add_argument("--seed", type=non_negative_int, default=0, help="workload seed (default 0)")

    sub.add_parser("devices", help="list the devices and whether they can run here")

    report = sub.add_parser("report", help="regenerate report.md and summary.md from the JSON results")
    report.add_argument("run_dir", nargs="?", type=Path, help="a run directory (default: the latest under --out)")
    report.add_argument("--out", type=Path, default=Path("results"), help="results directory (default results)")
    report.add_argument("--pytest-benchmark", type=Path, metavar="FILE.json", help="fold a pytest-benchmark "
                        "--benchmark-json file into summary.md (kept there by later runs)")

    compare = sub.add_parser("compare", help="is run B faster or slower than run A? ratios, intervals, verdicts")
    compare.add_argument("a", type=Path, metavar="A", help="the reference side: a run directory or a device JSON file")
    compare.add_argument("b", type=Path, metavar="B", help="the candidate: a run directory or a device JSON file")
    compare.add_argument("--markdown", action="store_true", help="print Markdown instead of the terminal table")
    compare.add_argument("--allow-different-workloads", action="store_true",
                         help="compare even if A and B measured different workloads (fingerprints)")
    compare.add_argument("--across-divisions", action="store_true", help="closed vs open divisions of one workload")
    compare.add_argument("--fail-on-regression", metavar="PCT", help="exit 1 if a gated metric's whole 95%% "
                         "interval lies more than PCT worse, e.g. 5%%; exit 5 if it cannot be decided (the interval "
                         "straddles PCT, too few trials, or two runs made at different times within their drift)")
    compare.add_argument("--metric", choices=("train", "latency", "offline"), help="gate this metric only and "
                         "report the others with Holm-adjusted p-values (default: gate every metric)")
    compare.add_argument("--drift", metavar="PCT", default="25%", help="drift allowance of two runs made at "
                         "different times: the gate exits 1 only beyond the bound by more than this or than the "
                         "runs' own trials show (default 25%%, measured between runs on a shared 2-core VM)")

    ab = sub.add_parser("ab", help="interleaved A/B: two configurations of one device, trial by trial in ABBA "
                        "order, each trial a fresh process; then the trial-level verdict")
    _copy_options(run, ab, AB_COMMON_OPTIONS)
    side = _Parser(prog="tweetbench ab", add_help=False)  # parses --a and --b with run's own definitions
    _copy_options(run, side, AB_SIDE_OPTIONS)
    ab.add_argument("--a", default="", metavar="OPTIONS", help="side A's options, in quotes, e.g. \"--threads 2\"; "
                    f"any of {_flags(side)}; empty: the common options")
    ab.add_argument("--b", default="", metavar="OPTIONS", help="side B's options (the candidate), as for --a")
    from tweetbench.analysis.ab import DEFAULT_METRIC, DEFAULT_PAIRS

    ab.add_argument("--repeats", type=positive_int, default=DEFAULT_PAIRS, help=f"trials a side, run A B B A A B ... "
                    f"(default {DEFAULT_PAIRS}: 6 is the fewest pairs whose exact test can reach 5%%, and only when "
                    "every pair agrees)")
    ab.add_argument("--metric", choices=("train", "latency", "offline"), default=DEFAULT_METRIC, help="the one "
                    f"metric the gate judges (default {DEFAULT_METRIC}); the others get Holm-adjusted p-values")
    ab.add_argument("--fail-on-regression", metavar="PCT", help="exit 1 if the gated metric's whole 95%% interval "
                    "lies more than PCT worse than A, e.g. 5%%; exit 5 if it cannot be decided")
    ab.add_argument("--markdown", action="store_true", help="print the Markdown report instead of the tables")
    ab.set_defaults(strategy=None, num_nodes=1, scaling_baseline=None, max_epochs=None, scenario="benchmark",
                    profile=False, require_all=False, side_parser=side)

    probe = sub.add_parser("probe", help="device checks: sync (the calls in measured training steps that make the "
                           "host wait for the device) or numerics (the LSTM against fp64 under 32-true and 32-tf32)")
    probe.add_argument("check", choices=("sync", "numerics"), help="which check")
    probe.add_argument("--device", default="gpu", help="cpu, gpu or gpu:N (default gpu)")
    probe.add_argument("--workload", default=DEFAULT_WORKLOAD, help=f"{', '.join(WORKLOADS)} (default "
                       f"{DEFAULT_WORKLOAD}): the model's shapes")
    probe.add_argument("--precision", help="comma-separated precisions (default: sync 32-true; numerics "
                       "32-true,32-tf32)")
    probe.add_argument("--steps", type=positive_int, default=20, help="sync: measured steps checked (default 20)")
    probe.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON")

    merge = sub.add_parser("merge", help="one summary of results from several machines, with charts")
    merge.add_argument("inputs", nargs="+", type=Path, metavar="DIR_OR_RUN", help="results directories, run "
                       "directories or device JSON files, copied from any number of machines")
    merge.add_argument("--out", type=Path, required=True, help="where to write summary.md, summary.json and the "
                       "charts (a new directory, not one holding runs)")
    merge.add_argument("--label", action="append", default=[], metavar="DIR=NAME", help="name the host of the "
                       "results under input DIR (default: the hostname each result records); repeat per input")
    merge.add_argument("--reference", metavar="HOST:DEVICE", help="the row every speedup is taken against, e.g. "
                       "laptop:cpu (default: the first CPU that ran ok)")
    merge.add_argument("--allow-different-workloads", action="store_true",
                       help="merge even if the results measured different workloads (fingerprints); they are marked")
    return parser


def _run_options(args: argparse.Namespace, argv: Sequence[str]) -> list[RunOptions]:
    """One ``RunOptions`` per workload variant (direction x precision), each its own run and fingerprint."""
    import dataclasses

    from tweetbench.config import DataSource, get_preset
    from tweetbench.harness.ranks import LaunchEnv
    from tweetbench.launch.options import RunOptions
    from tweetbench.launch.plan import run_devices
    from tweetbench.records.files import ensure_writable_dir
    from tweetbench.workload.variants import resolve_many

    workloads = [w.with_seed(args.seed) for w in resolve_many(args.workload, args.precision, args.division)]
    preset = get_preset(args.preset)
    if args.max_epochs is not None:
        preset = dataclasses.replace(preset, max_epochs=args.max_epochs)
    specs = run_devices(args.devices, strategy=args.strategy, num_nodes=args.num_nodes,
                        scaling_baseline=args.scaling_baseline, launched=LaunchEnv.detect())
    if args.strategy and (args.scenario != "benchmark" or args.division != "closed"):
        raise UsageError("--strategy runs the closed division's benchmark scenario only")
    data = DataSource(args.data, args.text_column, args.label_column, getattr(args, "delimiter", None))
    if args.data is not None:
        from tweetbench.workload.dataset import check_data

        check_data(workloads[0], data)
    ensure_writable_dir(args.out)  # before the progress display starts, so the error stays one line
    return [RunOptions(devices=specs, workload=workload, preset=preset, out=args.out, data=data,
                       timeout_s=args.timeout, profile=args.profile, require_all=args.require_all,
                       scenario=args.scenario, command=("tweetbench", *argv), strategy=args.strategy,
                       repeats=args.repeats, num_nodes=args.num_nodes, scaling_baseline=args.scaling_baseline,
                       threads=args.threads, on_interference=getattr(args, "on_interference", "flag"),
                       xla_functionalization=_xla_functionalization(args, specs), serve=_serve_config(args))
            for workload in workloads]


def _serve_config(args: argparse.Namespace) -> ServeConfig | None:
    """The serve scenario's settings: the preset's, with --server and --latency-bound-ms."""
    import dataclasses

    from tweetbench.config import SERVER_KINDS, SERVE_PRESETS

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


def _xla_functionalization(args: argparse.Namespace, specs: Sequence[DeviceSpec]) -> str | None:
    """``--xla-functionalization``, refused where no XLA device runs (it would change nothing)."""
    setting = getattr(args, "xla_functionalization", None)
    if setting is not None and not any(spec.kind in ("tpu", "xla-cpu") for spec in specs):
        raise UsageError("--xla-functionalization applies to XLA devices only: add tpu or xla-cpu to --devices, "
                         "or leave it out")
    return setting


def _run_one(options: RunOptions, launched: LaunchEnv | None) -> RunOutcome | None:
    """One run with its progress display, in this process's role: the suite, or a launched rank."""
    from tweetbench.launch.suite import run_suite
    from tweetbench.report.console import progress_display

    if launched is not None and launched.rank != 0:
        from tweetbench.launch.torchrun import run_launched

        run_launched(options, launched, lambda device, event: None)  # rank 0 reports the run
        return None
    with progress_display() as progress:  # plain lines when the output is a log, not a terminal
        if launched is None:
            return run_suite(options, progress.on_event)
        from tweetbench.launch.torchrun import (
            run_launched,  # imports the measuring stack: only in a rank
        )

        return run_launched(options, launched, progress.on_event)


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from tweetbench.harness.ranks import LaunchEnv
    from tweetbench.report.console import convergence_results_table, results_table, table_console
    from tweetbench.report.serving_console import serving_results_table

    launched = LaunchEnv.detect() if args.strategy else None
    all_options = _run_options(args, argv)
    code = 0
    for options in all_options:
        outcome = _run_one(options, launched)
        if outcome is None:
            continue
        table = convergence_results_table if args.scenario == "convergence" else results_table
        if args.scenario == "serve":
            table = serving_results_table
        console = table_console()  # at most 100 columns; a long reason is cut, summary.md has it whole
        console.print(table(outcome.results, console.width))
        print(f"results: {outcome.run_dir}  summary: {args.out / 'summary.md'}")
        if not outcome.complete:
            print("tweetbench: the run was interrupted; it is marked incomplete", file=sys.stderr)
            return outcome.exit_code
        code = max(code, outcome.exit_code)
        if args.require_all and any(r.status == "unavailable" for r in outcome.results):
            print("tweetbench: a device was unavailable and --require-all was given", file=sys.stderr)
            code = max(code, 1)
    if len(all_options) > 1:
        print(f"variants side by side: {args.out / 'variants.md'}")
    return code


def cmd_tune(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from rich.console import Console

    from tweetbench.config import DataSource
    from tweetbench.devices import parse_device
    from tweetbench.records.tune import read_tune
    from tweetbench.scenarios.tune import TuneOptions, get_tune_settings, run_tune
    from tweetbench.workload.variants import resolve

    if "," in args.device:
        raise UsageError("tune runs on one device: give --device cpu (or gpu, gpu:N, tpu, xla-cpu)")
    workload = resolve(args.workload, args.precision).with_seed(args.seed)
    data = DataSource(args.data, args.text_column, args.label_column, getattr(args, "delimiter", None))
    if args.data is not None:
        from tweetbench.workload.dataset import check_data

        check_data(workload, data)
    options = TuneOptions(device=parse_device(args.device), workload=workload,
                          settings=get_tune_settings(args.preset, sweep_max=args.max_batch), out=args.out,
                          data=data, command=("tweetbench", *argv))
    with Console(stderr=True).status(f"tune {options.device.name}") as status:
        run_dir = run_tune(options, on_phase=lambda name: status.update(f"tune {options.device.name}: {name}"))
    record = read_tune(run_dir / "tune.json")
    sweep = record["sweep"]
    fast, best = sweep["throughput_peak"] or {}, sweep["accuracy_peak"] or {}
    lr = record["finders"]["lr"]["suggested"]
    print(f"batch-size finder: {record['finders']['batch_size']['suggested']}; "
          f"lr finder: {'none' if lr is None else f'{lr:.2e}'}; "
          f"sweep: throughput peaks at batch {fast.get('batch_size', '–')}, accuracy at batch "
          f"{best.get('batch_size', '–')}" + (f"; batch {sweep['first_failure']} did not fit"
                                               if sweep["first_failure"] else ""))
    print(f"tune report: {run_dir / 'tune.md'}")
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from tweetbench.devices import BACKENDS, probe

    table = Table(title="devices")
    for column in ("device", "available", "hardware", "what it is / why not"):
        table.add_column(column, overflow="fold")
    for backend in BACKENDS.values():
        for spec in backend.list_specs():  # gpu:0 .. gpu:N-1 where there are several cards
            availability = probe(spec)
            table.add_row(spec.name, "[green]yes" if availability.available else "[yellow]no", availability.hardware,
                          backend.description if availability.available else availability.reason)
    Console().print(table)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tweetbench.analysis.compare import compare_records, load_side, parse_bound
    from tweetbench.report.compare import gate_messages, render_markdown, rich_table
    from tweetbench.report.writer import reporting_on

    bound = parse_bound(args.fail_on_regression) if args.fail_on_regression is not None else None
    a, b = load_side(args.a), load_side(args.b)
    with reporting_on(f"{args.a} or {args.b}"):
        result = compare_records(a, b, allow_different_workloads=args.allow_different_workloads, bound=bound,
                                 across_divisions=args.across_divisions, primary=args.metric,
                                 drift=parse_bound(args.drift, "--drift"))
        text = render_markdown(result) if args.markdown else None
        table = None if args.markdown else rich_table(result)
    if text is not None:
        print(text, end="")
    else:
        Console().print(table)
    for line in gate_messages(result):
        print(line, file=sys.stderr)
    return result.exit_code


def _ab_side(args: argparse.Namespace, text: str, name: str, argv: Sequence[str]) -> RunOptions:
    """One side's run options: the common ones, overridden by its own (``--a "--threads 2"``, parsed as by run)."""
    import copy
    import shlex

    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"--{name} {text!r} cannot be read: {exc}") from None
    side, extra = args.side_parser.parse_known_args(tokens, namespace=copy.copy(args))
    if extra:
        raise UsageError(f"--{name} may set only {_flags(args.side_parser)}, not {' '.join(extra)!r}: give the "
                         "others once, for both sides")
    options = _run_options(side, argv)
    if len(options) != 1:
        raise UsageError(f"--{name} names {len(options)} workload variants: give each side one, and one precision")
    if len(options[0].devices) != 1 or options[0].devices[0].count is not None:
        raise UsageError("ab runs on one device: give --devices cpu (or gpu, gpu:N, tpu, xla-cpu)")
    return options[0]


def cmd_ab(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from rich.console import Console

    from tweetbench.analysis.compare import parse_bound
    from tweetbench.launch.ab import ABOptions, run_ab
    from tweetbench.report.ab import messages, terminal_tables
    from tweetbench.report.console import RunProgress

    bound = parse_bound(args.fail_on_regression) if args.fail_on_regression is not None else None
    sides = {"A": _ab_side(args, args.a, "a", argv), "B": _ab_side(args, args.b, "b", argv)}
    options = ABOptions(sides["A"].devices[0], sides, {"A": args.a, "B": args.b}, args.repeats, args.out,  # type: ignore[arg-type]
                        ("tweetbench", *argv), bound, args.metric)
    with RunProgress(Console(stderr=True)) as progress:
        outcome = run_ab(options, progress.on_event)
    if args.markdown:
        print((outcome.run_dir / "report.md").read_text(encoding="utf-8"), end="")
    else:
        Console().print(*terminal_tables(outcome.comparison))
    print(f"report: {outcome.run_dir / 'report.md'}", file=sys.stderr if args.markdown else sys.stdout)
    for line in messages(outcome.comparison, interrupted=not outcome.complete):
        print(line, file=sys.stderr)
    return outcome.exit_code


def cmd_merge(args: argparse.Namespace) -> int:
    from tweetbench.report.merge import merge_inputs

    merge, written = merge_inputs(args.inputs, args.out, labels=args.label, reference=args.reference,
                                  allow_different_workloads=args.allow_different_workloads)
    print(f"merged {len(merge.rows)} row(s) from {len({row.host for row in merge.rows})} host(s), "
          f"{len(merge.skipped)} result(s) skipped: {written[-1]} ({len(written) - 2} charts)")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    import json

    from tweetbench import devices
    from tweetbench.config import WORKLOADS

    if args.workload not in WORKLOADS:
        raise UsageError(f"unknown workload {args.workload!r}: choose one of {', '.join(WORKLOADS)}")
    spec = devices.parse_device(args.device)
    availability = devices.probe(spec)
    if not availability.available:
        raise UsageError(f"{spec} cannot run here: {availability.reason}")
    backend = devices.create_backend(spec)
    backend.setup()
    workload = WORKLOADS[args.workload]
    if args.check == "sync":
        from tweetbench.harness import syncdebug

        config = syncdebug.SyncDebugConfig(measured_steps=args.steps)
        results = [syncdebug.sync_debug_pass(backend, workload, precision, config)
                   for precision in (args.precision or "32-true").split(",")]
        lines = [line for result in results for line in syncdebug.summary_lines(result)]
        out: dict[str, object] = {"check": "sync", "passes": results}
        failed = any(result["verdict"].startswith("fail") for result in results)
    else:
        from tweetbench.harness import numerics

        precisions = tuple((args.precision or ",".join(numerics.PRECISIONS)).split(","))
        result = numerics.numerics_probe(backend, numerics.NumericsConfig.from_workload(workload), precisions)
        lines, out, failed = numerics.summary_lines(result), {"check": "numerics", **result}, not result["passed"]
    print("\n".join(lines))
    if args.json is not None:
        from tweetbench.records.files import write_atomic

        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.json, json.dumps(out, indent=1))
    return 1 if failed else 0


def cmd_report(args: argparse.Namespace) -> int:
    from tweetbench.report.writer import is_ab_run, regenerate, regenerate_ab, resolve_run_dir

    if args.run_dir is not None:  # report writes into the run directory: it must lie inside --out
        args.run_dir = resolve_run_dir(args.out, args.run_dir)
    if args.pytest_benchmark is not None:
        from tweetbench.report.writer import fold_into_summary

        summary = fold_into_summary(args.out, args.pytest_benchmark, args.run_dir)
        print(f"folded {args.pytest_benchmark} into {summary}")
        return 0

    if args.run_dir is not None and (args.run_dir / "tune.json").is_file():
        from tweetbench.report.writer import regenerate_tune

        print(f"rewrote {regenerate_tune(args.run_dir)} and its plots")
        return 0
    if args.run_dir is not None and is_ab_run(args.run_dir):  # an interleaved A/B run: its own report only
        print(f"rewrote {regenerate_ab(args.run_dir)}")
        return 0
    run_dir = regenerate(args.out, args.run_dir)
    print(f"rewrote {run_dir / 'report.md'} and {args.out / 'summary.md'}")
    return 0


# An unexpected exception (a bug, not bad input) exits with this status (sysexits' EX_SOFTWARE).
INTERNAL_ERROR_EXIT = 70
TRACEBACK_ENV = "TWEETBENCH_TRACEBACK"


def internal_error(exc: BaseException) -> str:
    """One line about an unexpected exception; its traceback goes to a file that the line names."""
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(exc))
    what = f"{type(exc).__name__}: {str(exc).strip()}".splitlines()[0][:300]
    try:
        fd, path = tempfile.mkstemp(prefix="tweetbench-traceback-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        return f"{what} (set {TRACEBACK_ENV}=1 to see the traceback; please report it)"
    return f"{what} (traceback in {path}; please report it)"


def main(argv: Sequence[str] | None = None) -> int:
    from_console = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "run":
            return cmd_run(args, argv)
        if args.command == "devices":
            return cmd_devices(args)
        if args.command == "tune":
            return cmd_tune(args, argv)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "ab":
            return cmd_ab(args, argv)
        if args.command == "merge":
            return cmd_merge(args)
        if args.command == "probe":
            return cmd_probe(args)
        return cmd_report(args)
    except TweetbenchError as exc:
        print(f"tweetbench: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # a bug: one line for the user, the traceback kept in a file
        if os.environ.get(TRACEBACK_ENV):
            raise
        print(f"tweetbench: internal error: {internal_error(exc)}", file=sys.stderr)
        return INTERNAL_ERROR_EXIT
    except KeyboardInterrupt:
        print("tweetbench: interrupted", file=sys.stderr)
        if from_console:
            # A second Ctrl-C means now: skip the interpreter's teardown, which with torch loaded can take
            # seconds of garbage collection. Every result file is already written, flushed and closed.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130
