#!/usr/bin/env bash
# freestanding_check.sh OBJECT LIMIT_BYTES NAME TOOL_PREFIX [HELPER...]
#
# A bare-metal object of tests/ports/freestanding.c (NAME: cortex-m4, ...):
# prints its sections (TOOL_PREFIX-size -A, e.g. arm-none-eabi-size) and its
# code + constant size (.text* + .rodata*), which must be <= LIMIT_BYTES, and
# lists its undefined symbols (TOOL_PREFIX-nm -u), which must be memset, memcpy,
# memmove or one of the compiler-runtime HELPERs allowed for this target.
# Ends with "N passed, M failed".
set -uo pipefail
obj=$1 limit=$2 name=$3 tool=$4
shift 4
allowed=" memset memcpy memmove $* "
passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

"$tool-size" -A "$obj"
read -r text rodata data bss < <("$tool-size" -A "$obj" | awk '
  $1 ~ /^\.text/   { t += $2 }
  $1 ~ /^\.rodata/ { r += $2 }
  $1 ~ /^\.s?data/ { d += $2 }
  $1 ~ /^\.s?bss/  { b += $2 }
  END { print t + 0, r + 0, d + 0, b + 0 }')
code=$((text + rodata))
awk -v n="$name" -v t="$text" -v r="$rodata" -v c="$code" -v l="$limit" -v d="$data" -v b="$bss" 'BEGIN {
  printf "%s: .text %d + .rodata %d = %d bytes (%.1f KiB; limit %.1f KiB); .data %d, .bss %d\n",
         n, t, r, c, c / 1024, l / 1024, d, b }'
if [ "$code" -gt 0 ] && [ "$code" -le "$limit" ]; then pass; else fail "$name: .text + .rodata = $code bytes, limit $limit"; fi

undefined=$("$tool-nm" -u "$obj" | awk '{ print $NF }' | sort -u | tr '\n' ' ')
echo "$name: undefined symbols: ${undefined:-none}"
echo "$name: allowed: memset memcpy memmove${*:+ and the helpers $*}"
extra=$(for s in $undefined; do case $allowed in *" $s "*) ;; *) printf '%s ' "$s" ;; esac; done)
if [ -z "$extra" ]; then pass; else fail "$name: undefined symbols not allowed: $extra"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
