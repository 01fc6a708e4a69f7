#!/usr/bin/env bash
# record.sh [--needs FILE] NAME DIR TIMEOUT_S COMMAND [ARGS...]
#
# Runs COMMAND (with a time limit), shows its output and keeps it in
# DIR/NAME.log, its exit code in DIR/NAME.rc and its wall time in seconds in
# DIR/NAME.time. scripts/total.sh reads them back. Exits with the command's code.
# With --needs FILE and FILE absent (its build failed), records nothing, so
# total.sh reports the step as not built.
set -uo pipefail
if [ "${1:-}" = --needs ]; then
  if [ ! -e "$2" ]; then
    echo "== $3: not run, $2 was not built"
    exit 1
  fi
  shift 2
fi
name=$1 dir=$2 limit=$3
shift 3
mkdir -p "$dir"
echo "== $name: $*"
start=$(date +%s.%N)
timeout -k 10 "$limit" "$@" 2>&1 | tee "$dir/$name.log"
rc=${PIPESTATUS[0]}
end=$(date +%s.%N)
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "== $name: timed out after ${limit}s" | tee -a "$dir/$name.log"
fi
echo "$rc" > "$dir/$name.rc"
awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f\n", e - s }' > "$dir/$name.time"
exit "$rc"
