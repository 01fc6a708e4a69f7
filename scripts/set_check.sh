#!/usr/bin/env bash
# set_check.sh - sourced by the build-level checks that compare two lists
# (check_undef.sh, check_ctags.sh).
# set_check NAME "WANTED" "FOUND" "WHAT IS MISSING" "ALL FOUND": every line of
# WANTED must be in FOUND; prints the missing ones or ALL FOUND, then
# `N passed, M failed` (N = lines of WANTED), and returns 1 on any missing.
set_check() {
  local name=$1 wanted=$2 found=$3 missing_text=$4 ok_text=$5
  local missing n m
  missing=$(comm -23 <(printf '%s\n' "$wanted") <(printf '%s\n' "$found"))
  n=$(printf '%s\n' "$wanted" | grep -c .)
  if [ -n "$missing" ]; then
    echo "$name: $missing_text" $missing
    m=$(printf '%s\n' "$missing" | grep -c .)
    echo "$((n - m)) passed, $m failed"
    return 1
  fi
  echo "$name: $ok_text"
  echo "$n passed, 0 failed"
}
