#!/usr/bin/env bash
# Every GPU check in one command, within 8 minutes on one H100 (so that a rerun still fits in the 15 minutes of
# GPU time), on the GPU machine's image with no network. What comes back: at most 8 files under --out.
#
#   scripts/gpu_check.sh [--out DIR]     on the GPU machine (default DIR: $OUT)
#   scripts/gpu_check.sh --rehearse [--out DIR]
#                                        here, on the CPU, in the device-image venv (make test-device-image
#                                        builds it): every GPU step runs on the CPU instead, at small sizes
#
# Before it, here: scripts/device_wheels.sh (the wheels the image lacks, in the git-ignored .whl/). The device
# tool's call then carries them (.whl is git-ignored, so it does not travel by itself):
#   run(command="scripts/gpu_check.sh --out $OUT", carry=[".whl"], timeout_s=600)
#
# Steps, in this order (each bounded by what is left of BUDGET_S; a step that fails or runs out of time is
# recorded and the next one still runs):
#   1. the wheels installed offline (pip install --no-index --no-deps --target), then every module tweetbench
#      imports, and every tweetbench module, imported (pre-flight);
#   2. the GPU: v1 --preset quick in 32-true (profiled); then 32-tf32 and 16-mixed (unprofiled); then the open
#      division (quick, unprofiled); then the sync-debug pass (tweetbench probe sync: 32-true and 16-mixed,
#      20 measured steps) and the LSTM numerics probe (tweetbench probe numerics: 32-true and 32-tf32);
#   3. the CPU reference: v1 --preset smoke --no-profile on the machine's CPU cores (8 measured steps and 3
#      parity steps: enough for the speedup's order of magnitude and for parity over the first 3 of the GPU's 5
#      parity steps; the quick preset's 2.5 minutes would not fit);
#   4. if time is left, serving (the serve scenario at smoke: LoadGen against the in-process SUT; LitServe is not
#      on the image), then the GPU tests (pytest -m gpu);
#   5. the summary (scripts/gpu_summary.py: figures, checks, timer agreement from the records) and the packing.
#
# --rehearse runs the same steps with the CPU in place of the GPU, the tiny workload and the smoke preset
# (quick's 1000 measured steps of v1 take minutes on 2 CPU cores); the GPU-only variants (32-tf32, 16-mixed)
# are then recorded as unavailable, and the sync-debug pass and the 32-tf32 numerics say "not applicable".
# It proves everything but the CUDA kernels: the offline install, the order, the time budget, the packing.
#
# What comes back (<= 8 files, each <= 16 MiB, none in a subfolder):
#   gpu_check.md    the report: steps, times, the summary, the probes, links to the pictures
#   summary.txt     scripts/gpu_summary.py's figures and checks
#   gpu_check.log   the whole log (torch version, the offline install, every command's output)
#   results.tar.gz  every JSON (records, run metadata, probes, summaries) and each run's report.md
#   *.png           up to 4 pictures that gpu_check.md links
# Exit status: 0 when every step passed or was skipped (not applicable), 1 otherwise.

set -u
cd "$(dirname "$0")/.."

REHEARSE=0
RESULTS=${OUT:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --rehearse) REHEARSE=1 ;;
    --out) RESULTS=${2:-}; shift ;;
    --out=*) RESULTS=${1#--out=} ;;
    -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument $1 (use --rehearse, --out DIR)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$RESULTS" ] || { echo "gpu_check: no output folder: give --out DIR (or set OUT)" >&2; exit 2; }

BUDGET_S=${BUDGET_S:-480}           # the whole script: 8 minutes
PACK_RESERVE_S=20                   # kept for the summary and the packing
if [ "$REHEARSE" = 1 ]; then
  PY=${PYTHON:-.venv-device-image/bin/python}
  DEV=cpu WORKLOAD=tiny PRESET=smoke
  [ -x "$PY" ] || { echo "gpu_check: no device-image venv at $PY: run 'make test-device-image' first" >&2; exit 2; }
else
  PY=${PYTHON:-python3}
  DEV=gpu WORKLOAD=v1 PRESET=quick
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tweetbench-gpu-check.XXXXXX")
SITE="$WORK/site"
RUNS="$WORK/results"
PROBES="$WORK/probes"
mkdir -p "$RESULTS" "$PROBES"
LOG="$WORK/gpu_check.log"
: > "$LOG"
export COLUMNS=${COLUMNS:-160} PYTHONUNBUFFERED=1

STEPS=()
FAILED=0
record() {  # record NAME STATUS SECONDS DETAIL
  STEPS+=("| $1 | $2 | $3 | $4 |")
  if [ "$2" = FAIL ]; then FAILED=1; fi
}
say() { echo "== [$SECONDS s] $*" | tee -a "$LOG"; }
left() {  # left CAP [KEEP]: seconds a step may take: its cap, or what is left of the budget less the packing
  # reserve and KEEP seconds kept for the steps after it
  local rest=$((BUDGET_S - PACK_RESERVE_S - ${2:-0} - SECONDS))
  if [ "$rest" -lt "$1" ]; then echo $((rest > 5 ? rest : 5)); else echo "$1"; fi
}
run_step() {  # run_step NAME CAP_S COMMAND...: run it under a timeout, log it, record PASS/FAIL/TIMEOUT
  local name=$1 cap; cap=$(left "$2"); shift 2
  local started=$SECONDS
  say "$name (up to ${cap} s): $*"
  timeout --kill-after=10 "$cap" "$@" >>"$LOG" 2>&1
  local rc=$? took=$((SECONDS - started))
  case $rc in
    0) record "$name" PASS "$took" "${STEP_DETAIL:-}" ;;
    124|137) record "$name" FAIL "$took" "stopped at its ${cap} s limit" ;;
    *) record "$name" FAIL "$took" "exit $rc; see gpu_check.log" ;;
  esac
  STEP_DETAIL=""
  return $rc
}

# -- 1. the offline wheels and the pre-flight ---------------------------------------------------------------
unset PYTHONPATH  # as on the image: nothing but its own site-packages until the wheels are in
say "mode: $([ "$REHEARSE" = 1 ] && echo "REHEARSAL on the CPU ($DEV, $WORKLOAD, $PRESET)" || echo "GPU ($DEV, $WORKLOAD, $PRESET)"); budget ${BUDGET_S} s; work folder $WORK"
say "python: $PY: $("$PY" -c 'import sys, torch; print("Python", sys.version.split()[0], "| torch", torch.__version__, "| CUDA", torch.version.cuda, "| GPU visible:", torch.cuda.is_available())' 2>&1)"
say "before the wheels: $("$PY" -c 'import jsonschema' 2>/dev/null && echo "jsonschema already there" || echo "jsonschema missing (as on the GPU image)")"
if ls .whl/*.whl >/dev/null 2>&1; then
  STEP_DETAIL="$(ls .whl/*.whl | wc -l) wheels from .whl/ into $SITE, no index"
  run_step "offline wheels" 60 "$PY" -m pip install --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" \
    .whl/*.whl
  ls "$SITE" >>"$LOG"
else
  record "offline wheels" FAIL 0 "no .whl/*.whl: run scripts/device_wheels.sh here and carry .whl"
fi
export PYTHONPATH="$SITE:$PWD"  # the wheels, and tweetbench from this tree (workers inherit both)
say "after the wheels: $("$PY" -c 'import importlib.metadata as m, jsonschema, os; print("jsonschema", m.version("jsonschema"), "from", os.path.dirname(os.path.dirname(jsonschema.__file__)))' 2>&1)"

cat > "$WORK/preflight.py" <<'PY'
"""Every third-party module tweetbench imports, then every tweetbench module: each must import here."""
import importlib, pkgutil, sys
third = ["torch", "pytorch_lightning", "lightning_fabric", "numpy", "scipy", "jsonschema", "referencing", "rpds",
         "jsonschema_specifications", "rich", "psutil", "pynvml", "matplotlib", "tensorboard", "pytest",
         "pytest_benchmark", "hypothesis"]
missing = []
for name in third:
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - each failure is listed
        missing.append(f"{name} ({type(exc).__name__}: {exc})")
# Packages of scenarios this check does not run (serving's LitServe SUT, XLA): a module needing one is noted, not failed.
OPTIONAL = {"litserve", "fastapi", "uvicorn", "torch_xla"}
import tweetbench
count, optional = 0, []
for module in pkgutil.walk_packages(tweetbench.__path__, "tweetbench."):
    if module.name.endswith("__main__"):
        continue
    count += 1
    try:
        importlib.import_module(module.name)
    except ModuleNotFoundError as exc:
        (optional if (exc.name or "").split(".")[0] in OPTIONAL else missing).append(f"{module.name} ({exc})")
    except Exception as exc:  # noqa: BLE001
        missing.append(f"{module.name} ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})")
print(f"pre-flight: {len(third)} third-party modules and {count} tweetbench modules, {len(missing)} failed, "
      f"{len(optional)} need a package this check does not use")
for line in missing:
    print("  cannot import", line)
for line in optional:
    print("  not needed here:", line)
sys.exit(1 if missing else 0)
PY
STEP_DETAIL="third-party modules and every tweetbench module import" run_step "pre-flight" 60 "$PY" "$WORK/preflight.py"
"$PY" -m tweetbench devices >>"$LOG" 2>&1

IDLE_W=""
if [ "$REHEARSE" = 0 ]; then
  IDLE_W=$("$PY" - <<'PY' 2>>"$LOG"
import time
from tweetbench.devices.nvml import NvmlDevice
device, why = NvmlDevice.for_torch_index(0)  # the card behind torch's cuda:0, matched by UUID
if device is None:
    raise SystemExit(why)
readings = []
for _ in range(10):
    readings.append(device.read()["power_w"])
    time.sleep(0.1)
print(f"{min(r for r in readings if r is not None):.1f}")
PY
  ) || IDLE_W=""
  say "idle power before any work: ${IDLE_W:-?} W"
fi

# -- 2. the GPU (on --rehearse: the CPU in its place) -------------------------------------------------------
# Kept for the probes (45 + 30 s) and the CPU reference (75 s) while the runs go.
KEEP=150
RUN=(-m tweetbench run --devices "$DEV" --workload "$WORKLOAD" --preset "$PRESET" --out "$RUNS")
cap=$(left 130 "$KEEP")
run_step "$DEV $WORKLOAD $PRESET 32-true" "$cap" "$PY" "${RUN[@]}" --precision 32-true --timeout $((cap - 15))
cap=$(left 150 "$KEEP")
run_step "$DEV $WORKLOAD $PRESET 32-tf32, 16-mixed" "$cap" "$PY" "${RUN[@]}" --precision 32-tf32,16-mixed --no-profile \
  --timeout $(((cap - 20) / 2))
cap=$(left 170 "$KEEP")
run_step "$DEV open division" "$cap" "$PY" "${RUN[@]}" --division open --no-profile --timeout $((cap - 15))
run_step "sync-debug pass" 45 "$PY" -m tweetbench probe sync --device "$DEV" --workload "$WORKLOAD" \
  --precision 32-true,16-mixed --steps 20 --json "$PROBES/sync.json"
run_step "LSTM numerics" 30 "$PY" -m tweetbench probe numerics --device "$DEV" --workload v1 --json "$PROBES/numerics.json"

# -- 3. the CPU reference -----------------------------------------------------------------------------------
cap=$(left 75)
STEP_DETAIL="$WORKLOAD smoke, unprofiled: the speedup's reference and 3 parity steps" \
run_step "CPU reference" "$cap" "$PY" -m tweetbench run --devices cpu --workload "$WORKLOAD" --preset smoke --no-profile \
  --out "$RUNS" --timeout $((cap - 10))

# -- 4. serving on the GPU (LoadGen against the in-process SUT, smoke), then the GPU tests, if time is left --------
if [ $((BUDGET_S - PACK_RESERVE_S - SECONDS)) -ge 100 ]; then
  cap=$(left 75 40)
  STEP_DETAIL="$WORKLOAD smoke serve, in-process: LoadGen's SingleStream, Offline, MultiStream, Server search, AccuracyOnly" \
  run_step "$DEV serve (LoadGen)" "$cap" "$PY" -m tweetbench run --devices "$DEV" --workload "$WORKLOAD" --preset smoke \
    --scenario serve --out "$RUNS" --timeout $((cap - 10))
else
  record "$DEV serve (LoadGen)" SKIP 0 "under 100 s left of the budget"
fi
if [ $((BUDGET_S - PACK_RESERVE_S - SECONDS)) -ge 40 ]; then
  run_step "GPU tests" 90 "$PY" -m pytest -p no:cacheprovider -q -rs tests/devices/test_cuda.py \
    tests/devices/test_nvml.py tests/devices/test_precision.py
else
  record "GPU tests" SKIP 0 "under 40 s left of the budget"
fi

# -- 5. the summary and the packing -------------------------------------------------------------------------
RUN_DIRS=$(ls -d "$RUNS"/2*/ 2>/dev/null | sort)
say "summary of: $(echo $RUN_DIRS)"
if [ -n "$RUN_DIRS" ]; then
  # shellcheck disable=SC2086
  "$PY" scripts/gpu_summary.py $RUN_DIRS --probes "$PROBES" ${IDLE_W:+--idle-power-w "$IDLE_W"} \
    $([ "$REHEARSE" = 1 ] && echo --rehearsal) >"$WORK/summary.txt" 2>>"$LOG"
  rc=$?
  record "summary checks" "$([ $rc -eq 0 ] && echo PASS || echo FAIL)" 0 "scripts/gpu_summary.py exit $rc"
else
  echo "no run directory under $RUNS" >"$WORK/summary.txt"
  record "summary checks" FAIL 0 "no run produced a directory"
fi
STEP_TABLE=$(printf '%s\n' "${STEPS[@]}")
export STEP_TABLE FAILED REHEARSE BUDGET_S
"$PY" scripts/gpu_summary.py --pack "$WORK" --into "$RESULTS" --elapsed "$SECONDS" >>"$LOG" 2>&1
PACK_RC=$?
say "packed into $RESULTS (exit $PACK_RC) in ${SECONDS} s:"
ls -la "$RESULTS" | tee -a "$LOG"
tail -c 15000000 "$LOG" > "$RESULTS/gpu_check.log"  # last, so that it holds everything (its last 15 MB)
printf '%s\n' "${STEPS[@]}"
[ "$PACK_RC" -eq 0 ] || FAILED=1
exit "$FAILED"
