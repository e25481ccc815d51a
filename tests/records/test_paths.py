"""Run names and paths cannot lead out of the results directory, and unusable output paths are refused."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tweetbench import cli
from tweetbench.devices import parse_device
from tweetbench.errors import ResultsError, UsageError
from tweetbench.records.files import write_atomic

RUN_ID = "20260101-000000-abcdef"


@pytest.fixture
def out(tmp_path: Path, make_run_dir: Callable[..., Path]) -> Path:
    out = tmp_path / "results"
    make_run_dir(out, RUN_ID)
    return out


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*") if p.is_file()}


def report(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["report", *argv])
    return code, capsys.readouterr().err


def test_report_by_bare_run_id_writes_only_inside_the_results_directory(out: Path, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    before = files_under(tmp_path)
    code, err = report([RUN_ID, "--out", str(out)], capsys)
    assert code == 0, err
    written = files_under(tmp_path) - before
    assert {out / RUN_ID / "report.md", out / "summary.md"} <= written
    assert all(out in path.parents for path in written), written


def test_report_refuses_a_path_with_dot_dot(out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            assert_one_line_error: Callable[..., None]) -> None:
    before = files_under(tmp_path)
    code, err = report([str(out / ".." / "results" / RUN_ID), "--out", str(out)], capsys)
    assert_one_line_error(err, code, 2, "contains '..'")
    code, err = report([f"../results/{RUN_ID}", "--out", str(out)], capsys)
    assert_one_line_error(err, code, 2, "contains '..'")
    assert files_under(tmp_path) == before


def test_report_refuses_a_run_outside_the_results_directory(out: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            assert_one_line_error: Callable[..., None]) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(out / RUN_ID, elsewhere / RUN_ID)
    before = files_under(tmp_path)
    code, err = report([str(elsewhere / RUN_ID), "--out", str(out)], capsys)
    assert_one_line_error(err, code, 2, "is not inside the results directory")
    assert files_under(tmp_path) == before


def test_report_refuses_a_symlink_that_leads_out(out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 make_run_dir: Callable[..., Path],
                                                 assert_one_line_error: Callable[..., None]) -> None:
    elsewhere = tmp_path / "elsewhere"
    make_run_dir(elsewhere, "20260202-000000-abcdef")
    (out / "20260202-000000-abcdef").symlink_to(elsewhere / "20260202-000000-abcdef")
    before = files_under(tmp_path)
    code, err = report([str(out / "20260202-000000-abcdef"), "--out", str(out)], capsys)
    assert_one_line_error(err, code, 2, "is not inside the results directory")
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("run_id", ["../../escaped", "/tmp/escaped", "..", "a/b", "run id", "", 7, None,
                                    "x" * 101, ".hidden"])
def test_a_crafted_run_id_is_never_used_as_a_path(run_id: object, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  make_run_dir: Callable[..., Path],
                                                  assert_one_line_error: Callable[..., None]) -> None:
    out = tmp_path / "deep" / "results"
    crafted = make_run_dir(out, "20260303-000000-abcdef")
    meta = json.loads((crafted / "run.json").read_text())
    meta["run_id"] = run_id
    (crafted / "run.json").write_text(json.dumps(meta))
    before = files_under(tmp_path)
    code, err = report(["--out", str(out)], capsys)  # the latest run: there is none usable
    assert_one_line_error(err, code, 4, "no tweetbench runs in")
    code, err = report([str(crafted), "--out", str(out)], capsys)
    assert_one_line_error(err, code, 4, "cannot be used: its run_id")
    assert files_under(tmp_path) == before


def test_a_renamed_run_directory_is_refused_rather_than_linked_wrongly(
        out: Path, capsys: pytest.CaptureFixture[str], assert_one_line_error: Callable[..., None]) -> None:
    (out / RUN_ID).rename(out / "my-best-run")
    code, err = report([str(out / "my-best-run"), "--out", str(out)], capsys)
    assert_one_line_error(err, code, 4, f"is run '{RUN_ID}' but lies in 'my-best-run'")


def test_an_earlier_run_with_a_crafted_meta_is_left_out_of_the_summary(out: Path, capsys: pytest.CaptureFixture[str],
                                                                       make_run_dir: Callable[..., Path]) -> None:
    crafted = make_run_dir(out, "20250101-000000-abcdef")
    meta = json.loads((crafted / "run.json").read_text())
    meta.update(run_id="20250101-000000-abcdef", started_at="yesterday", devices="cpu")
    (crafted / "run.json").write_text(json.dumps(meta))
    code, err = report([RUN_ID, "--out", str(out)], capsys)
    assert code == 0, err
    assert "20250101-000000-abcdef" not in (out / "summary.md").read_text()


def test_run_refuses_an_output_directory_it_cannot_write(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         assert_one_line_error: Callable[..., None]) -> None:
    """/sys exists and is a directory, but no one may create files in it, root included."""
    if not Path("/sys/kernel").is_dir() or _can_create_in(Path("/sys/kernel")):
        pytest.skip("no /sys/kernel that refuses new files here")
    code = cli.main(["run", "--devices", "cpu", "--out", "/sys/kernel"])
    assert_one_line_error(capsys.readouterr().err, code, 4, "cannot write to output directory /sys/kernel")


def test_run_refuses_a_read_only_directory_when_not_root(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         assert_one_line_error: Callable[..., None]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes through a read-only mode; /sys covers this case (see the test above)")
    locked_dir = tmp_path / "read-only"
    locked_dir.mkdir(mode=0o555)
    code = cli.main(["run", "--devices", "cpu", "--out", str(locked_dir)])
    assert_one_line_error(capsys.readouterr().err, code, 4, "cannot write to output directory")


def _can_create_in(directory: Path) -> bool:
    try:
        (directory / ".tweetbench-probe").touch()
    except OSError:
        return False
    (directory / ".tweetbench-probe").unlink()
    return True


DEVICE_NAME = re.compile(r"(cpu|gpu|tpu|xla-cpu)(:[0-9]+)?")


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(max_size=20) | st.from_regex(r"(cpu|gpu|tpu|xla-cpu|\.\.|/)[:/.a-z0-9²]{0,8}", fullmatch=True))
def test_any_device_name_is_refused_or_safe_as_a_file_name(text: str) -> None:
    """Result, log and profile files are named after the device: no parsed name can hold a path."""
    try:
        spec = parse_device(text)
    except UsageError as exc:
        assert "\n" not in exc.message
        return
    assert DEVICE_NAME.fullmatch(spec.name), spec.name


def test_a_write_that_fails_is_a_one_line_results_error() -> None:
    if not Path("/sys/kernel").is_dir() or _can_create_in(Path("/sys/kernel")):
        pytest.skip("no /sys/kernel that refuses new files here")
    with pytest.raises(ResultsError) as info:
        write_atomic(Path("/sys/kernel/summary.md"), "# never written\n")
    assert info.value.message.startswith("cannot write /sys/kernel/summary.md: ")
