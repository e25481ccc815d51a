"""The serve scenario's report: LoadGen's four scenarios per device and server, the Server search's points, the
max QPS at the p99 bound, in-process against LitServe, the checks and the cold-start timeline. Pure renderers:
records in, Markdown (or rows of a console table) out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tweetbench.records import K_DEVICE, K_METRICS, K_REASON, K_STATUS, Record, lookup
from tweetbench.records.run import R_COMMAND, R_PRESET, R_RUN_ID, R_STARTED, R_STATUS
from tweetbench.report.cells import fmt, when
from tweetbench.report.interference import rerun_advice, status_note

SERVING_PNG = "plots/serving_{device}.png"
MAX_QPS_COLUMN = "max QPS @ p99 ≤ bound"


def _ms(seconds: Any, digits: int = 2) -> str:
    return "–" if seconds is None else f"{float(seconds) * 1000:.{digits}f}"


def served(r: Record) -> dict[str, Any]:
    """The record's systems under test, by name (empty if it served nothing)."""
    return dict(lookup(r, K_METRICS, "serving", "servers") or {})


def max_qps_cell(r: Record) -> str:
    """The summary's and merge's "max QPS @ p99 ≤ bound" cell: the in-process figure (else the first server's),
    with the bound, or – where the record has none."""
    servers = served(r)
    server = servers.get("inprocess") or next(iter(servers.values()), None)
    bound = lookup(r, K_METRICS, "serving", "latency_bound_s")
    if not server or server.get("max_qps") is None:
        return "–"
    return f"{server['max_qps']:,.0f} (p99 {_ms(server.get('max_qps_p99_s'), 1)} ms ≤ {_ms(bound, 0)} ms)"


def serving_figures(r: Record) -> dict[str, Any] | None:
    """What a merged summary keeps of a serve record: the bound and, per server, max QPS and its p99."""
    serving = lookup(r, K_METRICS, "serving")
    if not serving:
        return None
    return {"latency_bound_s": serving.get("latency_bound_s"),
            "max_qps": {name: s.get("max_qps") for name, s in served(r).items()},
            "max_qps_p99_s": {name: s.get("max_qps_p99_s") for name, s in served(r).items()}}


def scenario_row(device: str, name: str, s: Mapping[str, Any]) -> list[str]:
    single, offline, multi = s.get("single_stream") or {}, s.get("offline") or {}, s.get("multi_stream") or {}
    lat = single.get("latency_s") or {}
    early = (single.get("early_stopping") or {}).get("estimates") or {}
    overload = s.get("overload") or {}
    accuracy = s.get("accuracy") or {}
    return [device, name, _ms(lat.get("p50_s"), 3), _ms(lat.get("p90_s"), 3), _ms(lat.get("p99_s"), 3),
            _ms(early.get("p90_s"), 3), fmt(offline.get("samples_per_s"), 0),
            _ms((multi.get("query_latency_s") or {}).get("p99_s")), fmt(s.get("max_qps"), 0),
            _ms(s.get("max_qps_p99_s")), overload.get("validity") or "–",
            "–" if accuracy.get("accuracy") is None else
            f"{accuracy['accuracy']:.4f} ({'= model' if accuracy.get('matches_model') else '≠ model'})"]


SCENARIO_HEADERS = ("device", "server", "SS p50 ms", "SS p90 ms", "SS p99 ms", "SS early-stop p90 ms",
                    "Offline /s", "MS p99 ms", "max Server QPS", "its p99 ms", "2× overload", "accuracy")


def scenarios_table(results: Sequence[Record]) -> str:
    lines = ["| " + " | ".join(SCENARIO_HEADERS) + " |", "|" + "---|" * len(SCENARIO_HEADERS)]
    for r in results:
        for name, server in served(r).items():
            lines.append("| " + " | ".join(scenario_row(r[K_DEVICE]["name"], name, server)) + " |")
    return "\n".join(lines)


def points_table(server: Mapping[str, Any]) -> str:
    """Every Server point tried, in the order tried, with LoadGen's verdict and why."""
    lines = ["| # | target QPS | achieved /s | p50 ms | p90 ms | p99 ms | queries | verdict | others' cores | "
             "early stopping |", "|---|---|---|---|---|---|---|---|---|---|"]
    points = list((server.get("search") or {}).get("points") or [])
    if server.get("overload"):
        points.append({**server["overload"], "order": "overload"})
    for p in points:
        lat = p.get("latency_s") or {}
        why = (p.get("early_stopping") or {}).get("text") or p.get("invalid_reason") or ""
        lines.append(f"| {p.get('order')} | {fmt(p.get('target_qps'), 0)} | {fmt(p.get('samples_per_s'), 0)} | "
                     f"{_ms(lat.get('p50_s'))} | {_ms(lat.get('p90_s'))} | {_ms(lat.get('p99_s'))} | "
                     f"{fmt(p.get('query_count'), 0)} | **{p.get('validity')}** | {_others(p.get('interference'))} | "
                     f"{why[:90]} |")
    return "\n".join(lines)


def _others(section: Mapping[str, Any] | None) -> str:
    """The cores other processes took during a run, marked where that interfered with it."""
    if not section or not section.get("cpu_measured"):
        return "–"
    return f"{section['others_cores']:.2f}" + (" (interfered)" if section.get("interfered") else "")


def interference_summary_lines(r: Record) -> list[str]:
    """Every timed LoadGen run was probed for other processes' CPU: the busiest one, and each that interfered."""
    summary = lookup(r, K_METRICS, "interference") or {}
    windows = summary.get("windows") or {}
    if not windows:
        return []
    measured = {what: w for what, w in windows.items() if w.get("cpu_measured")}
    busiest = max(measured, key=lambda what: measured[what]["others_cores"], default=None)
    line = f"- Interference: {len(windows)} timed LoadGen runs probed"
    if busiest is not None:
        w = measured[busiest]
        line += f"; other processes used at most {w['others_cores']:.2f} of the {w['cores']} cores ({busiest})"
    hit = summary.get("interfered_windows") or []
    if not hit:
        return [line + "; none interfered."]
    return [line + ".", f"- Interfered runs: {', '.join(hit)}; {windows[hit[0]]['reasons'][0]}; policy "
            f"`--on-interference {summary.get('policy', 'flag')}`. Their figures tell how loaded the machine was, "
            "not how fast it serves: " + rerun_advice(summary)]


def cold_start_lines(server: Mapping[str, Any]) -> list[str]:
    timeline = server.get("cold_start") or {}
    phases = timeline.get("phases") or []
    if not phases:
        return []
    steps = "; ".join(f"{p['phase'].replace('_', ' ')} at {p['at_s']:.2f} s (+{p['took_s']:.2f} s)" for p in phases)
    return [f"- Cold start, from the process's start: {steps}."]


def http_lines(server: Mapping[str, Any]) -> list[str]:
    """LitServe's own checks: where it listened, what malformed requests got, failed requests, processes left."""
    info, malformed = server.get("server") or {}, server.get("malformed") or {}
    if not info and not malformed:
        return []
    out = [f"- Server: 127.0.0.1:{info.get('port')} (loopback only), LitServe batching "
           f"{info.get('batching')}; processes left after it stopped: {info.get('leftover_pids') or 'none'}."]
    if malformed:
        out.append(f"- Malformed requests got HTTP {malformed.get('statuses')}; a good one after them got HTTP "
                   f"{malformed.get('after_status')}.")
    if server.get("http_errors"):
        out.append(f"- Failed requests: {server['http_errors']}.")
    return out


def gap_lines(gap: Mapping[str, Any] | None) -> list[str]:
    """Where the Server scenario's remainder against Offline goes (``analysis.serve_gap``)."""
    if not gap:
        return []
    busy, cost, batch = gap["busy_share"], gap["ms_per_request"], gap["mean_batch"]
    return [f"- Max Server QPS over Offline: **{gap['ratio']:.2f}×** = busy share {busy['factor']:.2f} (the batcher "
            f"ran {busy['server'] * 100:.0f}% of the time, against {busy['offline'] * 100:.0f}% in Offline) × "
            f"cost per request {cost['factor']:.2f} ({cost['server']:.3f} ms against {cost['offline']:.3f} ms, "
            f"in batches of {fmt(batch['server'], 1)} on average against {fmt(batch['offline'], 1)})."]


def server_section(name: str, server: Mapping[str, Any], bound_s: float | None) -> list[str]:
    if server.get("unavailable"):
        return [f"#### {name}", "", f"Unavailable: {server['unavailable']}", ""]
    search = server.get("search") or {}
    out = [f"#### {name}", ""]
    out.append(f"- Max Server QPS at p99 ≤ {_ms(bound_s, 0)} ms: **{fmt(server.get('max_qps'), 0)}** (p99 "
               f"{_ms(server.get('max_qps_p99_s'))} ms); {len(search.get('points') or [])} points, "
               + ("converged within the tolerance." if search.get("converged") else "the search ran out of runs "
                  "before its bracket closed" + (f", or reached its floor of {fmt(search['floor_qps'], 1)} QPS "
                                                 "(below it a point cannot gather the queries a p99 needs)"
                                                 if search.get("floor_qps") else "") + "."))
    cal = server.get("calibration") or {}
    if cal.get("http_round_trip_p50_s") is not None:
        out.append(f"- One HTTP request, alone: {_ms(cal['http_round_trip_p50_s'])} ms at the median (20 requests).")
    if cal.get("max_batch_forward_s") is not None:
        max_batch = lookup(server, "offline", "batcher", "max_batch_size")
        out.append(f"- Batcher: max batch {max_batch}; one full batch {_ms(cal.get('max_batch_forward_s'))} ms "
                   f"({(cal.get('max_batch_share_of_bound') or 0) * 100:.0f}% of the bound); a bare batch-1 "
                   f"forward {_ms(cal.get('batch1_forward_p50_s'), 3)} ms; warm-up compiles "
                   f"{cal.get('warmup_compiles', 0)}" + (f"; torch threads {server['torch_threads']} (every core "
                   "but one, which LoadGen's issuing thread and the batcher's Python need)"
                   if server.get("torch_threads") else "") + ".")
    out += gap_lines(server.get("server_gap"))
    acc, audit = server.get("accuracy") or {}, server.get("audit") or {}
    out.append(f"- AccuracyOnly over {acc.get('samples')} validation samples: accuracy {fmt(acc.get('accuracy'), 4)}"
               f", {'identical to' if acc.get('matches_model') else 'NOT identical to'} the model's own predictions "
               f"({acc.get('differing', '?')} differ); TEST01-like audit: {audit.get('checked', 0)} logged "
               f"responses, {audit.get('differing', 0)} differ.")
    overload = server.get("overload") or {}
    if overload:
        out.append(f"- Overload at {fmt(overload.get('target_qps'), 0)} QPS (2× the maximum): "
                   f"**{overload.get('validity')}**" + (f" — {overload['note']}" if overload.get("note") else ", as it must be") + ".")
    out += http_lines(server)
    out += [f"- Problem: {problem}." for problem in server.get("problems") or []]
    out += cold_start_lines(server)
    return [*out, "", points_table(server), ""]


def device_serving_section(r: Record) -> list[str]:
    serving = lookup(r, K_METRICS, "serving") or {}
    out = [f"### {r[K_DEVICE]['label']} — `{r[K_DEVICE]['name']}`", "",
           f"Status: **{r[K_STATUS]}**" + (f" — {r[K_REASON]}" if r.get(K_REASON) else ""), ""]
    if not serving:
        return out
    ratio = serving.get("ratio_inprocess_over_litserve")
    if ratio:
        out += [f"- In-process over LitServe, max Server QPS: **{ratio:.2f}×** (what the HTTP server costs)."]
    out += interference_summary_lines(r)
    if out[-1]:
        out.append("")
    out.append(f"![latency against target QPS]({SERVING_PNG.format(device=r[K_DEVICE]['name'].replace(':', '_'))})")
    out.append("")
    for name, server in served(r).items():
        out += server_section(name, server, serving.get("latency_bound_s"))
    return out


def compliance_lines(results: Sequence[Record]) -> list[str]:
    versions = sorted({str(lookup(r, K_METRICS, "serving", "loadgen_version")) for r in results
                       if lookup(r, K_METRICS, "serving", "loadgen_version")})
    bounds = sorted({lookup(r, K_METRICS, "serving", "latency_bound_s") for r in results
                     if lookup(r, K_METRICS, "serving", "latency_bound_s")})
    note = next((lookup(r, K_METRICS, "serving", "compliance") for r in results
                 if lookup(r, K_METRICS, "serving", "compliance")), "")
    return [f"> {note}" if note else "> Not MLPerf-compliant.", "",
            f"Measured by MLPerf LoadGen {', '.join(versions) or '?'}; Server p99 bound "
            f"{', '.join(_ms(b, 0) + ' ms' for b in bounds) or '?'}; LoadGen's logs are under `loadgen/`.", ""]


def render_serving_report(meta: Mapping[str, Any], results: Sequence[Record]) -> str:
    """report.md of a serve run."""
    lines = [f"# tweetbench run {meta[R_RUN_ID]} — serving", "",
             f"Preset `{meta.get(R_PRESET)}`; started {when(meta.get(R_STARTED))}; status {meta.get(R_STATUS)}.",
             "", f"Command: `{' '.join(meta.get(R_COMMAND) or [])}`", "", *compliance_lines(results),
             "## Serving", "", scenarios_table(results), "",
             "SS: SingleStream (one query at a time), MS: MultiStream (queries of 8 samples), Server: Poisson "
             "arrivals; latencies are LoadGen's, from each query's scheduled time.", ""]
    for r in results:
        lines += device_serving_section(r)
    return "\n".join(lines).rstrip() + "\n"


def serving_summary_lines(results: Sequence[Record]) -> list[str]:
    """summary.md's part of a serve run: the scenarios table and the compliance note."""
    return [*compliance_lines(results), scenarios_table(results), ""]


def console_rows(results: Sequence[Record]) -> tuple[tuple[str, ...], list[list[str]]]:
    """The final console table of a serve run: headers and one row per device and server."""
    rows = []
    for r in results:
        servers = served(r)
        if not servers:
            rows.append([r[K_DEVICE]["name"], r[K_STATUS], "–", "–", "–", "–", r.get(K_REASON) or "–"])
        note = status_note(r)
        for name, s in servers.items():
            p50 = lookup(s, "single_stream", "latency_s", "p50_s")
            rows.append([r[K_DEVICE]["name"], r[K_STATUS] + (f" ({note})" if note else ""), name, _ms(p50, 3),
                         fmt(lookup(s, "offline", "samples_per_s"), 0), fmt(s.get("max_qps"), 0),
                         r.get(K_REASON) or s.get("unavailable") or "; ".join(s.get("problems") or []) or "–"])
    return ("device", "status", "server", "SS p50 ms", "Offline /s", "max QPS", "reason"), rows
