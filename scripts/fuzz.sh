#!/usr/bin/env bash
# fuzz.sh BINARY SECONDS CORPUS_DIR
#
# Runs a libFuzzer binary (tests/fuzz.c) for SECONDS on CORPUS_DIR, which is
# kept between runs so a later run starts from what earlier ones found. An
# input that crashes is saved as <corpus>/../<binary>-crash-<sha1>; the line
# to replay it is printed. libFuzzer's progress lines (NEW, REDUCE) are left
# out of the log; pulses and the final statistics stay. The last line is
# "1 passed, 0 failed" when the run ended without a finding, else
# "0 passed, 1 failed" (scripts/total.sh counts it). Exits with libFuzzer's code.
set -uo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 BINARY SECONDS CORPUS_DIR" >&2
  exit 2
fi
bin=$1 secs=$2 corpus=$3
mkdir -p "$corpus"
artifacts="$(dirname "$corpus")/$(basename "$bin")-"
echo "fuzz: $bin for ${secs}s, corpus $corpus ($(find "$corpus" -type f | wc -l) inputs)"
# -detect_leaks=0: the harness takes nothing from libc malloc, and mialloc's
# memory comes from mmap, which LeakSanitizer does not track.
"$bin" -max_total_time="$secs" -max_len=2048 -len_control=10 -timeout=60 -rss_limit_mb=4096 \
  -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" 2>&1 |
  grep --line-buffered -Ev '^#[0-9]+[[:space:]]+(NEW|REDUCE)[[:space:]]'
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 0 ]; then
  echo "fuzz: no finding in ${secs}s"
  echo "1 passed, 0 failed"
else
  echo "fuzz: FOUND a failure (libFuzzer exit code $rc); replay: $bin ${artifacts}crash-*"
  echo "0 passed, 1 failed"
fi
exit "$rc"
