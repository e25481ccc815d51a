"""Each command's work, once its options are built (``cli.options``): call the library, print what it found.

A command returns the process's exit code; a bad input raises a ``TweetbenchError`` that ``cli.main`` prints
as one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tweetbench.errors import UsageError

if TYPE_CHECKING:
    from tweetbench.harness.launcher import LaunchEnv
    from tweetbench.launch.ab import ABOptions
    from tweetbench.launch.options import RunOptions, RunOutcome
    from tweetbench.launch.tune import TuneOptions


def _run_one(options: RunOptions, launched: LaunchEnv | None) -> RunOutcome | None:
    """One run with its progress display, in this process's role: the suite, or a launched rank."""
    from tweetbench.report.console import progress_display

    if launched is None:
        from tweetbench.launch.suite import run_suite

        with progress_display() as progress:  # plain lines when the output is a log, not a terminal
            return run_suite(options, progress.on_event)
    from tweetbench.launch.torchrun import run_launched

    if launched.rank != 0:
        run_launched(options, launched, lambda device, event: None)  # rank 0 reports the run
        return None
    with progress_display() as progress:
        return run_launched(options, launched, progress.on_event)


def run(all_options: Sequence[RunOptions]) -> int:
    """``tweetbench run``: each workload variant's run in turn, its table, and the worst exit code."""
    from tweetbench.harness.launcher import LaunchEnv
    from tweetbench.report.console import convergence_results_table, results_table, table_console
    from tweetbench.report.serving_console import serving_results_table

    tables = {"convergence": convergence_results_table, "serve": serving_results_table}
    code = 0
    for options in all_options:
        outcome = _run_one(options, LaunchEnv.detect() if options.strategy else None)
        if outcome is None:
            continue
        console = table_console()  # at most 100 columns; a long reason is cut, summary.md has it whole
        console.print(tables.get(options.scenario, results_table)(outcome.results, console.width))
        print(f"results: {outcome.run_dir}  summary: {options.out / 'summary.md'}")
        if not outcome.complete:
            print("tweetbench: the run was interrupted; it is marked incomplete", file=sys.stderr)
            return outcome.exit_code
        code = max(code, outcome.exit_code)
        if options.require_all and any(r.status == "unavailable" for r in outcome.results):
            print("tweetbench: a device was unavailable and --require-all was given", file=sys.stderr)
            code = max(code, 1)
    if len(all_options) > 1:
        print(f"variants side by side: {all_options[0].out / 'variants.md'}")
    return code


def tune(options: TuneOptions) -> int:
    """``tweetbench tune``: the finders and the sweep, then one line of what they found."""
    from rich.console import Console

    from tweetbench.launch.tune import run_tune
    from tweetbench.records.tune import read_tune

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


def devices(args: argparse.Namespace) -> int:
    """``tweetbench devices``: every device kind, and whether it can run here or why not."""
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


def compare(args: argparse.Namespace) -> int:
    """``tweetbench compare A B``: the ratios with their intervals and verdicts, and the gate's exit code."""
    from rich.console import Console

    from tweetbench.analysis.compare import compare_records, load_side
    from tweetbench.analysis.gate import parse_bound
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


def ab(options: ABOptions, *, markdown: bool) -> int:
    """``tweetbench ab``: the interleaved trials, their report, and the gate's exit code."""
    from rich.console import Console

    from tweetbench.launch.ab import run_ab
    from tweetbench.report.ab import messages, terminal_tables
    from tweetbench.report.console import RunProgress

    with RunProgress(Console(stderr=True)) as progress:
        outcome = run_ab(options, progress.on_event)
    if markdown:
        print((outcome.run_dir / "report.md").read_text(encoding="utf-8"), end="")
    else:
        Console().print(*terminal_tables(outcome.comparison))
    print(f"report: {outcome.run_dir / 'report.md'}", file=sys.stderr if markdown else sys.stdout)
    for line in messages(outcome.comparison, interrupted=not outcome.complete):
        print(line, file=sys.stderr)
    return outcome.exit_code


def merge(args: argparse.Namespace) -> int:
    """``tweetbench merge``: one summary of results from several machines."""
    from tweetbench.report.merge import merge_inputs

    merged, written = merge_inputs(args.inputs, args.out, labels=args.label, reference=args.reference,
                                   allow_different_workloads=args.allow_different_workloads)
    print(f"merged {len(merged.rows)} row(s) from {len({row.host for row in merged.rows})} host(s), "
          f"{len(merged.skipped)} result(s) skipped: {written[-1]} ({len(written) - 2} charts)")
    return 0


def probe(args: argparse.Namespace) -> int:
    """``tweetbench probe sync|numerics``: a device check, its lines, and 1 if it failed."""
    from tweetbench import devices as registry
    from tweetbench.config import WORKLOADS, choose

    workload = choose(WORKLOADS, args.workload, "workload")
    spec = registry.parse_device(args.device)
    availability = registry.probe(spec)
    if not availability.available:
        raise UsageError(f"{spec} cannot run here: {availability.reason}")
    backend = registry.create_backend(spec)
    backend.setup()
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


def report(args: argparse.Namespace) -> int:
    """``tweetbench report``: rewrite a run's reports (a tune run's, an A/B run's) or fold in pytest-benchmark."""
    from tweetbench.report.writer import (
        fold_into_summary,
        is_ab_run,
        regenerate,
        regenerate_ab,
        regenerate_tune,
        resolve_run_dir,
    )

    if args.run_dir is not None:  # report writes into the run directory: it must lie inside --out
        args.run_dir = resolve_run_dir(args.out, args.run_dir)
    if args.pytest_benchmark is not None:
        summary = fold_into_summary(args.out, args.pytest_benchmark, args.run_dir)
        print(f"folded {args.pytest_benchmark} into {summary}")
        return 0
    if args.run_dir is not None and (args.run_dir / "tune.json").is_file():
        print(f"rewrote {regenerate_tune(args.run_dir)} and its plots")
        return 0
    if args.run_dir is not None and is_ab_run(args.run_dir):  # an interleaved A/B run: its own report only
        print(f"rewrote {regenerate_ab(args.run_dir)}")
        return 0
    run_dir = regenerate(args.out, args.run_dir)
    print(f"rewrote {run_dir / 'report.md'} and {args.out / 'summary.md'}")
    return 0
