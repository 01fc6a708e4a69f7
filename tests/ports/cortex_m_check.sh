#!/usr/bin/env bash
# cortex_m_check.sh OBJECT [LIMIT_BYTES]
#
# The Cortex-M object of tests/ports/cortex_m.c: prints its sections
# (arm-none-eabi-size -A) and its code + constant size (.text* + .rodata*),
# which must be <= LIMIT_BYTES (default 16 KiB), and checks with
# arm-none-eabi-nm that it needs nothing but memset, memcpy and memmove.
# Ends with "N passed, M failed".
set -uo pipefail
obj=$1 limit=${2:-16384}
passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

arm-none-eabi-size -A "$obj"
read -r text rodata data bss < <(arm-none-eabi-size -A "$obj" | awk '
  $1 ~ /^\.text/   { t += $2 }
  $1 ~ /^\.rodata/ { r += $2 }
  $1 ~ /^\.data/   { d += $2 }
  $1 ~ /^\.bss/    { b += $2 }
  END { print t + 0, r + 0, d + 0, b + 0 }')
code=$((text + rodata))
awk -v t="$text" -v r="$rodata" -v c="$code" -v l="$limit" -v d="$data" -v b="$bss" 'BEGIN {
  printf "cortex-m4: .text %d + .rodata %d = %d bytes (%.1f KiB; limit %.1f KiB); .data %d, .bss %d\n",
         t, r, c, c / 1024, l / 1024, d, b }'
if [ "$code" -gt 0 ] && [ "$code" -le "$limit" ]; then pass; else fail ".text + .rodata = $code bytes, limit $limit"; fi

undefined=$(arm-none-eabi-nm -u "$obj" | awk '{ print $NF }' | sort -u | tr '\n' ' ')
echo "cortex-m4: undefined symbols: ${undefined:-none}"
extra=$(for s in $undefined; do case $s in memset|memcpy|memmove) ;; *) printf '%s ' "$s" ;; esac; done)
if [ -z "$extra" ]; then pass; else fail "undefined symbols other than memset/memcpy/memmove: $extra"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
