"""Interference in words, from a record's ``metrics.interference`` alone: the status note, each window's sentence,
the policy line and the headline statistic."""

from __future__ import annotations

from typing import Any

from tweetbench.report.interference import headline_lines, interference_lines, status_note, window_sentence


def window(others: float | None = 0.9, *, stalled: int = 0, interfered: bool = True, **more: Any) -> dict[str, Any]:
    return {"interfered": interfered, "cpu_measured": others is not None, "cpu_reason": "no /proc here",
            "cores": 2, "others_cores": others, "others_cores_uncertainty": 0.01, "steal_cores": 0.0,
            "stalled_steps": stalled, "stalled_s": 1.5 * stalled, "cut_short": None, **more}


def record(windows: dict[str, dict[str, Any]], policy: str = "flag", **metrics: Any) -> dict[str, Any]:
    hit = [name for name, w in windows.items() if w["interfered"]]
    return {"metrics": {"interference": {"policy": policy, "interfered": bool(hit), "interfered_windows": hit,
                                         "windows": windows}, **metrics}}


def test_the_status_note_names_the_worst_cause() -> None:
    assert status_note(record({"training": window(0.9), "batch-1 inference": window(1.4)})) == \
        "interference: 1.4 cores"
    assert status_note(record({"training": window(0.01, stalled=3)})) == "interference: 3 stalls"
    assert status_note(record({"training": window(None, cut_short="cut short after 60 s")})) == \
        "interference: cut short"
    assert status_note(record({"training": window(0.01, interfered=False)})) == ""
    assert status_note({"metrics": {}}) == ""


def test_a_window_sentence_says_what_was_taken_and_whether_steps_stalled() -> None:
    assert window_sentence("training", window(0.9, stalled=2, steal_cores=0.25)) == (
        "other processes used 0.90 of the 2 cores during the training window, and the hypervisor stole 0.25; "
        "2 steps stalled, 3.00 s in all (interfered).")
    assert window_sentence("training", window(None, interfered=False)) == (
        "the CPU taken by other processes during the training window was not measured (no /proc here); "
        "no step stalled (quiet).")
    assert "(±0.10, the kernel's tick)" in window_sentence("x", window(0.2, others_cores_uncertainty=0.1))


def test_every_window_gets_a_line_and_an_interfered_run_its_policy() -> None:
    lines = interference_lines(record({"training": window(0.9), "batch-1 inference": window(0.0, interfered=False)},
                                      training={"remeasured": [{}, {}]}))
    assert lines[0].startswith("- Interference (training): Other processes used 0.90")
    assert lines[1].startswith("- Interference (batch-1 inference): Other processes used 0.00")
    assert lines[2].startswith("- Interfered windows: training; policy `--on-interference flag` "
                               "(measured training 3 times; every attempt is in the record)")
    assert lines[2].endswith("or with `--on-interference remeasure`.")
    assert interference_lines({"metrics": {}}) == []


def test_the_headline_shows_the_median_step_beside_the_window_only_where_they_differ() -> None:
    train = {"samples_per_s": 1000.0, "samples_per_s_median_step": 1050.0, "headline_gap_threshold": 0.1}
    assert headline_lines({"metrics": {"training": train}}) == []
    wide = {**train, "samples_per_s_median_step": 1500.0}
    [line] = headline_lines({"metrics": {"training": wide}})
    assert "implies 1,500 samples/s (+50%)" in line and "slow steps weigh in its wall time" in line
    interfered = {**train, "interference": {"interfered": True}}
    assert "stalls under interference" in headline_lines({"metrics": {"training": interfered}})[0]
