"""Bad input, as a new user types it: one line on stderr, a non-zero exit code, never a traceback.

Each row of ``CASES`` is one line of the README's error table. Most run through ``cli.main`` in
this process (the same code path as the console script, minus the torch import); ``SUBPROCESS``
runs a few of them as real ``python -m tweetbench`` processes to prove the end-to-end promise.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tweetbench import cli
from tweetbench.cli import commands


def _write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "author")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, make_run_dir: Callable[..., Path]) -> dict[str, Path]:
    """One file or directory per bad input."""
    root = tmp_path_factory.mktemp("bad-input")
    f: dict[str, Path] = {"root": root}
    f["missing"] = root / "no-such-tweets.csv"
    f["dir"] = root / "a-directory.csv"
    f["dir"].mkdir()
    f["binary"] = root / "binary.csv"
    f["binary"].write_bytes(b"text,author\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    f["latin1"] = root / "latin1.csv"
    f["latin1"].write_bytes("text,author\ncaf\u00e9 au lait,chef\n".encode("latin-1"))
    f["columns"] = _write_csv(root / "columns.csv", [(f"tweet {i}", "ab"[i % 2]) for i in range(100)],
                              header=("body", "who"))
    f["semicolon"] = root / "excel.csv"
    f["semicolon"].write_text("body;who\n" + "".join(f"tweet {i};{'ab'[i % 2]}\n" for i in range(100)))
    f["one_author"] = _write_csv(root / "one-author.csv", [(f"tweet number {i}", "solo") for i in range(100)])
    f["few_rows"] = _write_csv(root / "few-rows.csv", [(f"tweet number {i}", "ab"[i % 2]) for i in range(10)])
    f["a_file"] = root / "a-file"
    f["a_file"].write_text("not a directory\n")
    out = root / "results"
    f["out"] = out
    f["run"] = make_run_dir(out)
    for name, damage in (("truncated", lambda text: text[: len(text) // 2]),
                         ("corrupt", lambda text: text.replace('"status"', '"status" "', 1)),
                         ("foreign", lambda text: json.dumps({"benchmarks": [], "machine_info": {}})),
                         ("newer", lambda text: json.dumps({**json.loads(text), "schema_version": 99})),
                         ("empty", lambda text: "")):
        run = make_run_dir(root / f"results-{name}")
        cpu = run / "cpu.json"
        text = json.dumps(json.loads(cpu.read_text()), indent=2)
        cpu.write_text(damage(text))
        f[f"run_{name}"] = run
    f["serve"] = root / "serve-cpu.json"
    f["serve"].write_text((Path(__file__).parent / "data" / "serve_cpu_result.json").read_text())
    return f


Argv = Callable[[dict[str, Path]], list[str]]
SMOKE = ["--preset", "smoke", "--workload", "tiny"]

# (id, argv, exit code, a fragment of the message). The fragment is what a user must be told.
CASES: list[tuple[str, Argv, int, str]] = [
    # device lists
    ("unknown device", lambda f: ["run", "--devices", "cpu,fpga"], 2, "unknown device 'fpga'"),
    ("path as device", lambda f: ["run", "--devices", "../../etc"], 2, "unknown device '../../etc'"),
    ("empty --devices", lambda f: ["run", "--devices", ""], 2, "--devices is empty"),
    ("empty entry in --devices", lambda f: ["run", "--devices", "cpu,,gpu"], 2, "empty entry"),
    ("repeated device", lambda f: ["run", "--devices", "cpu,gpu,cpu"], 2, "'cpu' is listed twice"),
    ("same GPU twice", lambda f: ["run", "--devices", "gpu,gpu:0"], 2,
     "'gpu:0' is listed twice in --devices (as 'gpu')"),
    ("bad device index", lambda f: ["run", "--devices", "gpu:x"], 2, "bad device index in 'gpu:x'"),
    ("non-ASCII digit index", lambda f: ["run", "--devices", "gpu:\u00b2"], 2, "bad device index"),
    ("index on the CPU", lambda f: ["run", "--devices", "cpu:1"], 2, "cpu:1 does not exist"),
    ("xla-cpu index", lambda f: ["run", "--devices", "xla-cpu:3"], 2, "xla-cpu:3 does not exist"),
    ("XLA strategy on XLA:CPU", lambda f: ["run", "--devices", "xla-cpu:2", "--strategy", "xla"], 2,
     "no collective operations on XLA:CPU"),
    # values
    ("unknown preset", lambda f: ["run", "--preset", "huge"], 2, "unknown preset 'huge'"),
    ("unknown workload", lambda f: ["run", "--workload", "gpt"], 2, "unknown workload 'gpt'"),
    ("negative seed", lambda f: ["run", "--seed", "-1"], 2, "'-1' must be zero or more"),
    ("zero timeout", lambda f: ["run", "--timeout", "0"], 2, "'0' must be a positive number of seconds"),
    ("negative timeout", lambda f: ["run", "--timeout", "-5"], 2, "'-5' must be a positive number of seconds"),
    ("NaN timeout", lambda f: ["run", "--timeout", "nan"], 2, "must be a positive number of seconds"),
    ("zero nodes", lambda f: ["run", "--num-nodes", "0"], 2, "'0' must be a positive whole number"),
    ("negative epochs", lambda f: ["run", "--max-epochs", "-3"], 2, "'-3' must be a positive whole number"),
    ("word for a count", lambda f: ["run", "--max-epochs", "ten"], 2, "'ten' is not a whole number"),
    ("zero batch for tune", lambda f: ["tune", "--max-batch", "0"], 2, "'0' must be a positive whole number"),
    ("unknown flag", lambda f: ["run", "--fast"], 2, "unrecognized arguments: --fast"),
    ("unknown command", lambda f: ["bench"], 2, "invalid choice: 'bench'"),
    # data files
    ("missing data file", lambda f: ["run", "--data", str(f["missing"])], 3, "data file not found"),
    ("data is a directory", lambda f: ["run", "--data", str(f["dir"])], 3, "is a directory"),
    ("binary data", lambda f: ["run", "--data", str(f["binary"])], 3, "looks binary (NUL byte at offset"),
    ("non-UTF-8 data", lambda f: ["run", "--data", str(f["latin1"])], 3, "is not UTF-8 text (invalid byte 0xe9"),
    ("CSV without the columns", lambda f: ["run", "--data", str(f["columns"])], 3,
     "has no column 'text', 'author' (its columns: body, who)"),
    ("wrong --text-column", lambda f: ["run", "--data", str(f["columns"]), "--text-column", "body"], 3,
     "has no column 'author'"),
    ("semicolon CSV without the columns", lambda f: ["run", "--data", str(f["semicolon"])], 3,
     "has no column 'text', 'author' (its columns: body, who) when read as semicolon-separated"),
    ("bad --delimiter", lambda f: ["run", "--data", str(f["semicolon"]), "--delimiter", "ab"], 2,
     "argument --delimiter: 'ab' is not a delimiter"),
    ("one author only", lambda f: ["run", "--data", str(f["one_author"])], 3, "has 1 author(s)"),
    ("too few rows", lambda f: ["run", "--data", str(f["few_rows"])], 3, "only 10 usable tweets, too few to split"),
    # results
    ("--out is a file", lambda f: ["run", *SMOKE, "--out", str(f["a_file"])], 4, "exists and is not a directory"),
    ("--out under a file", lambda f: ["run", *SMOKE, "--out", str(f["a_file"] / "results")], 4,
     "cannot create output directory"),
    ("truncated result", lambda f: ["report", str(f["run_truncated"]), "--out", str(f["run_truncated"].parent)], 4,
     "is not valid JSON"),
    ("corrupt result", lambda f: ["report", str(f["run_corrupt"]), "--out", str(f["run_corrupt"].parent)], 4,
     "is not valid JSON"),
    ("empty result", lambda f: ["report", str(f["run_empty"]), "--out", str(f["run_empty"].parent)], 4, "is empty"),
    ("another tool's JSON", lambda f: ["report", str(f["run_foreign"]), "--out", str(f["run_foreign"].parent)], 4,
     'is not a tweetbench result (no "tool": "tweetbench")'),
    ("newer schema", lambda f: ["report", str(f["run_newer"]), "--out", str(f["run_newer"].parent)], 4,
     "has schema version 99, newer than this tweetbench reads (2)"),
    ("not a run directory", lambda f: ["report", str(f["out"] / "nothing"), "--out", str(f["out"])], 4,
     "is not a tweetbench run directory"),
    ("no runs yet", lambda f: ["report", "--out", str(f["root"] / "empty-results")], 4, "no tweetbench runs in"),
    ("compare: truncated result",
     lambda f: ["compare", str(f["run"] / "cpu.json"), str(f["run_truncated"] / "cpu.json")], 4, "is not valid JSON"),
    ("compare: another tool's JSON", lambda f: ["compare", str(f["run"]), str(f["run_foreign"] / "cpu.json")], 4,
     "is not a tweetbench result"),
    ("compare: newer schema", lambda f: ["compare", str(f["run_newer"] / "cpu.json"), str(f["run"] / "cpu.json")], 4,
     "has schema version 99"),
    ("compare: binary file", lambda f: ["compare", str(f["binary"]), str(f["run"])], 4, "is not UTF-8 text"),
    ("compare: missing file", lambda f: ["compare", str(f["run"]), str(f["missing"])], 4, "does not exist"),
    ("compare: serve runs", lambda f: ["compare", str(f["run"]), str(f["serve"])], 2,
     "is a serve run: compare judges the benchmark scenario's timed figures"),
    ("run dir outside --out", lambda f: ["report", str(f["run"]), "--out", str(f["root"])], 2,
     "is not inside the results directory"),
    ("run dir with ..", lambda f: ["report", str(f["out"] / ".." / "results" / f["run"].name), "--out", str(f["out"])],
     2, "contains '..'"),
]


@pytest.mark.parametrize(("argv", "code", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_an_exit_code(argv: Argv, code: int, fragment: str, files: dict[str, Path],
                                                capsys: pytest.CaptureFixture[str],
                                                assert_one_line_error: Callable[..., None]) -> None:
    returned = cli.main(argv(files))
    captured = capsys.readouterr()
    assert_one_line_error(captured.err, returned, code, fragment)
    assert captured.out == ""


@pytest.mark.parametrize("command", ["run", "tune"])
def test_run_and_tune_read_the_data_options_alike(command: str, capsys: pytest.CaptureFixture[str],
                                                  assert_one_line_error: Callable[..., None]) -> None:
    assert cli.main([command, "--seed", "-1"]) == 2
    assert_one_line_error(capsys.readouterr().err, 2, 2, "argument --seed: '-1' must be zero or more")
    args = cli.build_parser().parse_args([command, "--data", "t.tsv", "--text-column", "body", "--label-column", "who",
                                          "--delimiter", "tab", "--out", "o", "--seed", "3"])
    assert (args.data, args.text_column, args.label_column, args.delimiter, args.out, args.seed) == (
        Path("t.tsv"), "body", "who", "\t", Path("o"), 3)


def test_a_bad_input_writes_nothing(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = files["root"] / "untouched"
    assert cli.main(["run", "--devices", "cpu,fpga", "--out", str(out)]) == 2
    assert cli.main(["run", "--data", str(files["one_author"]), "--out", str(out)]) == 3
    assert not out.exists()
    report_before = (files["run_truncated"] / "report.md").exists()
    assert cli.main(["report", str(files["run_truncated"]), "--out", str(files["run_truncated"].parent)]) == 4
    assert (files["run_truncated"] / "report.md").exists() == report_before
    capsys.readouterr()


def test_unreadable_data_file(files: dict[str, Path], capsys: pytest.CaptureFixture[str],
                              assert_one_line_error: Callable[..., None]) -> None:
    """Permission denied, for real: as root (whom chmod does not stop) the check runs with the
    effective uid of ``nobody``, then gets root back."""
    folder = Path(tempfile.mkdtemp(prefix="tweetbench-unreadable-"))
    try:
        folder.chmod(0o755)  # nobody must reach the file to be refused by the file's own mode
        secret = _write_csv(folder / "secret.csv", [(f"tweet {i}", "ab"[i % 2]) for i in range(100)])
        secret.chmod(0o000)
        argv = ["run", "--devices", "cpu", "--data", str(secret), "--out", str(folder / "results")]
        cli.main(["run", "--devices", "cpu", "--data", str(files["missing"])])  # import what run needs first
        capsys.readouterr()
        if os.geteuid() == 0:
            os.seteuid(65534)
            try:
                code = cli.main(argv)
            finally:
                os.seteuid(0)
        else:
            code = cli.main(argv)
        assert_one_line_error(capsys.readouterr().err, code, 3, "permission denied")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_an_index_past_the_last_gpu_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                                     assert_one_line_error: Callable[..., None]) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU: without one, a GPU of any index is 'unavailable' (see the next test)")
    count = torch.cuda.device_count()
    code = cli.main(["run", "--devices", f"cpu,gpu:{count}"])
    assert_one_line_error(capsys.readouterr().err, code, 2,
                          f"gpu:{count} does not exist: this machine has {count} GPU(s)")


def test_a_gpu_index_without_any_gpu_is_unavailable_not_an_error() -> None:
    """The other half of the rule: a device kind absent from the machine is recorded, not refused."""
    import torch

    from tweetbench.devices import parse_device_list, probe

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    (spec,) = parse_device_list("gpu:7")
    availability = probe(spec)
    assert not availability.available and availability.reason


# A few of the cases above as real processes: the console entry point, a fresh interpreter, and
# nothing in between that could swallow a traceback.
SUBPROCESS = ["unknown device", "truncated result"]  # each costs a torch import (seconds)


@pytest.mark.slow
@pytest.mark.parametrize("case", SUBPROCESS)
def test_real_process_prints_one_line(case: str, files: dict[str, Path],
                                      assert_one_line_error: Callable[..., None]) -> None:
    (_, argv, code, fragment), = [c for c in CASES if c[0] == case]
    proc = subprocess.run([sys.executable, "-m", "tweetbench", *argv(files)], capture_output=True, text=True,
                          timeout=120, cwd=files["root"])
    assert_one_line_error(proc.stderr, proc.returncode, code, fragment)


def test_a_bug_is_one_line_with_its_traceback_kept_in_a_file(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    def broken(options):  # noqa: ANN001, ANN202 (stands in for commands.tune)
        raise TypeError("write() argument must be str, not bytes")

    monkeypatch.setattr(commands, "tune", broken)
    monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    assert cli.main(["tune", "--device", "cpu"]) == cli.INTERNAL_ERROR_EXIT
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("tweetbench: internal error: TypeError: write() argument must be str, not bytes")
    path = Path(line.split("traceback in ")[1].split(";")[0])
    try:
        assert "in broken" in path.read_text(encoding="utf-8")
    finally:
        path.unlink()
    monkeypatch.setenv(cli.TRACEBACK_ENV, "1")
    with pytest.raises(TypeError):
        cli.main(["tune", "--device", "cpu"])
