#!/usr/bin/env bash
# check_n.sh NATIVE_LOG TARGET COMMAND [ARGS...]
#
# Runs the quick test suite of one port (COMMAND, e.g. qemu-aarch64 -L ...
# build/ports/aarch64/mialloc_tests) and compares its CHECK count with the
# native quick run's log NATIVE_LOG: the port must execute exactly as many
# CHECKs. A test that cannot run on a target says so with SKIP(reason) from
# tests/runner.h; it is listed here with its reason and its native CHECK
# count is added back before the comparison.
# Prints the runner's output, then one final "N passed, M failed" line: the
# port's counts, plus one failure if N differs from the native N.
# A run that fails with an assertion inside the emulator's own code (qemu's
# translator or user-mode layer, e.g. "ERROR:../../target/i386/tcg/
# translate.c:...: assertion failed" in a child forked from a threaded
# process) is run once more, saying so; a crash of the program itself
# (a signal, a failed CHECK) is not, and neither is a second emulator failure.
set -uo pipefail
native_log=$1 target=$2
shift 2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
emulator_failed() { grep -qE '^(Bail out! )?ERROR:.*/(target|tcg|accel|linux-user)/[^:]*:[0-9]+:.*assertion failed' "$1"; }
"$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ] && emulator_failed "$out"; then
  echo "$target: the emulator failed an assertion of its own (above), not the program: running the suite once more"
  "$@" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
fi

counts() { grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1 | sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/'; }
read -r p f < <(counts "$out"; echo)
p=${p:-0} f=${f:-0}
ran=$((p + f)) # CHECKs executed
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
  echo "$target: exit code $rc without a failed CHECK (crash?)"
  f=1
fi

# Skipped tests: "SKIP <name>" result lines; their reasons are "skip <name>: <reason>" lines.
skipped_checks=0
skips=$(awk '$1 == "SKIP" { print $2 }' "$out")
for name in $skips; do
  native=$(awk -v n="$name" '($1 == "ok" || $1 == "FAIL") && $2 == n { print $3 }' "$native_log" 2>/dev/null | tail -n 1)
  reason=$(sed -n "s/^skip $name: //p" "$out" | head -n 1)
  echo "$target: skipped $name (${native:-?} CHECKs natively): ${reason:-no reason given}"
  skipped_checks=$((skipped_checks + ${native:-0}))
done
[ -z "$skips" ] && echo "$target: no test skipped"

read -r np nf < <(counts "$native_log" 2>/dev/null; echo)
if [ -z "${np:-}" ]; then
  echo "$target: no native count to compare with ($native_log)"
  f=$((f + 1))
else
  total=$((ran + skipped_checks)) native_total=$((np + nf))
  if [ "$total" -eq "$native_total" ]; then
    echo "$target: $ran CHECKs$([ "$skipped_checks" -gt 0 ] && echo " + $skipped_checks skipped") = $native_total as natively"
  else
    echo "$target: $ran CHECKs$([ "$skipped_checks" -gt 0 ] && echo " + $skipped_checks skipped") != $native_total natively"
    f=$((f + 1))
  fi
fi
echo "$p passed, $f failed"
[ "$f" -eq 0 ] && [ "$rc" -eq 0 ]
