#!/usr/bin/env bash
# check_ctags.sh [HEADER] - every public function the header declares
# (MIALLOC_DEF ... mia_name(...)) is a plain definition that ctags finds: the
# name is in `ctags -x` (universal-ctags, function definitions) at a line of
# the implementation, not only at its prototype. Prints `N passed, N failed`.
set -uo pipefail
h=${1:-mialloc.h}
if ! command -v ctags >/dev/null 2>&1; then
  echo "check_ctags: ctags is not installed (Debian: universal-ctags)"
  echo "0 passed, 1 failed"
  exit 1
fi
impl_line=$(grep -n '^#define MIALLOC_IMPLEMENTATION_INCLUDED' "$h" | head -1 | cut -d: -f1)
# the declared names: a MIALLOC_DEF declaration may span lines up to its '('
declared=$(head -n "$impl_line" "$h" | tr '\n' ' ' | grep -o 'MIALLOC_DEF[^;{#]*mia_[a-z0-9_]*[[:space:]]*(' |
           grep -o 'mia_[a-z0-9_]*[[:space:]]*($' | tr -d ' (' | sort -u)
# the definitions ctags reports inside the implementation
defined=$(ctags -x --c-kinds=f "$h" 2>/dev/null | awk -v s="$impl_line" '$1 ~ /^mia_/ && $3 > s { print $1 }' | sort -u)
source "$(dirname "$0")/set_check.sh"
set_check check_ctags "$declared" "$defined" "declared, but ctags finds no definition:" \
  "ctags finds the definition of all $(printf '%s\n' "$declared" | grep -c .) public functions"
