#!/usr/bin/env bash
# deps.sh - the Debian 12 packages a make target needs, installed when they are
# missing and we may install them. The Makefile calls it before it looks for
# compilers and libraries (make test: group test, make test-ports: ports,
# make bench and the other bench targets: bench), so on a fresh machine
# `make test` and `make bench` are the whole set-up.
#
#   bash scripts/deps.sh GROUP...              install what is missing, say what
#   bash scripts/deps.sh --check GROUP...      only list what is missing (exit 1 if any)
#   bash scripts/deps.sh --record DIR GROUP... also write DIR/GROUP.missing: what is
#                                              still missing afterwards (scripts/total.sh
#                                              lists it under the summary); removed when
#                                              nothing is
#   bash scripts/deps.sh --step STEP DIR GROUP one step of make test-ports: exit 0 if
#                                              GROUP is installed; otherwise record STEP
#                                              in DIR as scripts/record.sh would, as
#                                              failed under CI=true (exit 1; DIR/STEP.why
#                                              names the packages), else as skipped
#                                              (DIR/STEP.skip, exit 2)
#
# Groups: test, ports (= ports-x86 ports-aarch64 ports-armhf ports-s390x
# ports-win64 ports-cortex-m ports-rv32imac ports-instr-st), bench, make.
#
# Installing: as root, or through `sudo -n` (never a password prompt), with
# apt-get non-interactive, standard input from /dev/null, apt-get update first
# when a package has no candidate (a fresh image has no package lists) and again
# if the install fails; if the joint install still fails, each package is tried
# alone. apt's output goes to ${TMPDIR:-/tmp}/mialloc-deps.log. Waits up to 5 min
# for another apt/dpkg to release its lock.
# MIALLOC_NO_INSTALL=1 installs nothing (the missing packages are named). Not
# root and no sudo -n, or not Debian (no apt-get or dpkg-query): nothing is
# installed; the missing packages are named (without dpkg-query, the whole list
# is printed as unchecked).
# Run length: everything present ~0.1 s, one line; a fresh Debian 12: minutes
# (downloads; the ports group is ~1 GiB installed, wine the largest).
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive

declare -A group
group[make]="make"
group[test]="make gcc g++ clang-19 libclang-rt-19-dev universal-ctags
  sqlite3 git redis-server redis-tools python3 libpython3.11-testsuite libmimalloc-dev"
# make test-override (tests/override/run.sh) drives sqlite3, git, redis, python3
# and Python's own test suite, and compares with libmimalloc.so.2 (libmimalloc-dev).
group[ports-x86]="libc6-dev-i386 lib32gcc-12-dev qemu-user" # qemu-i386 where the kernel cannot run 32-bit binaries
group[ports-aarch64]="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
group[ports-armhf]="gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user"
group[ports-s390x]="gcc-s390x-linux-gnu libc6-dev-s390x-cross qemu-user"
group[ports-win64]="gcc-mingw-w64-x86-64 wine wine64"
group[ports-cortex-m]="gcc-arm-none-eabi"     # compile only, -ffreestanding: gcc's own <stdint.h>
group[ports-rv32imac]="gcc-riscv64-unknown-elf" # the same (no C library needed)
group[ports-instr-st]="valgrind"
group[ports]="make clang-19 ${group[ports-x86]} ${group[ports-aarch64]} ${group[ports-armhf]}
  ${group[ports-s390x]} ${group[ports-win64]} ${group[ports-cortex-m]} ${group[ports-rv32imac]}
  ${group[ports-instr-st]}"
group[bench]="make gcc clang-19 python3 libmimalloc-dev libjemalloc-dev libtcmalloc-minimal4 gnuplot-nox valgrind strace"

say() { echo "deps: $*"; }
usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

mode=install record_dir="" step="" step_dir=""
case "${1:-}" in
  --check) mode=check; shift ;;
  --record) [ $# -ge 2 ] || usage; record_dir=$2; shift 2 ;;
  --step) [ $# -eq 4 ] || usage; mode=step step=$2 step_dir=$3; shift 3 ;;
  -h|--help|"") usage ;;
esac
[ $# -ge 1 ] || usage

# The packages of the groups asked for, each once, in order.
packages=()
for g in "$@"; do
  if [ -z "${group[$g]+set}" ]; then
    echo "deps: unknown group '$g' (groups: ${!group[*]})" >&2
    exit 2
  fi
  for p in ${group[$g]}; do
    case " ${packages[*]} " in *" $p "*) ;; *) packages+=("$p") ;; esac
  done
done
what="$*"

have_dpkg=0
command -v dpkg-query >/dev/null 2>&1 && have_dpkg=1
plural() { [ "$1" -eq 1 ] && echo "1 package" || echo "$1 packages"; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
find_missing() {
  missing=()
  local p
  for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
}

if [ "$have_dpkg" = 0 ]; then
  case $mode in
    step) exit 0 ;; # cannot tell: let the build decide
    check) say "$what: not a Debian system (no dpkg-query): cannot check ${packages[*]}"; exit 0 ;;
  esac
  say "$what: not a Debian system (no dpkg-query): install by hand what provides ${packages[*]}"
  exit 0
fi
find_missing

if [ "$mode" = check ]; then
  if [ "${#missing[@]}" -eq 0 ]; then say "$what: all $(plural ${#packages[@]}) present"; exit 0; fi
  say "$what: not installed: ${missing[*]}"
  exit 1
fi

if [ "$mode" = step ]; then
  rm -f "$step_dir/$step.skip" "$step_dir/$step.why"
  [ "${#missing[@]}" -eq 0 ] && exit 0
  mkdir -p "$step_dir"
  rm -f "$step_dir/$step.rc" "$step_dir/$step.log" "$step_dir/$step.time"
  if [ "${CI:-}" = true ]; then
    echo "== $step: FAILED: Debian package(s) not installed: ${missing[*]} (bash scripts/deps.sh $what installs them)" |
      tee "$step_dir/$step.log"
    echo "Debian package(s) not installed: ${missing[*]}" >"$step_dir/$step.why"
    echo 1 >"$step_dir/$step.rc"
    echo 0.0 >"$step_dir/$step.time"
    exit 1
  fi
  echo "== $step: skipped: ${missing[*]} not installed (bash scripts/deps.sh $what installs them; under CI=true this fails)"
  echo "${missing[*]} not installed" >"$step_dir/$step.skip"
  exit 2
fi

# mode install
record() {
  [ -n "$record_dir" ] || return 0
  mkdir -p "$record_dir"
  local g
  for g in "$@"; do
    local still=() p
    for p in ${group[$g]}; do installed "$p" || still+=("$p"); done
    if [ "${#still[@]}" -gt 0 ]; then echo "${still[*]}" >"$record_dir/$g.missing"; else rm -f "$record_dir/$g.missing"; fi
  done
}

if [ "${#missing[@]}" -eq 0 ]; then
  say "$what: all $(plural ${#packages[@]}) present, nothing to install"
  record "$@"
  exit 0
fi

sudo=""
why_not=""
if [ "${MIALLOC_NO_INSTALL:-0}" = 1 ]; then
  why_not="MIALLOC_NO_INSTALL=1"
elif ! command -v apt-get >/dev/null 2>&1; then
  why_not="apt-get is absent"
elif [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"
  else why_not="not root, and sudo -n is not allowed"; fi
fi
if [ -n "$why_not" ]; then
  say "$what: not installing ($why_not); missing: ${missing[*]}"
  say "  the steps that need them are left out or fail; to install: sudo apt-get install ${missing[*]}"
  record "$@"
  exit 0
fi

log=${TMPDIR:-/tmp}/mialloc-deps.log
apt=($sudo apt-get -y -q -o DPkg::Lock::Timeout=300)
say "$what: installing ${missing[*]} (apt-get, non-interactive; log $log)"
start=$(date +%s)
: >"$log" 2>/dev/null || log=/dev/null
update() { "${apt[@]}" update </dev/null >>"$log" 2>&1 || say "apt-get update failed (see $log)"; }
# A fresh image has no package lists: update first when a package has no candidate.
for p in "${missing[@]}"; do
  if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]'; then update; break; fi
done
install() { "${apt[@]}" install --no-install-recommends "$@" </dev/null >>"$log" 2>&1; }
if ! install "${missing[@]}"; then
  update
  if ! install "${missing[@]}"; then
    for p in "${missing[@]}"; do install "$p" || say "  $p could not be installed (see $log)"; done
  fi
fi
was=("${missing[@]}")
find_missing
done_list=()
for p in "${was[@]}"; do installed "$p" && done_list+=("$p"); done
say "$what: installed ${done_list[*]:-nothing} in $(($(date +%s) - start)) s"
[ "${#missing[@]}" -gt 0 ] && say "$what: still missing: ${missing[*]} (the steps that need them are left out or fail)"
record "$@"
exit 0
