#!/usr/bin/env bash
# bench/peers.sh - kept for old instructions: `make bench` now installs what it
# compares and draws with itself (scripts/deps.sh, group bench: the peer
# allocators libmimalloc-dev, libjemalloc-dev, libtcmalloc-minimal4, gnuplot-nox,
# valgrind, python3, the compilers). This only runs that step alone.
exec bash "$(dirname "$0")/../scripts/deps.sh" bench
