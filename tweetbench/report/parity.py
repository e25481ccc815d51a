"""Pure Markdown renderers for cross-device parity: each device's parity losses against the CPU's.

Results in, text out; the verdicts come from ``tweetbench.harness.parity.parity_checks``. A diverged device
is flagged above the tables, not silently compared.
"""

from __future__ import annotations

from collections.abc import Sequence

from tweetbench.analysis.parity import TOLERANCE, ParityCheck, parity_checks
from tweetbench.records import K_DEVICE, K_METRICS, REFERENCE_KIND, Record

SHOWN_STEPS = 5
VERDICT_TEXT = {"reference": "reference", "match": "match", "diverged": "**DIVERGED**",
                "no reference": "not compared (no CPU parity pass in this run)", "no data": "–"}


def _losses_text(result: Record) -> str:
    parity = (result.get(K_METRICS) or {}).get("parity") or {}
    losses = parity.get("losses") or []
    shown = ", ".join("NaN/Inf" if v is None else f"{v:.5f}" for v in losses[:SHOWN_STEPS])
    return shown + (f", … ({len(losses)} steps)" if len(losses) > SHOWN_STEPS else "") if losses else "–"


def _diff_text(check: ParityCheck) -> str:
    if check.verdict == "reference" or check.max_abs_diff is None:
        return "–"
    return f"{check.max_abs_diff:.2e} (step {check.worst_step})"


def diverged(results: Sequence[Record]) -> dict[str, ParityCheck]:
    """The devices whose parity losses diverged from the CPU's, by device name."""
    return {check.device: check for check in parity_checks(results, REFERENCE_KIND) if check.flagged}


def parity_flags(results: Sequence[Record]) -> list[str]:
    """One warning line per diverged device (empty when none diverged)."""
    labels = {r[K_DEVICE]["name"]: r[K_DEVICE]["label"] for r in results}
    return [f"> **{labels.get(name, name)} diverged from the CPU**: {check.reason}. Its figures are of a different "
            "computation: do not compare them with the CPU's." for name, check in diverged(results).items()]


def parity_table(results: Sequence[Record]) -> str:
    """Per device: its parity losses, its largest difference from the CPU's and the verdict."""
    by_name = {r[K_DEVICE]["name"]: r for r in results}
    lines = ["| device | loss per step | max abs diff vs CPU | tolerance | verdict |", "|---|---|---|---|---|"]
    for check in parity_checks(results, REFERENCE_KIND):
        if check.verdict == "no data":
            continue
        r = by_name[check.device]
        lines.append(f"| {r[K_DEVICE]['label']} | {_losses_text(r)} | {_diff_text(check)} | "
                     f"{check.tolerance:.0e} | {VERDICT_TEXT[check.verdict]} |")
    return "\n".join(lines)


def parity_section(results: Sequence[Record]) -> list[str]:
    """The "parity with the CPU" section (empty when no result has a parity pass)."""
    checks = parity_checks(results, REFERENCE_KIND)
    if all(check.verdict == "no data" for check in checks):
        return []
    steps = max(len(((r.get(K_METRICS) or {}).get("parity") or {}).get("losses") or []) for r in results)
    return ["## Parity with the CPU", "",
            f"Every device trained a copy of the model with dropout off, from the same initial weights, on the same "
            f"first {steps} batches, and recorded the loss at each step. Verdict: `match` when the largest "
            "absolute difference from the CPU's loss at any step is within the tolerance of the run's precision "
            f"({', '.join(f'{name} {tol:.0e}' for name, tol in TOLERANCE.items())}), `DIVERGED` otherwise.", "",
            *[line for flag in parity_flags(results) for line in (flag, "")],
            parity_table(results), ""]
