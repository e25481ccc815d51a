"""The command line only: parse arguments, call the library, print one-line errors.

This package holds the parser and ``main``; ``cli.options`` turns parsed arguments into the library's typed
options, and ``cli.commands`` runs each command and prints what it found.

``run --scaling-reference`` used to be spelled ``--scaling-baseline``. The old spelling is still accepted, with
the same effect, so that existing scripts keep working; ``--help`` shows only the new one.
"""

from __future__ import annotations

import argparse
import copy
import os
import shlex
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from tweetbench import __version__
from tweetbench.cli import commands, options
from tweetbench.config import DEFAULT_PRESET, DEFAULT_WORKLOAD, ON_INTERFERENCE, PRESETS, STRATEGIES, WORKLOADS
from tweetbench.errors import TweetbenchError, UsageError

# Only the light modules (config, errors) are imported here: the rest of the library is imported inside the
# functions that use it, here and in cli/options.py and cli/commands.py, so that ``tweetbench --help`` and a
# one-line usage error answer without loading torch and Lightning (seconds of start-up).
if TYPE_CHECKING:
    from tweetbench.launch.ab import ABOptions
    from tweetbench.launch.options import RunOptions

# The object ``add_subparsers`` returns: its class is private to argparse.
Subparsers = argparse._SubParsersAction


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is a one-line ``UsageError`` rather than usage text and exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see 'tweetbench {self.prog.split()[-1]} --help')"
                         if " " in self.prog else f"{message} (see 'tweetbench --help')")


def _whole_number(minimum: int, rule: str) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum`` (``rule`` says so in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be {rule}")
        return value

    return parse


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


positive_int = _whole_number(1, "a positive whole number")
non_negative_int = _whole_number(0, "zero or more")
positive_seconds = _positive_number("seconds")
positive_ms = _positive_number("milliseconds")


def delimiter_char(text: str) -> str:
    from tweetbench.workload.reader import parse_delimiter

    try:
        return parse_delimiter(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# tweetbench ab: the run options it shares with run, and those each side (--a, --b) may set on its own.
AB_SIDE_OPTIONS = ("workload", "precision", "division", "threads", "data", "text_column", "label_column", "delimiter",
                   "xla_functionalization")
AB_COMMON_OPTIONS = (*AB_SIDE_OPTIONS, "devices", "preset", "out", "seed", "timeout")


def _copy_options(source: argparse.ArgumentParser, target: argparse.ArgumentParser, dests: Sequence[str]) -> None:
    """Give ``target`` copies of ``source``'s option definitions for ``dests``, so both parse alike."""
    for action in source._actions:
        if action.dest in dests:
            target._add_action(copy.copy(action))


def _flags(parser: argparse.ArgumentParser) -> str:
    return ", ".join(action.option_strings[-1] for action in parser._actions)


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    """The tweets a command reads, the results directory it writes and the workload's seed."""
    parser.add_argument("--data", type=Path, help="your own tweets, CSV or JSONL (default: the built-in corpus)")
    parser.add_argument("--text-column", default="text", help="column with the tweet text (default text)")
    parser.add_argument("--label-column", default="author", help="column with the author (default author)")
    parser.add_argument("--delimiter", type=delimiter_char, help="the CSV's delimiter: one character, or tab, "
                        "comma, semicolon, pipe (default: detected; tab for .tsv)")
    parser.add_argument("--out", type=Path, default=Path("results"), help="results directory (default results)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="workload seed (default 0)")


def _add_run_parser(sub: Subparsers) -> argparse.ArgumentParser:
    run = sub.add_parser("run", help="run the benchmark on each device and write the reports")
    run.add_argument("--devices", default="cpu", help="comma-separated: cpu, gpu, gpu:N, tpu, xla-cpu (default cpu); "
                     "with --strategy, KIND:N is N devices per node (cpu:2, gpu:8)")
    run.add_argument("--preset", default=DEFAULT_PRESET, help=f"how long to measure: {', '.join(PRESETS)} "
                     f"(default {DEFAULT_PRESET})")
    run.add_argument("--workload", default=DEFAULT_WORKLOAD, help=f"{', '.join(WORKLOADS)} (default {DEFAULT_WORKLOAD})")
    _add_data_options(run)
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
    run.add_argument("--scaling-reference", type=Path, metavar="RUN_DIR_OR_JSON", help="an earlier single-device "
                     "result to compute scaling efficiency against, instead of running one now")
    # The old spelling (see the module's docstring), hidden from --help.
    run.add_argument("--scaling-baseline", dest="scaling_reference", type=Path, help=argparse.SUPPRESS)
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
    return run


def _add_tune_parser(sub: Subparsers) -> None:
    tune = sub.add_parser("tune", help="Lightning's batch-size and learning-rate finders and a batch-size sweep")
    tune.add_argument("--device", default="cpu", help="one device: cpu, gpu, gpu:N, tpu, xla-cpu (default cpu)")
    tune.add_argument("--workload", default=DEFAULT_WORKLOAD, help=f"{', '.join(WORKLOADS)} (default {DEFAULT_WORKLOAD})")
    tune.add_argument("--precision", default="32-true", help="32-true, 32-tf32, 32-xla-default, bf16-mixed or 16-mixed "
                      "(default 32-true)")
    tune.add_argument("--preset", default="quick", help="smoke, quick or standard: the sample budget per size and "
                      "the finders' steps (default quick)")
    tune.add_argument("--max-batch", type=positive_int, help="largest batch size of the sweep, a power of two "
                      "(default 2048; smoke 128)")
    _add_data_options(tune)


def _add_devices_parser(sub: Subparsers) -> None:
    sub.add_parser("devices", help="list the devices and whether they can run here")


def _add_report_parser(sub: Subparsers) -> None:
    report = sub.add_parser("report", help="regenerate report.md and summary.md from the JSON results")
    report.add_argument("run_dir", nargs="?", type=Path, help="a run directory (default: the latest under --out)")
    report.add_argument("--out", type=Path, default=Path("results"), help="results directory (default results)")
    report.add_argument("--pytest-benchmark", type=Path, metavar="FILE.json", help="fold a pytest-benchmark "
                        "--benchmark-json file into summary.md (kept there by later runs)")


def _add_compare_parser(sub: Subparsers) -> None:
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


def _add_ab_parser(sub: Subparsers, run: argparse.ArgumentParser) -> None:
    from tweetbench.analysis.ab import DEFAULT_METRIC, DEFAULT_PAIRS

    ab = sub.add_parser("ab", help="interleaved A/B: two configurations of one device, trial by trial in ABBA "
                        "order, each trial a fresh process; then the trial-level verdict")
    _copy_options(run, ab, AB_COMMON_OPTIONS)
    side = _Parser(prog="tweetbench ab", add_help=False)  # parses --a and --b with run's own definitions
    _copy_options(run, side, AB_SIDE_OPTIONS)
    ab.add_argument("--a", default="", metavar="OPTIONS", help="side A's options, in quotes, e.g. \"--threads 2\"; "
                    f"any of {_flags(side)}; empty: the common options")
    ab.add_argument("--b", default="", metavar="OPTIONS", help="side B's options (the candidate), as for --a")
    ab.add_argument("--repeats", type=positive_int, default=DEFAULT_PAIRS, help=f"trials a side, run A B B A A B ... "
                    f"(default {DEFAULT_PAIRS}: with one small discordant pair their exact test still reaches 5%%, "
                    "where 6 pairs reach it only when every pair agrees)")
    ab.add_argument("--metric", choices=("train", "latency", "offline"), default=DEFAULT_METRIC, help="the one "
                    f"metric the gate judges (default {DEFAULT_METRIC}); the others get Holm-adjusted p-values")
    ab.add_argument("--fail-on-regression", metavar="PCT", help="exit 1 if the gated metric's whole 95%% interval "
                    "lies more than PCT worse than A, e.g. 5%%; exit 5 if it cannot be decided")
    ab.add_argument("--markdown", action="store_true", help="print the Markdown report instead of the tables")
    ab.set_defaults(strategy=None, num_nodes=1, scaling_reference=None, max_epochs=None, scenario="benchmark",
                    profile=False, require_all=False, side_parser=side)


def _add_probe_parser(sub: Subparsers) -> None:
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


def _add_merge_parser(sub: Subparsers) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tweetbench", description="Benchmark a BiLSTM tweet classifier on CPU, GPU and XLA.")
    parser.add_argument("--version", action="version", version=f"tweetbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = _add_run_parser(sub)
    _add_tune_parser(sub)
    _add_devices_parser(sub)
    _add_report_parser(sub)
    _add_compare_parser(sub)
    _add_ab_parser(sub, run)
    _add_probe_parser(sub)
    _add_merge_parser(sub)
    return parser


def _ab_side(args: argparse.Namespace, text: str, name: str, argv: Sequence[str]) -> RunOptions:
    """One side's run options: the common ones, overridden by its own (``--a "--threads 2"``, parsed as by run)."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"--{name} {text!r} cannot be read: {exc}") from None
    side, extra = args.side_parser.parse_known_args(tokens, namespace=copy.copy(args))
    if extra:
        raise UsageError(f"--{name} may set only {_flags(args.side_parser)}, not {' '.join(extra)!r}: give the "
                         "others once, for both sides")
    variants = options.run_options(side, argv)
    if len(variants) != 1:
        raise UsageError(f"--{name} names {len(variants)} workload variants: give each side one, and one precision")
    if len(variants[0].devices) != 1 or variants[0].devices[0].count is not None:
        raise UsageError("ab runs on one device: give --devices cpu (or gpu, gpu:N, tpu, xla-cpu)")
    return variants[0]


def _ab_options(args: argparse.Namespace, argv: Sequence[str]) -> ABOptions:
    """``tweetbench ab``'s options: the gate, then each side's run options."""
    from tweetbench.analysis.gate import parse_bound
    from tweetbench.launch.ab import ABOptions

    bound = parse_bound(args.fail_on_regression) if args.fail_on_regression is not None else None
    sides = {"A": _ab_side(args, args.a, "a", argv), "B": _ab_side(args, args.b, "b", argv)}
    return ABOptions(sides["A"].devices[0], sides, {"A": args.a, "B": args.b}, args.repeats, args.out,  # type: ignore[arg-type]
                     ("tweetbench", *argv), bound, args.metric)


def _dispatch(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run the command ``args`` names: its options are built from the arguments here, its work is in ``commands``."""
    if args.command == "run":
        return commands.run(options.run_options(args, argv))
    if args.command == "tune":
        return commands.tune(options.tune_options(args, argv))
    if args.command == "ab":
        return commands.ab(_ab_options(args, argv), markdown=args.markdown)
    handlers = {"devices": commands.devices, "compare": commands.compare, "merge": commands.merge,
                "probe": commands.probe, "report": commands.report}
    return handlers[args.command](args)


# An unexpected exception (a bug, not bad input) exits with this status (sysexits' EX_SOFTWARE).
INTERNAL_ERROR_EXIT = 70
TRACEBACK_ENV = "TWEETBENCH_TRACEBACK"


def internal_error(exc: BaseException) -> str:
    """One line about an unexpected exception; its traceback goes to a file that the line names."""
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
        return _dispatch(build_parser().parse_args(argv), argv)
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
