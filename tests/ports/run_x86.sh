#!/usr/bin/env bash
# run_x86.sh PROBE PROGRAM [ARGS...]
#
# Runs an x86-32 PROGRAM natively when the kernel executes 32-bit x86 binaries,
# otherwise under qemu-i386 (Debian package qemu-user; the i386 loader
# /lib/ld-linux.so.2 comes with libc6-i386, which libc6-dev-i386 brings).
# PROBE is a tiny program built by the same compiler and flags
# (tests/ports/m32_probe.c): the kernel can run 32-bit binaries if PROBE runs
# and prints its line. PORTS_X86_QEMU=1 forces qemu-i386, so both paths can be
# tested on one machine. Prints the path taken as its first line:
#   ports-x86: native
#   ports-x86: under qemu-i386 (kernel cannot run 32-bit binaries)
#   ports-x86: under qemu-i386 (PORTS_X86_QEMU=1)
# and then replaces itself with the program (its exit code is the program's).
set -uo pipefail
probe=$1
shift

native=0
if [ "${PORTS_X86_QEMU:-0}" != 1 ]; then
  # A refused format is ENOEXEC; the shell (or execvp) may then read the
  # binary as a script ("Syntax error"): either way the line does not match.
  if out=$("$probe" 2>/dev/null </dev/null) && [ "$out" = "m32-probe: 32-bit pointers" ]; then
    native=1
  fi
fi

if [ "$native" = 1 ]; then
  how=native
  # binfmt_misc can hand i386 binaries to qemu behind the kernel's back: say so.
  if grep -qs '^enabled' /proc/sys/fs/binfmt_misc/qemu-i386; then
    how="native (through binfmt_misc's qemu-i386)"
  fi
  echo "ports-x86: $how"
  exec "$@"
fi

if [ "${PORTS_X86_QEMU:-0}" = 1 ]; then
  echo "ports-x86: under qemu-i386 (PORTS_X86_QEMU=1)"
else
  echo "ports-x86: under qemu-i386 (kernel cannot run 32-bit binaries)"
fi
if ! command -v qemu-i386 >/dev/null 2>&1; then
  echo "ports-x86: FAILED: qemu-i386 is not installed (Debian package qemu-user; scripts/deps.sh ports installs it)"
  exit 127
fi
if [ ! -e /lib/ld-linux.so.2 ]; then
  echo "ports-x86: FAILED: /lib/ld-linux.so.2 is absent (Debian package libc6-i386, brought by libc6-dev-i386)"
  exit 127
fi
exec qemu-i386 "$@"
