#!/usr/bin/env bash
# Every GPU check in one go, within 6 minutes, on one NVIDIA GPU machine without network.
#
#   scripts/gpu_check.sh            (from the repository root; PYTHON=... to pick the interpreter)
#
# 1. installs the package (pip install --no-deps -e .; falls back to PYTHONPATH when pip cannot);
# 2. checks the modules tweetbench needs are importable, lists the devices, and reads the GPU's idle power;
# 3. runs `tweetbench run --devices cpu,gpu --preset quick` (the full scenario: training, inference,
#    bare-PyTorch overhead comparison, profile, matmul peak, parity);
# 4. runs the GPU tests (every test marked gpu) and the GPU benchmarks (pytest --benchmark-only -k gpu);
# 5. prints a compact summary: samples/s, batch-1 request and model latency, overlap gain, speedup, overhead
#    ratio with its interval, J per 1k samples,
#    % of measured peak, and the checks (CUDA events vs wall clock, power, memory, parity).
#
# Without a GPU every GPU step says why it is skipped and the rest still runs (PRESET=smoke WORKLOAD=tiny
# make that quick on a CPU machine). Exit status: 0 when every step passed or was skipped.
# Everything is written under $RESULTS (default: $OUT if set, else /tmp/tweetbench-gpu-check).

set -u
cd "$(dirname "$0")/.."

PRESET=${PRESET:-quick}
WORKLOAD=${WORKLOAD:-v1}
RESULTS=${RESULTS:-${OUT:-/tmp/tweetbench-gpu-check}}
BUDGET_S=${BUDGET_S:-350}          # the whole script; each step gets what is left, capped
export COLUMNS=${COLUMNS:-160}     # rich tables in the log, unwrapped
mkdir -p "$RESULTS"
LOG="$RESULTS/gpu_check.log"
: > "$LOG"

pick_python() {
  for candidate in ${PYTHON:-} python python3 .venv/bin/python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import torch" >/dev/null 2>&1; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

STEPS=()
FAILED=0
record() {  # record NAME STATUS DETAIL
  STEPS+=("$(printf '%-22s %-5s %s' "$1" "$2" "$3")")
  if [ "$2" = FAIL ]; then FAILED=1; fi
}
left() {  # seconds left of the budget, capped at $1
  local rest=$((BUDGET_S - SECONDS))
  if [ "$rest" -gt "$1" ]; then echo "$1"; elif [ "$rest" -gt 5 ]; then echo "$rest"; else echo 5; fi
}
say() { echo "== $* ($((SECONDS)) s)" | tee -a "$LOG"; }

PY=$(pick_python) || { echo "no python with torch found (set PYTHON=...)"; exit 1; }
say "python: $PY ($("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)'))"

# -- 1. install ------------------------------------------------------------------------------------
say "install"
if timeout "$(left 120)" "$PY" -m pip install --no-deps --no-build-isolation -e . >>"$LOG" 2>&1 \
   || timeout "$(left 120)" "$PY" -m pip install --no-deps -e . >>"$LOG" 2>&1; then
  record install PASS "pip install --no-deps -e ."
else
  # No network and no local build backend: run from the source tree instead (workers inherit it).
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  record install SKIP "pip could not install offline; running from the source tree (PYTHONPATH)"
fi

# -- 2. preflight ----------------------------------------------------------------------------------
say "preflight"
MISSING=$("$PY" - <<'EOF'
import importlib.util
need = ["torch", "pytorch_lightning", "numpy", "scipy", "jsonschema", "rich", "psutil", "pynvml", "pytest",
        "pytest_benchmark"]
print(" ".join(m for m in need if importlib.util.find_spec(m) is None))
EOF
)
if [ -n "$MISSING" ]; then
  record preflight FAIL "missing modules: $MISSING (no network: install them from a local wheel)"
else
  record preflight PASS "all modules importable"
fi
"$PY" -m tweetbench devices 2>&1 | tee -a "$LOG"
GPU_REASON=$("$PY" - <<'EOF'
from tweetbench.devices import DeviceSpec, probe
a = probe(DeviceSpec("gpu"))
print("" if a.available else a.reason)
EOF
) || GPU_REASON="tweetbench does not import (see $LOG)"
IDLE_W=""
if [ -z "$GPU_REASON" ]; then
  # The card's power before any work: the low bound of the energy check.
  IDLE_W=$("$PY" - <<'EOF' 2>>"$LOG"
import time
from tweetbench.devices.nvml import NvmlDevice
# The NVML device behind torch's cuda:0 (the `gpu` of the run), matched by UUID, not NVML's index 0.
device, why = NvmlDevice.for_torch_index(0)
if device is None:
    raise SystemExit(why)
readings = []
for _ in range(10):
    readings.append(device.read()["power_w"])
    time.sleep(0.1)
print(f"{min(r for r in readings if r is not None):.1f}")
EOF
  ) || IDLE_W=""
  say "GPU found; idle power ${IDLE_W:-?} W"
else
  say "no GPU: $GPU_REASON"
fi

# -- 3. the run ------------------------------------------------------------------------------------
say "tweetbench run --devices cpu,gpu --preset $PRESET --workload $WORKLOAD"
RUN_OUT="$RESULTS/results"
RUN_S=$(left 220)
timeout "$RUN_S" "$PY" -m tweetbench run --devices cpu,gpu --preset "$PRESET" --workload "$WORKLOAD" \
  --out "$RUN_OUT" --timeout $((RUN_S * 6 / 10)) 2>>"$LOG" | tee -a "$LOG"
RUN_RC=${PIPESTATUS[0]}
RUN_DIR=$(ls -td "$RUN_OUT"/2*/ 2>/dev/null | head -1)
if [ "$RUN_RC" -eq 0 ] && [ -n "$RUN_DIR" ]; then
  record "tweetbench run" PASS "$RUN_DIR"
else
  record "tweetbench run" FAIL "exit $RUN_RC (124: over ${RUN_S} s); see $LOG"
fi

# -- 4. GPU tests and benchmarks -------------------------------------------------------------------
GPU_TESTS=$(grep -rlE "pytest\.mark\.gpu|requires_gpu" tests 2>/dev/null | sort | tr '\n' ' ')
say "GPU tests: $GPU_TESTS"
timeout "$(left 90)" "$PY" -m pytest -p no:cacheprovider -q -rs -m gpu $GPU_TESTS 2>&1 | tee -a "$LOG" | tail -15
TEST_RC=${PIPESTATUS[0]}
case "$TEST_RC" in
  0) record "GPU tests" "$([ -z "$GPU_REASON" ] && echo PASS || echo SKIP)" \
       "$([ -z "$GPU_REASON" ] && echo "pytest -m gpu" || echo "skipped: $GPU_REASON")" ;;
  5) record "GPU tests" SKIP "none collected" ;;
  *) record "GPU tests" FAIL "pytest exit $TEST_RC" ;;
esac

BENCH_JSON="$RESULTS/bench-gpu.json"
rm -f "$BENCH_JSON"
if [ -z "$GPU_REASON" ]; then
  say "pytest --benchmark-only -k gpu"
  timeout "$(left 80)" "$PY" -m pytest -p no:cacheprovider -q bench --benchmark-only -k gpu \
    --benchmark-json "$BENCH_JSON" 2>&1 | tee -a "$LOG" | tail -20
  BENCH_RC=${PIPESTATUS[0]}
  case "$BENCH_RC" in
    0) record "GPU benchmarks" PASS "$BENCH_JSON" ;;
    5) record "GPU benchmarks" SKIP "none collected" ;;
    *) record "GPU benchmarks" FAIL "pytest exit $BENCH_RC" ;;
  esac
else
  record "GPU benchmarks" SKIP "no GPU: $GPU_REASON"
fi

# -- 5. summary ------------------------------------------------------------------------------------
echo
if [ -n "$RUN_DIR" ]; then
  "$PY" scripts/gpu_summary.py "$RUN_DIR" ${IDLE_W:+--idle-power-w "$IDLE_W"} --bench-json "$BENCH_JSON" \
    2>&1 | tee "$RESULTS/summary.txt"
  [ "${PIPESTATUS[0]}" -eq 0 ] || FAILED=1
fi
echo "== steps (${SECONDS} s in all; log: $LOG)"
printf '  %s\n' "${STEPS[@]}"
exit "$FAILED"
