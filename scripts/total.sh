#!/usr/bin/env bash
# total.sh [--missing FILE] DIR STEP...
#
# Adds up the results that scripts/record.sh left in DIR for each STEP, in the
# order given, and prints one line per step and then one final line
# "N passed, M failed". For a step:
#   - its log's last "N passed, M failed" line gives its counts (a test runner);
#   - without such a line, exit code 0 counts as 1 passed (a compile check, a
#     program that only reports by its exit code), anything else as 1 failed;
#   - a non-zero exit code with a runner line that reports no failure still
#     counts 1 failed (the runner crashed or a sanitizer stopped it);
#   - DIR/STEP.skip (written by scripts/deps.sh --step: its packages are not
#     installed, outside CI) makes it "skipped" with the reason, counted neither way;
#   - DIR/STEP.why, when present, is printed after the step's status;
#   - no result at all means it was not built or not run: 1 failed.
# With --missing FILE (scripts/deps.sh --record: the Debian packages it could
# not install), a line naming them comes before the final line.
# Exits 1 if anything failed.
set -uo pipefail
missing_file=""
if [ "${1:-}" = --missing ]; then missing_file=$2; shift 2; fi
dir=$1
shift
total_pass=0 total_fail=0 skipped=()
echo "== summary"
for step in "$@"; do
  rcfile="$dir/$step.rc" log="$dir/$step.log"
  if [ -f "$dir/$step.skip" ]; then
    printf '  %-24s skipped: %s\n' "$step" "$(cat "$dir/$step.skip")"
    skipped+=("$step")
    continue
  fi
  if [ ! -f "$rcfile" ]; then
    printf '  %-24s FAILED: not built or not run (see the errors above)\n' "$step"
    total_fail=$((total_fail + 1))
    continue
  fi
  rc=$(cat "$rcfile")
  secs=$(cat "$dir/$step.time" 2>/dev/null || echo "?")
  line=$(grep -E '^([A-Za-z_-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)
  if [ -n "$line" ]; then
    read -r p f < <(echo "$line" | sed -E 's/^([A-Za-z_-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2 \3/')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  elif [ "$rc" -eq 0 ]; then
    p=1 f=0
  else
    p=0 f=1
  fi
  status=ok
  [ "$f" -ne 0 ] && status=FAILED
  [ "$rc" -ne 0 ] && status="FAILED (exit $rc)"
  [ -s "$dir/$step.why" ] && status="$status: $(cat "$dir/$step.why")"
  printf '  %-24s %6s passed, %3s failed  %7ss  %s\n' "$step" "$p" "$f" "$secs" "$status"
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
done
if [ "${#skipped[@]}" -gt 0 ]; then
  echo "  skipped (packages not installed; under CI=true they fail): ${skipped[*]}"
fi
if [ -n "$missing_file" ] && [ -s "$missing_file" ]; then
  echo "  not installed (scripts/deps.sh did not or could not): $(cat "$missing_file")"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
