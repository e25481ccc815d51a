#!/usr/bin/env bash
# Prepare, here (with network), the wheels that the GPU machine's image lacks, in the git-ignored .whl/.
#
#   scripts/device_wheels.sh            (from anywhere; PYTHON=... picks the pip to download with)
#
# The GPU machine has no network and Python 3.12 (cp312, x86_64, glibc manylinux_2_28 or newer). Its image has
# torch, Lightning, numpy, scipy, matplotlib, rich, psutil, nvidia-ml-py and pytest, but not jsonschema (which
# tweetbench's records need) nor its dependencies, nor MLPerf's LoadGen. So they travel as wheels: the device
# tool's `run` call names `.whl` in `carry` (the folder is git-ignored, so it does not travel by itself), and
# scripts/gpu_check.sh installs them there offline:
#   pip install --no-index --no-deps --target DIR .whl/*.whl   and   PYTHONPATH=DIR
# One version of each (two stop the whole install). Under 2 MB together, far below the 64 MiB the tree may carry.
# Exit status 0 when every wheel is there; the folder's .ready stamp lists them.

set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
DEST=.whl
# The image lacks these (jsonschema and what it imports), plus LoadGen for the serving scenario.
WHEELS=(
  jsonschema==4.26.0
  jsonschema-specifications==2025.9.1
  referencing==0.37.0
  rpds-py==2026.9.1
  mlcommons-loadgen==6.0.17
)
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64)

mkdir -p "$DEST"
args=(--no-deps --only-binary=:all: --python-version 3.12 --implementation cp --dest "$DEST" --quiet)
for platform in "${PLATFORMS[@]}"; do args+=(--platform "$platform"); done
"$PYTHON" -m pip download "${args[@]}" "${WHEELS[@]}"

# Exactly one wheel of each name, every one for cp312 or pure Python.
for spec in "${WHEELS[@]}"; do
  name=${spec%%==*}; version=${spec#*==}
  stem=$(echo "$name" | tr '-' '_')
  found=$(ls "$DEST"/ 2>/dev/null | grep -i "^${stem}-${version}-" || true)
  count=$(printf '%s' "$found" | grep -c . || true)
  if [ "$count" -ne 1 ]; then
    echo "device_wheels: expected one wheel of $spec in $DEST, found $count: remove the extras and rerun" >&2
    exit 1
  fi
done
stale=$(ls "$DEST"/*.whl | grep -viE "/($(printf '%s|' "${WHEELS[@]%%==*}" | tr '-' '_' | sed 's/|$//'))-" || true)
if [ -n "$stale" ]; then
  echo "device_wheels: wheels not in the list would install too; remove them: $stale" >&2
  exit 1
fi
ls "$DEST"/*.whl > "$DEST/.ready"
echo "device_wheels: $(wc -l < "$DEST/.ready") wheels in $DEST ($(du -sh "$DEST" | cut -f1))"
