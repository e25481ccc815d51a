"""``tweetbench merge`` as a user runs it: the written summary, and each refusal as one line, an exit code and
nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tweetbench import cli
from tweetbench.records.merge import validate_merge_summary

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def hosts(tmp_path: Path, write_run: Callable[..., Path], make_record: Callable[..., dict]) -> dict[str, Path]:
    """Three results directories as copied from machines: two runs on a laptop (the older one slower), a GPU
    box whose GPU was unavailable, and a third machine."""
    laptop, box, third = tmp_path / "results-laptop", tmp_path / "results-box", tmp_path / "results-third"
    write_run(laptop, [make_record(run_id="r1", started=100.0, samples=900.0)])
    write_run(laptop, [make_record(run_id="r2", started=200.0, samples=1000.0)])
    write_run(box, [make_record(run_id="r3", samples=2000.0), make_record("gpu", status="unavailable", run_id="r3")])
    write_run(third, [make_record(run_id="r4", host="third", samples=500.0)])
    return {"laptop": laptop, "box": box, "third": third, "root": tmp_path}


def merge(hosts: dict[str, Path], *extra: str, inputs: tuple[Path, ...] = ()) -> list[str]:
    return ["merge", str(hosts["laptop"]), str(hosts["box"]), str(hosts["third"]), *map(str, inputs), "--out",
            str(hosts["root"] / "merged"), "--label", f"{hosts['laptop']}=laptop", "--label", f"{hosts['box']}=box",
            *extra]


def test_merge_writes_one_summary_with_charts(hosts: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(merge(hosts)) == 0
    assert "merged 4 row(s) from 3 host(s), 1 result(s) skipped" in capsys.readouterr().out
    out = hosts["root"] / "merged"
    text = (out / "summary.md").read_text()
    data = json.loads((out / "summary.json").read_text())
    validate_merge_summary(data)
    assert [(r["host"], r["device"], r["status"], r["speedup"]) for r in data["rows"]] == [
        ("laptop", "cpu", "ok", 1.0), ("box", "cpu", "ok", 2.0), ("box", "gpu", "unavailable", None),
        ("third", "cpu", "ok", 0.5)]
    assert data["skipped"] == [{"host": "laptop", "device": "cpu", "variant": "tweets-bilstm-tiny", "run_id": "r1",
                                "source": str(hosts["laptop"] / "r1" / "cpu.json"), "why": "older than run r2's"}]
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 4 and all(p.read_bytes().startswith(PNG_SIGNATURE) for p in pngs)
    assert all(f"]({p.name})" in text for p in pngs)


def test_the_reference_can_be_chosen(hosts: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(merge(hosts, "--reference", "box:cpu")) == 0
    data = json.loads((hosts["root"] / "merged" / "summary.json").read_text())
    assert data["reference"] == {"host": "box", "device": "cpu"}
    assert [r["speedup"] for r in data["rows"]] == [0.5, 1.0, None, 0.25]


def test_different_workloads_are_merged_only_when_allowed_and_then_marked(hosts: dict[str, Path],
                                                                          capsys: pytest.CaptureFixture[str],
                                                                          write_run: Callable[..., Path],
                                                                          make_record: Callable[..., dict]) -> None:
    other = hosts["root"] / "results-seed1"
    write_run(other, [make_record(run_id="r9", host="seed1", fingerprint="sha256:" + "f" * 64)])
    assert cli.main(merge(hosts, "--allow-different-workloads", inputs=(other,))) == 0
    text = (hosts["root"] / "merged" / "summary.md").read_text()
    assert "**Different workloads**" in text and "`ffffffffffff` ≠" in text


def _refusal(hosts: dict[str, Path], key: str, write_run: Callable[..., Path],
             make_record: Callable[..., dict]) -> tuple[list[str], int, str]:
    root, base = hosts["root"], merge(hosts)

    def plus(path: Path) -> list[str]:  # the three hosts and one more input
        return merge(hosts, inputs=(path,))

    if key == "fingerprint":
        write_run(root / "results-seed1", [make_record(run_id="r9", host="seed1", fingerprint="sha256:" + "f" * 64)])
        return plus(root / "results-seed1"), 4, "the inputs measured different workloads"
    if key == "newer schema":
        write_run(root / "results-newer", [dict(make_record(run_id="r8", host="new"), schema_version=99)])
        return plus(root / "results-newer"), 4, "has schema version 99, newer than this tweetbench reads"
    if key == "foreign file":
        (root / "bench.json").write_text(json.dumps({"benchmarks": [], "machine_info": {}}))
        return plus(root / "bench.json"), 4, 'is not a tweetbench result (no "tool": "tweetbench")'
    if key == "same run twice":
        return plus(hosts["box"] / "r3"), 4, "hold the same run (r3): give each run once"
    if key == "copied run":
        write_run(root / "copy", [make_record(run_id="r3")])
        return plus(root / "copy"), 4, "are the same run (r3)"
    if key == "out holds runs":
        return [*base[:base.index("--out")], "--out", str(hosts["laptop"])], 2, "holds tweetbench runs"
    if key == "unknown reference":
        return [*base, "--reference", "box:tpu"], 2, "--reference box:tpu names no row"
    if key == "bad label":
        return [*base, "--label", "laptop"], 2, "write --label DIR=NAME"
    assert key == "missing input"
    return plus(root / "nope"), 4, "does not exist"


REFUSALS = ["fingerprint", "newer schema", "foreign file", "same run twice", "copied run", "out holds runs",
            "unknown reference", "bad label", "missing input"]


@pytest.mark.parametrize("key", REFUSALS)
def test_each_refusal_is_one_line_an_exit_code_and_nothing_written(key: str, hosts: dict[str, Path],
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   assert_one_line_error: Callable[..., None],
                                                                   write_run: Callable[..., Path],
                                                                   make_record: Callable[..., dict]) -> None:
    argv, code, fragment = _refusal(hosts, key, write_run, make_record)
    before = sorted(p.name for p in hosts["laptop"].iterdir())
    returned = cli.main(argv)
    captured = capsys.readouterr()
    assert_one_line_error(captured.err, returned, code, fragment)
    assert captured.out == ""
    assert not (hosts["root"] / "merged").exists()
    assert sorted(p.name for p in hosts["laptop"].iterdir()) == before
