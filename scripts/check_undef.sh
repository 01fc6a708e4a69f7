#!/usr/bin/env bash
# check_undef.sh [HEADER] - every helper macro (MIA__*, mia__*) that the
# implementation section of mialloc.h defines is #undef'd at its end (STYLE:
# none leaks into the including file). Prints `N passed, N failed`.
set -uo pipefail
h=${1:-mialloc.h}
impl=$(awk '/^#if defined\(MIALLOC_IMPLEMENTATION\) && !defined\(MIALLOC_IMPLEMENTATION_INCLUDED\)/{f=1} f' "$h")
defined=$(printf '%s\n' "$impl" | sed -n 's/^[[:space:]]*#[[:space:]]*define[[:space:]]\{1,\}\(MIA__[A-Za-z0-9_]*\|mia__[A-Za-z0-9_]*\).*/\1/p' | sort -u)
undefined=$(printf '%s\n' "$impl" | sed -n 's/^[[:space:]]*#[[:space:]]*undef[[:space:]]\{1,\}\(MIA__[A-Za-z0-9_]*\|mia__[A-Za-z0-9_]*\).*/\1/p' | sort -u)
missing=$(comm -23 <(printf '%s\n' "$defined") <(printf '%s\n' "$undefined"))
n=$(printf '%s\n' "$defined" | grep -c .)
if [ -n "$missing" ]; then
  echo "check_undef: defined in the implementation but never #undef'd:" $missing
  m=$(printf '%s\n' "$missing" | grep -c .)
  echo "$((n - m)) passed, $m failed"
  exit 1
fi
echo "check_undef: all $n helper macros of the implementation are #undef'd"
echo "$n passed, 0 failed"
