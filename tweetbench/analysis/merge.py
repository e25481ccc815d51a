"""Merge results from several machines: one row per (host, device, variant), the newest usable result in each.

The study that tweetbench comes from compared a CPU, a GPU and a TPU on different machines. ``merge``
takes the ``results/`` directories (or run directories, or device JSON files) copied from each of them
and picks, per (host, device, workload variant), the newest ``ok`` result of a complete run; every other
result it found is listed as skipped, with why. The host is the record's ``environment.hostname``, or a
name given with ``--label DIR=NAME``.

It refuses what cannot be compared, with a one-line error and before anything is written: results of
different workloads (fingerprints) unless allowed, a file that is not a tweetbench result or has a newer
schema (``records.read_result``), and the same run given twice.

``find_candidates`` is the only part that reads files; ``select`` is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tweetbench.errors import ResultsError, UsageError
from tweetbench.records import (
    K_DEVICE,
    K_ENVIRONMENT,
    K_REASON,
    K_RUN_ID,
    K_SCENARIO,
    K_STATUS,
    K_WORKLOAD,
    Record,
    lookup,
    read_result,
)
from tweetbench.records.run import R_RUN_ID, R_STATUS, RUN_META, read_meta, result_files
from tweetbench.workload.variants import family_key

UNKNOWN_HOST = "unknown-host"
BENCHMARK = "benchmark"


@dataclass(frozen=True)
class Candidate:
    """One device result found in the inputs, and where it came from."""

    record: Record
    source: str  # the result file
    origin: str  # the input argument it was found under
    host: str
    run_status: str  # its run.json's status; "unknown" for a device file without one

    @property
    def key(self) -> tuple[str, str, str]:
        # A serve run is a row of its own beside the benchmark's: its figures (max QPS at the bound) are others.
        serve = " (serve)" if self.record.get(K_SCENARIO) == "serve" else ""
        return self.host, self.record[K_DEVICE]["name"], self.record[K_WORKLOAD]["name"] + serve

    @property
    def started_at(self) -> float:
        return float(lookup(self.record, "timing", "started_at") or 0.0)

    @property
    def usable(self) -> bool:
        """An ``ok`` result of a run that completed (a lone device file counts as complete)."""
        return self.record[K_STATUS] == "ok" and self.run_status in ("complete", "unknown")


@dataclass(frozen=True)
class Row:
    """The result shown for one (host, device, variant)."""

    candidate: Candidate
    speedup: float | None
    is_reference: bool
    workload_differs: bool  # only with allow_different_workloads: not the reference's workload

    @property
    def host(self) -> str:
        return self.candidate.host

    @property
    def record(self) -> Record:
        return self.candidate.record


@dataclass(frozen=True)
class Skipped:
    """A result that is not shown, and why."""

    candidate: Candidate
    why: str


@dataclass(frozen=True)
class Merge:
    """What ``select`` chose: the rows, what it skipped, the reference row and the workload warnings."""

    rows: tuple[Row, ...]
    skipped: tuple[Skipped, ...]
    reference: tuple[str, str] | None  # (host, device name)
    warnings: tuple[str, ...]
    allowed_different_workloads: bool


# --------------------------------------------------------------------------- arguments


def parse_labels(items: Sequence[str]) -> dict[str, str]:
    """``--label DIR=NAME`` items as {DIR: NAME}, or a one-line ``UsageError``."""
    labels: dict[str, str] = {}
    for item in items:
        where, sep, name = item.rpartition("=")
        name = name.strip()
        if not sep or not where or not name:
            raise UsageError(f"--label {item!r}: write --label DIR=NAME, e.g. --label results-laptop=laptop")
        if ":" in name or not name.isprintable():
            raise UsageError(f"--label {item!r}: a host name cannot contain ':' (--reference HOST:DEVICE uses it) "
                             "or control characters")
        labels[where] = name
    return labels


def parse_reference(text: str | None) -> tuple[str, str] | None:
    """``--reference HOST:DEVICE`` as (host, device), or a one-line ``UsageError``."""
    if text is None:
        return None
    host, sep, device = text.partition(":")
    if not sep or not host or not device:
        raise UsageError(f"--reference {text!r}: write --reference HOST:DEVICE, e.g. --reference laptop:cpu")
    return host, device


# --------------------------------------------------------------------------- reading the inputs


def _host(record: Record, label: str | None) -> str:
    return label or str(lookup(record, K_ENVIRONMENT, "hostname") or UNKNOWN_HOST)


def _label_for(path: Path, labels: Mapping[str, str]) -> str | None:
    resolved = path.resolve()
    return next((name for where, name in labels.items() if Path(where).resolve() == resolved), None)


def _input_runs(path: Path) -> list[Path]:
    """The run directories an input names: itself, or the runs directly inside it."""
    if (path / RUN_META).is_file():
        return [path]
    runs = sorted(meta.parent for meta in path.glob(f"*/{RUN_META}"))
    if not runs:
        raise ResultsError(f"{path} holds no tweetbench run (no {RUN_META} in it or in its subdirectories): "
                           "pass a results directory, a run directory or a device JSON file")
    return runs


def _file_run_status(path: Path) -> str:
    """A device file's run status, from the run.json beside it when there is one."""
    if not (path.parent / RUN_META).is_file():
        return "unknown"
    return str(read_meta(path.parent, renamed_ok=True)[R_STATUS])


# Where a run lies (its directory, or a lone device file), the run's id, and its results.
_Found = tuple[Path, str, list[Candidate]]


def _read_input(path: Path, label: str | None) -> list[_Found]:
    """The runs under one input, each with its device results as candidates."""
    if not path.exists():
        raise ResultsError(f"{path} does not exist: pass a results directory, a run directory or a device JSON file")
    if not path.is_dir():
        record = read_result(path).to_dict()
        status = _file_run_status(path)
        where = path.parent if status != "unknown" else path
        return [(where, record[K_RUN_ID], [Candidate(record, str(path), str(path), _host(record, label), status)])]
    found: list[_Found] = []
    for run_dir in _input_runs(path):
        meta = read_meta(run_dir, renamed_ok=True)  # copied from another machine, maybe under a new name
        records = [(file, read_result(file).to_dict()) for file in result_files(run_dir)]
        order = {name: i for i, name in enumerate(meta.get("devices", []))}
        records.sort(key=lambda item: order.get(item[1]["device"]["name"], len(order)))
        found.append((run_dir, meta[R_RUN_ID], [Candidate(record, str(file), str(path), _host(record, label),
                                                          meta[R_STATUS]) for file, record in records]))
    return found


def find_candidates(inputs: Sequence[Path], labels: Mapping[str, str]) -> list[Candidate]:
    """Every device result under ``inputs`` (results directories, run directories or device JSON files).

    Refuses with a one-line ``ResultsError`` an input that does not exist or holds no run, a file that
    is not a tweetbench result or has a newer schema, and the same run given twice (two copies of it, or
    one input inside another); and with a ``UsageError`` a ``--label`` that names no input.
    """
    for where in labels:
        if not any(Path(where).resolve() == path.resolve() for path in inputs):
            raise UsageError(f"--label {where}=...: {where} is not one of the inputs "
                             f"({', '.join(str(p) for p in inputs)})")
    runs: dict[str, tuple[Path, Path]] = {}  # run id -> where it lies, and the input it came from
    sources: set[Path] = set()
    candidates: list[Candidate] = []
    for path in inputs:
        for where, run_id, found in _read_input(path, _label_for(path, labels)):
            first_where, first_input = runs.setdefault(run_id, (where, path))
            if first_where.resolve() != where.resolve():
                raise ResultsError(f"{first_where} and {where} are the same run ({run_id}): give each run once")
            for candidate in found:
                if Path(candidate.source).resolve() in sources:
                    raise ResultsError(f"{first_input} and {path} hold the same run ({run_id}): give each run once")
                sources.add(Path(candidate.source).resolve())
                candidates.append(candidate)
    if not candidates:
        raise ResultsError(f"{', '.join(str(p) for p in inputs)} hold no device results: run 'tweetbench run' first")
    return candidates


# --------------------------------------------------------------------------- choosing the rows


def _newest_first(group: Sequence[Candidate]) -> list[Candidate]:
    return sorted(group, key=lambda c: (c.started_at, c.record[K_RUN_ID]), reverse=True)


def _why_skipped(candidate: Candidate, chosen: Candidate) -> str:
    record = candidate.record
    if record[K_STATUS] != "ok":
        return f"{record[K_STATUS]}: {record.get(K_REASON) or 'no reason given'}"
    if not candidate.usable:
        return f"its run is {candidate.run_status}"
    mine, theirs = _fingerprint(record), _fingerprint(chosen.record)
    other = f", and another workload (fingerprint {_short(mine)})" if mine and theirs and mine != theirs else ""
    return f"older than run {chosen.record[K_RUN_ID]}'s{other}"


def _choose(candidates: Sequence[Candidate]) -> tuple[list[Candidate], list[Skipped]]:
    """Per (host, device, variant) of the benchmark scenario (a serve run is a row of its own): the newest usable
    result (else the newest one, which shows why the row has no figures), with every other result skipped and why."""
    groups: dict[tuple[str, str, str], list[Candidate]] = {}
    skipped: list[Skipped] = []
    for candidate in candidates:
        scenario = candidate.record.get(K_SCENARIO) or BENCHMARK
        if scenario not in (BENCHMARK, "serve"):
            skipped.append(Skipped(candidate, f"a {scenario} run: merge shows the benchmark scenario"))
            continue
        groups.setdefault(candidate.key, []).append(candidate)
    hosts = list(dict.fromkeys(key[0] for key in groups))
    chosen = []
    for key in sorted(groups, key=lambda k: hosts.index(k[0])):  # stable: devices in the order they were found
        ordered = _newest_first(groups[key])
        best = next((c for c in ordered if c.usable), ordered[0])
        chosen.append(best)
        skipped += [Skipped(c, _why_skipped(c, best)) for c in ordered if c is not best]
    return chosen, skipped


def _fingerprint(record: Record) -> str | None:
    return lookup(record, K_WORKLOAD, "fingerprint")


def _family(record: Record) -> tuple[tuple[str, str], ...]:
    return family_key(lookup(record, K_WORKLOAD, "config") or {})


def _short(fingerprint: str) -> str:
    return fingerprint.removeprefix("sha256:")[:12] + "…"


def workload_differences(candidates: Sequence[Candidate]) -> list[str]:
    """One line per way the results differ in workload: a variant measured with different fingerprints
    (another seed, data or corpus), or variants of different workloads (other shapes)."""
    measured = [c for c in candidates if _fingerprint(c.record)]
    lines = []
    by_variant: dict[str, dict[str, dict[str, str]]] = {}  # variant -> fingerprint -> run id -> host
    for c in measured:
        by_variant.setdefault(c.key[2], {}).setdefault(str(_fingerprint(c.record)), {})[c.record[K_RUN_ID]] = c.host
    for variant, prints in by_variant.items():
        if len(prints) > 1:
            lines.append(f"{variant} has fingerprint " + " but ".join(
                f"{_short(p)} in " + ", ".join(f"run {run} ({host})" for run, host in runs.items())
                for p, runs in prints.items()))
    families: dict[tuple[tuple[str, str], ...], set[str]] = {}
    for c in measured:
        families.setdefault(_family(c.record), set()).add(c.key[2])
    groups = {" / ".join(sorted(names)) for names in families.values()}
    if len(groups) > 1:  # one name in two families (a seed apart) is the fingerprint line above
        lines.append(f"{' and '.join(sorted(groups))} are different workloads, not variants of one")
    return lines


def _resolve_reference(chosen: Sequence[Candidate], asked: tuple[str, str] | None,
                       reference_kind: str) -> tuple[str, str] | None:
    """The (host, device) every speedup is taken against: the one asked for, else the first ``ok`` row of
    the reference kind (the CPU)."""
    if asked is None:
        first = next((c for c in chosen if c.usable and c.record[K_DEVICE]["kind"] == reference_kind), None)
        return None if first is None else (first.host, first.key[1])
    rows = [c for c in chosen if (c.host, c.key[1]) == asked]
    if not rows:
        names = ", ".join(dict.fromkeys(f"{c.host}:{c.key[1]}" for c in chosen))
        raise UsageError(f"--reference {asked[0]}:{asked[1]} names no row: choose one of {names}")
    if not any(c.usable for c in rows):
        raise UsageError(f"--reference {asked[0]}:{asked[1]} has no ok result to compare against "
                         f"({rows[0].record[K_STATUS]}): choose a row that ran")
    return asked


def _samples_per_s(candidate: Candidate | None) -> float | None:
    if candidate is None or not candidate.usable:
        return None
    return lookup(candidate.record, "metrics", "training", "samples_per_s")


def select(candidates: Sequence[Candidate], *, reference: tuple[str, str] | None, reference_kind: str,
           allow_different_workloads: bool = False) -> Merge:
    """Choose the rows (pure): see the module docstring. ``reference_kind`` is the device kind of the
    default reference row (``records.keys.REFERENCE_KIND``, the CPU).

    Raises ``ResultsError`` when the chosen results measured different workloads and that is not
    allowed, and ``UsageError`` for a ``reference`` that names no row or one without an ``ok`` result.
    """
    chosen, skipped = _choose(candidates)
    differences = workload_differences([c for c in candidates if (c.record.get(K_SCENARIO) or BENCHMARK) == BENCHMARK])
    if differences and not allow_different_workloads:
        raise ResultsError(f"the inputs measured different workloads ({'; '.join(differences)}): a row against "
                           "another would compare different work, not different machines. Merge results of one "
                           "workload, or pass --allow-different-workloads")
    ref = _resolve_reference(chosen, reference, reference_kind)
    by_key = {c.key: c for c in chosen}
    rows = []
    for c in chosen:
        base = by_key.get((ref[0], ref[1], c.key[2])) if ref else None
        mine, theirs = _samples_per_s(c), _samples_per_s(base)
        rows.append(Row(c, mine / theirs if mine and theirs else None,
                        ref is not None and (c.host, c.key[1]) == ref,
                        bool(differences) and _differs(c, base or _anchor(chosen, ref))))
    return Merge(tuple(rows), tuple(skipped), ref, tuple(differences), allow_different_workloads)


def _anchor(chosen: Sequence[Candidate], ref: tuple[str, str] | None) -> Candidate | None:
    """What a row's workload is held against when its variant has no reference row: the reference's
    other measured result, else the first measured result."""
    measured = [c for c in chosen if _fingerprint(c.record)]
    return next((c for c in measured if ref and (c.host, c.key[1]) == ref), measured[0] if measured else None)


def _differs(candidate: Candidate, anchor: Candidate | None) -> bool:
    if anchor is None or not _fingerprint(candidate.record):
        return False
    if candidate.key[2] != anchor.key[2]:  # another variant has its own fingerprint: compare the families
        return _family(candidate.record) != _family(anchor.record)
    return _fingerprint(candidate.record) != _fingerprint(anchor.record)
