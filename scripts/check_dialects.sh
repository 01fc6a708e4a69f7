#!/usr/bin/env bash
# check_dialects.sh OUTDIR - the implementation in a user's file, with the
# user's strict warnings and no feature macros of the user's: gcc and clang
# at -std=c11 and -std=c17, g++ and clang++ at -std=c++11, c++14, c++17 and
# c++20, each built and run, for both user files in tests/dialects/.
# Prints one line per build and `N passed, N failed`.
set -uo pipefail
out=${1:-build/dialects}
mkdir -p "$out"
flags=(-Wall -Wextra -Wpedantic -Wconversion -Wshadow -Wcast-align -Werror -O1 -I. -pthread)
cc_clang=${CC_CLANG:-clang-19}
cxx_clang=${CXX_CLANG:-clang++-19}
pass=0 fail=0
run() { # compiler lang std src
  local cc=$1 lang=$2 std=$3 src=$4
  local bin="$out/$(basename "$cc")-$std-$(basename "$src" .c)"
  if ! "$cc" -x "$lang" -std="$std" "${flags[@]}" "$src" -o "$bin" -lm > "$bin.log" 2>&1; then
    echo "FAIL build: $cc -std=$std $src"; sed -n 1,12p "$bin.log"; fail=$((fail + 1)); return
  fi
  if ! "$bin" > "$bin.out" 2>&1; then
    echo "FAIL run: $cc -std=$std $src"; cat "$bin.out"; fail=$((fail + 1)); return
  fi
  echo "ok: $cc -std=$std $src"; pass=$((pass + 1))
}
for src in tests/dialects/user_first.c tests/dialects/user_after_libc.c; do
  for cc in gcc "$cc_clang"; do for std in c11 c17; do run "$cc" c "$std" "$src"; done; done
  for cxx in g++ "$cxx_clang"; do for std in c++11 c++14 c++17 c++20; do run "$cxx" c++ "$std" "$src"; done; done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
