#!/usr/bin/env bash
# check_undef.sh [HEADER] - every helper macro (MIA__*, mia__*) that the
# implementation section of mialloc.h defines is #undef'd at its end (STYLE:
# none leaks into the including file). Prints `N passed, N failed`.
set -uo pipefail
h=${1:-mialloc.h}
impl=$(awk '/^#if defined\(MIALLOC_IMPLEMENTATION\) && !defined\(MIALLOC_IMPLEMENTATION_INCLUDED\)/{f=1} f' "$h")
defined=$(printf '%s\n' "$impl" | sed -n 's/^[[:space:]]*#[[:space:]]*define[[:space:]]\{1,\}\(MIA__[A-Za-z0-9_]*\|mia__[A-Za-z0-9_]*\).*/\1/p' | sort -u)
undefined=$(printf '%s\n' "$impl" | sed -n 's/^[[:space:]]*#[[:space:]]*undef[[:space:]]\{1,\}\(MIA__[A-Za-z0-9_]*\|mia__[A-Za-z0-9_]*\).*/\1/p' | sort -u)
source "$(dirname "$0")/set_check.sh"
set_check check_undef "$defined" "$undefined" "defined in the implementation but never #undef'd:" \
  "all $(printf '%s\n' "$defined" | grep -c .) helper macros of the implementation are #undef'd"
