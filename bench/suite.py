#!/usr/bin/env python3
"""suite.py - run every workload x every allocator column, interleaved, and tabulate.

Run by `make bench` (quick) and `make bench-full`; the Makefile builds the
programs first (build/bench/micro-<build>, build/bench/classic-<build>) and
build/libmialloc.so (`make shared`, the LD_PRELOAD library).

  python3 bench/suite.py --bin build/bench \
      --allocs mialloc,mialloc-secure,mimalloc,glibc,jemalloc,tcmalloc \
      [--preload mialloc=build/libmialloc.so --preload mimalloc=/usr/lib/.../libmimalloc.so.2 ...] \
      [--preload mimalloc-3=../peers/mimalloc-3/libmimalloc.so ...] \
      [--mode quick|full] [--reps N] [--scale S] [--only REGEX] [--out bench/results/latest]

Columns (up to 14, in this order; a column whose build or library is not
given is left out):
  mialloc             the header build: mialloc.h included with
                      MIALLOC_IMPLEMENTATION, the workloads call mia_*
                      (-DBENCH_MIALLOC=1; its fast path inlines).
  mialloc (preload)   the glibc build (plain malloc/free) run with
                      LD_PRELOAD=build/libmialloc.so: mialloc as a drop-in
                      malloc, every call through the PLT (built with make
                      shared's flags: -O2 -fPIC -fno-semantic-interposition,
                      no -march=x86-64-v3).
  mialloc-secure      the header build with -DMIALLOC_SECURE=4 (guard pages,
                      encoded free lists, randomized extension, canaries and
                      double-free tags).
  mimalloc-3 (preload), mimalloc-2 (preload), snmalloc (preload),
  rpmalloc (preload)  the glibc build run with LD_PRELOAD of a peer built
                      from source outside this repository (mimalloc 3.x and
                      2.x, snmalloc's libsnmallocshim.so, rpmalloc); the
                      Makefile finds them under MIALLOC_PEER_DIR (default
                      ../peers) or through PEER_MIMALLOC3, PEER_MIMALLOC2,
                      PEER_SNMALLOC, PEER_RPMALLOC (see bench/benchinfo.py);
                      a VERSION file beside a library names its version.
  <peer>              mimalloc / jemalloc / tcmalloc: the same source, plain
                      malloc/free, the peer's shared library linked in ahead
                      of libc (-Wl,--no-as-needed) so it overrides malloc.
  <peer> (preload)    the glibc build run with LD_PRELOAD=<the peer's .so>.
  glibc               the same source with no library added.
Every program prints which library provides malloc (the path dladdr gives
for malloc) and its build name; a cell whose provider is not the column's
(PROVIDER below for the linked builds: mialloc.h, libmimalloc, libc.so, ...;
for a preload column the preloaded file itself) or whose build name is not
the column's stops the run, so a link or a preload that did not take effect
(ld.so ignores a preload it cannot open) is caught, not timed.

Method
  * Each cell (workload x column) runs as its own process; the repetitions
    are interleaved: for each repetition, for each workload, every column
    in turn, so drift in the machine hits all alike; each repetition starts
    a workload's round at the next column (A B C D, B C D A, C D A B ...), so
    no column is always the first to run a workload. (Measured, not cured by
    it: on this KVM guest malloc-large is bimodal for the allocators that put
    its blocks on transparent huge pages -- mialloc, mimalloc 3.4.3 -- 0.018 s
    or 0.15-0.41 s a run, whatever the column's place in the round, while the
    ones on 4 KiB pages are steady; see bench/results/latest-runs.tsv.)
  * Time: the wall time of the process (spawn to exit), median of the reps.
  * Peak RSS: the process's own VmHWM, which the program reads from
    /proc/self/status as it exits (on Linux the ru_maxrss that wait4 returns
    also counts the parent's high-water mark at exec time, which would add
    the ~10-20 MiB of this Python process to every cell); median of the reps.
  * Ratios are to mimalloc (linked; to glibc if mimalloc is not installed);
    geometric means per column over all workloads, and for RSS also over the
    workloads whose live set is >= 1 MiB (elsewhere RSS is start-up overhead).
    When mimalloc-3 (preload) is there, each geometric mean is given a second
    time relative to it (the geomean over the workloads of column / mimalloc-3),
    and "mialloc (preload) / mimalloc-3 (preload)" is among the paired ratios.
  * Paired ratios: for mialloc-secure / mialloc, mialloc (preload) / mialloc
    and each <peer> (preload) / <peer>, the geometric mean over the workloads
    of the per-workload ratio of the two medians (time and peak RSS); the
    first is printed as "mialloc-secure / mialloc: time geomean X, RSS
    geomean Y" (the cost of MIALLOC_SECURE=4 over the release build).
  * A cell whose program fails (a block check, a crash, a timeout) is shown as
    FAIL and left out of the means; the script then exits 1.
Outputs: <out>.md (the tables, also printed on stdout), <out>.tsv (one line
per cell), <out>-runs.tsv (every run), <out>.json (the machine, date, columns,
versions and geometric means, for bench/readme.py), <out>.png (gnuplot chart,
if gnuplot is installed; it draws the linked builds, mialloc (preload),
mialloc-secure and the preload-only peers; the preload columns of the
linked peers are in the tables only).

Run length: quick = 25 workloads x 14 columns x 3 reps = 1050 processes at
scale 0.3 (with the four peers built from source there; 750 without them).
Scale 0.3 keeps about the work of the 10-column suite at scale 0.4; cells
take 10-250 ms. Measured on the 2-core x86-64 server (2026-12-04), all of
make bench (builds up to date, churn table, examples table, suite): 155 s
(suite 111 s) at load average 7; at scale 0.4 it was 189 s (suite 147 s)
at load 4.5 and 237 s (suite 178 s) at load 9, over the 3 minutes. (The
10-column suite at scale 0.4: make bench 91-111 s at load average 3-5.)
Full = 60 workloads x 14 columns at scale 3, 5 reps: not timed with 14
columns; the 5-column full run took 40 min at load 10-26, so expect
~110 min.
"""
import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no bench/__pycache__ in the work tree
import benchinfo  # noqa: E402  bench/benchinfo.py (the script's own directory is on sys.path)

# The linked builds (--allocs): build/bench/{micro,classic}-<name>.
BUILDS = ["mialloc", "mialloc-secure", "mimalloc", "glibc", "jemalloc", "tcmalloc"]
# The libraries that can be preloaded into the glibc build (--preload NAME=LIB): mialloc
# (build/libmialloc.so), the Debian peers, and the peers built from source outside the
# repository (benchinfo.SOURCE_PEERS: the Makefile finds them under MIALLOC_PEER_DIR).
PRELOADS = ["mialloc", "mimalloc", "jemalloc", "tcmalloc"] + list(benchinfo.SOURCE_PEERS)
# Table order of the columns (a column not available is left out).
ALLOC_ORDER = ["mialloc", "mialloc (preload)", "mialloc-secure", "mimalloc-3 (preload)", "mimalloc-2 (preload)",
               "mimalloc", "mimalloc (preload)", "snmalloc (preload)", "rpmalloc (preload)", "glibc",
               "jemalloc", "jemalloc (preload)", "tcmalloc", "tcmalloc (preload)"]
# The second reference: when its column is there, every geometric mean is also given relative
# to it (the brief measures against mimalloc 3.x).
REF2 = "mimalloc-3 (preload)"
# What dladdr must report as the provider of malloc in each linked column (a substring
# of the library's file name): the linked peer really supplies malloc. The header
# builds report "mialloc.h"; mialloc-secure is told from mialloc by its build name
# (alloc=mialloc-secure in the result line). A preload column must report the very
# file it preloads (benchinfo.same_file), so Debian's libmimalloc.so.2 cannot stand
# in for mimalloc-2's.
PROVIDER = {"mialloc": "mialloc.h", "mialloc-secure": "mialloc.h", "glibc": "libc.so",
            "mimalloc": "libmimalloc", "jemalloc": "libjemalloc", "tcmalloc": "libtcmalloc"}
# Paired ratios printed under the tables: (column, baseline column).
PAIRS = [("mialloc-secure", "mialloc"), ("mialloc (preload)", "mialloc"), ("mimalloc (preload)", "mimalloc"),
         ("jemalloc (preload)", "jemalloc"), ("tcmalloc (preload)", "tcmalloc"),
         ("mialloc (preload)", "mimalloc-3 (preload)")]
# The columns the chart draws (fourteen bars per workload would be unreadable).
CHART_COLUMNS = ["mialloc", "mialloc (preload)", "mialloc-secure", "mimalloc-3 (preload)", "mimalloc-2 (preload)",
                 "mimalloc", "snmalloc (preload)", "rpmalloc (preload)", "glibc", "jemalloc", "tcmalloc"]
PRELOAD_SUFFIX = " (preload)"

MICRO = "micro"
CLASSIC = "classic"


def workloads(mode):
    """(row name, program, workload, threads) in table order."""
    rows = []
    if mode == "quick":
        churn = ["churn-16-1p", "churn-64-1p", "churn-256-1p", "churn-1024-1p", "churn-mix-2p", "churn-mix-4p"]
    else:
        churn = [f"churn-{s}-{k}p" for k in (1, 2, 4) for s in (16, 64, 256, 1024)] + ["churn-mix-2p", "churn-mix-4p"]
    for c in churn:
        rows.append((c, MICRO, c, 1))
    for w in ["pingpong", "batch-lifo", "interleaved", "multisize", "realloc", "random-mixed"]:
        rows.append((w, MICRO, w, 1))
    if mode == "quick":
        threads = {"larson": [2], "xmalloc": [2], "cache-scratch": [2], "cache-thrash": [2],
                   "alloc-test": [1, 2], "sh6bench": [2], "sh8bench": [2], "mstress": [2],
                   "malloc-large": [1], "rptest": [2], "glibc-simple": [1], "glibc-thread": [2],
                   "larson-sized": [2], "cfrac": [1], "espresso": [1], "barnes": [1]}
    else:
        mt = [1, 2, 8, 16]
        threads = {"larson": mt, "xmalloc": [2, 8, 16], "cache-scratch": mt, "cache-thrash": mt,
                   "alloc-test": mt, "sh6bench": mt, "sh8bench": [2, 8, 16], "mstress": mt,
                   "malloc-large": [1], "rptest": mt, "glibc-simple": [1], "glibc-thread": mt,
                   "larson-sized": mt, "cfrac": [1], "espresso": [1], "barnes": [1]}
    for w, ts in threads.items():
        for t in ts:
            name = w if w in ("malloc-large", "glibc-simple", "cfrac", "espresso", "barnes") else f"{w}-{t}"
            rows.append((name, CLASSIC, w, t))
    return rows


def column_spec(col, preloads):
    """(build, LD_PRELOAD or None) of a column: "<lib> (preload)" is the glibc build under the library."""
    if col.endswith(PRELOAD_SUFFIX):
        return "glibc", preloads[col[:-len(PRELOAD_SUFFIX)]]
    return col, None


def provider_ok(col, provider, preload):
    """Does the library that supplies malloc (dladdr's path, from the result line) belong to the column?"""
    if preload:
        return benchinfo.same_file(provider, preload)
    return PROVIDER[col] in os.path.basename(provider)


def child_env(preload):
    """The environment of a cell: ours without any LD_PRELOAD, plus the column's own."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    return env


def run_cell(binary, workload, threads, scale, timeout, env):
    """Run one cell; returns dict(time, rss_kib, live_kib, misaligned, provider, build, error)."""
    cmd = [binary, workload, str(threads), repr(scale)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, text=True,
                           env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout} s"}
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        msg = (p.stderr.strip().splitlines() or [""])[-1]
        how = f"exit {p.returncode}" if p.returncode > 0 else f"signal {-p.returncode}"
        return {"error": f"{how}: {msg}"}
    m = re.search(r"^result \S+ alloc=(\S+) malloc=(\S+) threads=\d+ ops=(\d+) live_kib=(\d+) rss_kib=(-?\d+) "
                  r"seconds=\S+ misaligned=(\d+)", p.stdout, re.M)
    if not m:
        return {"error": "no result line: " + p.stdout.strip()[:200]}
    return {"time": wall, "build": m.group(1), "provider": m.group(2), "live_kib": int(m.group(4)),
            "rss_kib": int(m.group(5)),
            "misaligned": int(m.group(6)), "error": None}


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


sh = benchinfo.sh  # bench/benchinfo.py


def stamp(cc, mode, reps, scale, info, preloads):
    compiler = sh(f"{cc} --version | head -n 1") if cc else ""
    versions = []
    for label, pkg in benchinfo.DEB_PACKAGES.items():
        v = sh(f"dpkg-query -W -f='${{Version}}' {pkg} 2>/dev/null")
        if v:
            versions.append(f"{label} {v}")
    for name in benchinfo.SOURCE_PEERS:
        if name in preloads:
            versions.append(f"{name}: {benchinfo.lib_version(preloads[name]) or '?'} (built from source)")
    head = sh("git rev-parse --short HEAD")
    dirty = " (with uncommitted changes)" if sh("git status --porcelain -- mialloc.h bench") else ""
    digest = sh("sha256sum mialloc.h | cut -c1-12")
    if digest:
        dirty += f", sha256 {digest}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    fields = [info["date"], f"{benchinfo.machine_line(info)}, load average {load:.1f} at start",
              compiler, ", ".join(versions),
              f"mialloc.h at {head or '?'}{dirty}", f"mode {mode}, scale {scale}, median of {reps} interleaved runs"]
    return "; ".join(f for f in fields if f)


def fmt_time(t):
    return f"{t:.3f}" if t < 10 else f"{t:.2f}"


def fmt_mib(kib):
    mib = kib / 1024
    return f"{mib:.1f}" if mib < 100 else f"{mib:.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/bench")
    ap.add_argument("--allocs", default=",".join(BUILDS),
                    help="comma-separated linked builds: " + ", ".join(BUILDS))
    ap.add_argument("--preload", action="append", default=[], metavar="NAME=LIB",
                    help="add the column 'NAME (preload)': the glibc build under LD_PRELOAD=LIB "
                         "(NAME one of " + ", ".join(PRELOADS) + "); repeatable")
    ap.add_argument("--mode", choices=["quick", "full"], default="quick")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--scale", type=float, default=None)
    ap.add_argument("--only", default=None, help="regex: run only matching workload rows")
    ap.add_argument("--out", default="bench/results/latest")
    ap.add_argument("--timeout", type=float, default=None, help="seconds before a cell is stopped")
    ap.add_argument("--cc", default=os.environ.get("CC", ""))
    args = ap.parse_args()
    reps = args.reps or (3 if args.mode == "quick" else 5)
    # quick: scale 0.3 keeps 25 workloads x 14 columns x 3 reps (1050 cells) at about the work of the
    # 10-column suite at scale 0.4, inside make bench's 3 minutes on 2 shared cores
    scale = args.scale or (0.3 if args.mode == "quick" else 3.0)
    timeout = args.timeout or max(30.0, 60 * scale)
    builds = [b for b in args.allocs.split(",") if b]
    for b in builds:
        if b not in BUILDS:
            sys.exit(f"suite.py: unknown build '{b}' in --allocs (known: {', '.join(BUILDS)})")
    preloads, shown = {}, {}  # name -> absolute path (what the cells get), path as given (for the tables)
    for spec in args.preload:
        name, sep, lib = spec.partition("=")
        if not sep or name not in PRELOADS or not lib:
            sys.exit(f"suite.py: --preload {spec}: want NAME=LIB with NAME one of {', '.join(PRELOADS)}")
        if not os.path.isfile(lib):
            sys.exit(f"suite.py: --preload {spec}: {lib} is missing")
        preloads[name] = os.path.abspath(lib)  # ld.so resolves a relative LD_PRELOAD against the cwd
        shown[name] = lib
    if preloads and "glibc" not in builds:
        builds.append("glibc")  # the preload columns run the glibc build
    allocs = [a for a in ALLOC_ORDER
              if a in builds or (a.endswith(PRELOAD_SUFFIX) and a[:-len(PRELOAD_SUFFIX)] in preloads)]
    colspec = {a: column_spec(a, preloads) for a in allocs}  # column -> (build, LD_PRELOAD or None)
    envs = {a: child_env(colspec[a][1]) for a in allocs}
    rows = workloads(args.mode)
    if args.only:
        rows = [r for r in rows if re.search(args.only, r[0])]
    for b in builds:
        for prog in (MICRO, CLASSIC):
            if not os.access(os.path.join(args.bin, f"{prog}-{b}"), os.X_OK):
                sys.exit(f"suite.py: {args.bin}/{prog}-{b} is missing (make bench builds it)")
    ref = "mimalloc" if "mimalloc" in allocs else "glibc" if "glibc" in allocs else allocs[0]
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)

    info = benchinfo.machine()  # before the run: the date is when it started
    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None

    # ---- run, interleaved ----
    runs = {}  # (row, alloc) -> list of results
    ncells = len(rows) * len(allocs)
    t_start = time.perf_counter()
    for rep in range(reps):
        print(f"bench: repetition {rep + 1}/{reps}: {len(rows)} workloads x {len(allocs)} columns",
              file=sys.stderr, flush=True)
        for name, prog, wl, threads in rows:
            for a in allocs[rep % len(allocs):] + allocs[:rep % len(allocs)]:
                build, preload = colspec[a]
                r = run_cell(os.path.join(args.bin, f"{prog}-{build}"), wl, threads, scale, timeout, envs[a])
                how = f"{prog}-{build}" + (f" under LD_PRELOAD={preload}" if preload else "")
                if r["error"] is None and not provider_ok(a, r["provider"], preload):
                    sys.exit(f"suite.py: {how} runs with malloc from {r['provider']}, not "
                             f"{preload or PROVIDER[a]}: "
                             + ("the preload did not take effect" if preload else
                                "the peer does not override malloc; the build is wrong"))
                if r["error"] is None and r["build"] != build:
                    sys.exit(f"suite.py: {how} reports the build '{r['build']}', not '{build}': "
                             "the binary is stale or built with the wrong flags (make bench-build)")
                if r["error"] is not None:
                    print(f"bench: {name} {a}: FAILED ({r['error']})", file=sys.stderr, flush=True)
                runs.setdefault((name, a), []).append(r)
    elapsed = time.perf_counter() - t_start

    # ---- medians and ratios ----
    cell = {}
    for name, _, _, threads in rows:
        for a in allocs:
            rs = runs[(name, a)]
            ok = [r for r in rs if r["error"] is None]
            if len(ok) < len(rs) or not ok:
                cell[(name, a)] = {"error": next(r["error"] for r in rs if r["error"] is not None)}
                continue
            cell[(name, a)] = {"error": None, "time": statistics.median(r["time"] for r in ok),
                               "tmin": min(r["time"] for r in ok), "tmax": max(r["time"] for r in ok),
                               "rss": statistics.median(r["rss_kib"] for r in ok),
                               "live": ok[0]["live_kib"], "misaligned": max(r["misaligned"] for r in ok)}
    for name, _, _, _ in rows:
        base = cell.get((name, ref))
        for a in allocs:
            c = cell[(name, a)]
            if c["error"] is None and base and base["error"] is None:
                c["tratio"] = c["time"] / base["time"]
                c["rratio"] = c["rss"] / base["rss"]
            else:
                c["tratio"] = c["rratio"] = None
    live = {name: next((cell[(name, a)]["live"] for a in allocs if cell[(name, a)]["error"] is None), 0)
            for name, _, _, _ in rows}
    gm_t = {a: geomean([cell[(n, a)]["tratio"] for n, _, _, _ in rows]) for a in allocs}
    gm_r = {a: geomean([cell[(n, a)]["rratio"] for n, _, _, _ in rows]) for a in allocs}
    gm_rl = {a: geomean([cell[(n, a)]["rratio"] for n, _, _, _ in rows if live[n] >= 1024]) for a in allocs}

    def paired(a, b, key, names):
        """Geomean over the workloads (both cells OK) of column a's median / column b's."""
        ok = [n for n in names if cell[(n, a)]["error"] is None and cell[(n, b)]["error"] is None]
        return geomean([cell[(n, a)][key] / cell[(n, b)][key] for n in ok])

    # the same geometric means relative to mimalloc 3.x (REF2), when that column is there
    ref2 = REF2 if REF2 in allocs and REF2 != ref else None
    all_names = [n for n, _, _, _ in rows]
    big_names = [n for n in all_names if live[n] >= 1024]
    gm2_t = {a: paired(a, ref2, "time", all_names) for a in allocs} if ref2 else {}
    gm2_r = {a: paired(a, ref2, "rss", all_names) for a in allocs} if ref2 else {}
    gm2_rl = {a: paired(a, ref2, "rss", big_names) for a in allocs} if ref2 else {}

    # paired ratios: geomean over the workloads of column / baseline (both cells OK)
    pairs = []
    for a, b in PAIRS:
        if a in allocs and b in allocs:
            pairs.append((a, b, paired(a, b, "time", all_names), paired(a, b, "rss", all_names)))

    # ---- markdown ----
    st = stamp(args.cc, args.mode, reps, scale, info, preloads)
    out = []
    out.append(f"Run: {st}. Total {elapsed:.0f} s.")
    out.append("")
    what = {"mialloc": "mialloc.h compiled in (mia_* calls)",
            "mialloc (preload)": f"the glibc build under LD_PRELOAD={shown.get('mialloc')} (`make shared`, "
                                 "-O2 -fPIC -fno-semantic-interposition without -march)",
            "mialloc-secure": "mialloc.h compiled in with -DMIALLOC_SECURE=4",
            "glibc": "the same source, glibc's malloc"}
    for p in PRELOADS[1:]:
        what[p] = f"lib{p} linked in ahead of libc"
        what[p + PRELOAD_SUFFIX] = f"the glibc build under LD_PRELOAD={shown.get(p)}"
        if p in benchinfo.SOURCE_PEERS:
            what[p + PRELOAD_SUFFIX] += f" ({benchinfo.lib_version(preloads.get(p)) or 'version unknown'}, " \
                                        "built from source outside the repository)"
    out.append("**Columns**: " + "; ".join(f"*{a}*: {what[a]}" for a in allocs) + ".")
    missing_src = [p for p in benchinfo.SOURCE_PEERS if p not in preloads]
    if missing_src:
        out.append("")
        out.append("Not measured (library not given): " + ", ".join(missing_src) + "; see README, Benchmarks, "
                   "for MIALLOC_PEER_DIR and PEER_MIMALLOC3, PEER_MIMALLOC2, PEER_RPMALLOC, PEER_SNMALLOC.")
    out.append("")
    out.append(f"**Time**: median wall seconds of the process; in parentheses the ratio to {ref} "
               f"(< 1 = faster than {ref})"
               + (f"; the last line is the geometric mean of the ratios to {ref2} instead." if ref2 else "."))
    out.append("")
    hdr = "| workload | live MiB | " + " | ".join(allocs) + " |"
    sep = "|---|---:|" + "---:|" * len(allocs)

    def cells_line(name, key, ratio):
        parts = []
        for a in allocs:
            c = cell[(name, a)]
            if c["error"] is not None:
                parts.append("FAIL")
                continue
            v = fmt_time(c["time"]) if key == "time" else fmt_mib(c["rss"])
            mark = "\u2020" if c["misaligned"] else ""
            parts.append(f"{v} ({c[ratio]:.2f}){mark}" if c[ratio] is not None else v + mark)
        return f"| {name} | {live[name] / 1024:.1f} | " + " | ".join(parts) + " |"

    def gm_line(label, gm):
        return f"| **{label}** | | " + " | ".join(f"**{gm[a]:.2f}**" if gm[a] else "-" for a in allocs) + " |"

    out += [hdr, sep]
    out += [cells_line(n, "time", "tratio") for n, _, _, _ in rows]
    out.append(gm_line("geomean (ratio)", gm_t))
    if ref2:
        out.append(gm_line(f"geomean vs {ref2}", gm2_t))
    out.append("")
    out.append(f"**Peak RSS**: median MiB (VmHWM of the process); in parentheses the ratio to {ref}"
               + (f" (the last two lines: to {ref2})" if ref2 else "") + ". "
               "\"live MiB\" is what the workload holds at its peak by construction; where it is small, "
               "RSS is mostly the allocator's start-up footprint.")
    out.append("")
    out += [hdr, sep]
    out += [cells_line(n, "rss", "rratio") for n, _, _, _ in rows]
    out.append(gm_line("geomean (ratio)", gm_r))
    out.append(gm_line("geomean, live >= 1 MiB", gm_rl))
    if ref2:
        out.append(gm_line(f"geomean vs {ref2}", gm2_r))
        out.append(gm_line(f"geomean vs {ref2}, live >= 1 MiB", gm2_rl))
    if pairs:
        out.append("")
        out.append("**Paired ratios**: geometric mean over the workloads of the first column's median divided "
                   "by the second's (< 1 = the first is faster / smaller):")
        for a, b, t, r in pairs:
            out.append("")
            out.append(f"{a} / {b}: time geomean {t:.2f}, RSS geomean {r:.2f}"
                       if t and r else f"{a} / {b}: no workload where both ran")
    mis = {}
    for n, _, _, _ in rows:
        for a in allocs:
            c = cell[(n, a)]
            if c["error"] is None and c["misaligned"]:
                mis.setdefault(a, []).append(f"{n} (size {c['misaligned']})")
    fails = [(n, a, cell[(n, a)]["error"]) for n, _, _, _ in rows for a in allocs if cell[(n, a)]["error"]]
    if mis:
        out.append("")
        for a, lst in mis.items():
            out.append(f"\u2020 {a} returned blocks aligned to less than 16 bytes for requests of 16 bytes or "
                       f"more (first size seen): {', '.join(lst)}.")
    if fails:
        out.append("")
        for n, a, e in fails:
            out.append(f"FAIL {n} / {a}: {e}")
    md = "\n".join(out) + "\n"
    print(md)
    with open(args.out + ".md", "w") as f:
        f.write(md)

    # ---- TSV: one line per cell; every run ----
    with open(args.out + ".tsv", "w") as f:
        # with mimalloc 3.x there, two more ratio columns (to it) before misaligned_size
        f.write("workload\tthreads\tallocator\tlive_kib\ttime_median_s\ttime_min_s\ttime_max_s\trss_median_kib\t"
                f"time_ratio_{ref}\trss_ratio_{ref}\t"
                + (f"time_ratio_{ref2}\trss_ratio_{ref2}\t" if ref2 else "") + "misaligned_size\tstatus\n")
        for n, _, _, t in rows:
            b2 = cell[(n, ref2)] if ref2 else None
            for a in allocs:
                c = cell[(n, a)]
                if c["error"] is not None:
                    f.write(f"{n}\t{t}\t{a}\t\t\t\t\t\t\t\t" + ("\t\t" if ref2 else "")
                            + f"\tFAIL: {c['error']}\n")
                    continue
                r2 = ""
                if ref2:
                    ok2 = b2["error"] is None
                    r2 = (f"{c['time'] / b2['time'] if ok2 else 0:.4f}\t"
                          f"{c['rss'] / b2['rss'] if ok2 else 0:.4f}\t")
                f.write(f"{n}\t{t}\t{a}\t{c['live']}\t{c['time']:.4f}\t{c['tmin']:.4f}\t{c['tmax']:.4f}\t"
                        f"{c['rss']:.0f}\t{c['tratio'] or 0:.4f}\t{c['rratio'] or 0:.4f}\t{r2}"
                        f"{c['misaligned']}\tok\n")
    with open(args.out + "-runs.tsv", "w") as f:
        f.write("workload\tallocator\trep\ttime_s\trss_kib\tstatus\n")
        for n, _, _, _ in rows:
            for a in allocs:
                for i, r in enumerate(runs[(n, a)]):
                    if r["error"] is None:
                        f.write(f"{n}\t{a}\t{i + 1}\t{r['time']:.4f}\t{r['rss_kib']}\tok\n")
                    else:
                        f.write(f"{n}\t{a}\t{i + 1}\t\t\tFAIL: {r['error']}\n")

    # ---- JSON: the machine and the summary, for bench/readme.py ----
    summary = {"machine": info, "machine_line": benchinfo.machine_line(info), "load_at_start": load0,
               "elapsed_s": round(elapsed, 1), "mode": args.mode, "scale": scale, "reps": reps,
               "columns": allocs, "ref": ref, "ref2": ref2,
               "versions": {p: benchinfo.lib_version(preloads[p]) for p in benchinfo.SOURCE_PEERS if p in preloads},
               "geomean_time": gm_t, "geomean_rss": gm_r, "geomean_time_ref2": gm2_t, "geomean_rss_ref2": gm2_r,
               "failed_cells": len(fails)}
    with open(args.out + ".json", "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")

    # ---- chart ----
    chart(args.out, rows, allocs, cell, ref, gm_t, gm_r, st)
    if fails:
        print(f"bench: {len(fails)} cell(s) FAILED (see above)", file=sys.stderr)
    # a peer that fails a workload is the peer's failure: reported, the run goes on
    if any(a.startswith("mialloc") for _, a, _ in fails):
        return 1
    return 0


def chart(out, rows, allocs, cell, ref, gm_t, gm_r, st):
    """Draw <out>.png: time and peak RSS ratios to ref, one cluster of bars per workload.
    Only CHART_COLUMNS are drawn (the linked builds, mialloc (preload), mialloc-secure and the peers
    that have only a preload column): the preload columns of the linked peers track their linked
    columns closely and are left to the tables."""
    gp = shutil.which("gnuplot")
    if gp is None:
        print("bench: gnuplot is absent (apt-get install gnuplot-nox): no chart", file=sys.stderr)
        return
    left_out = [a for a in allocs if a not in CHART_COLUMNS]
    allocs = [a for a in allocs if a in CHART_COLUMNS]
    dat = out + "-chart.dat"
    with open(dat, "w") as f:
        f.write("# workload " + " ".join(f"t_{a} r_{a}" for a in allocs) + "\n")
        for n, _, _, _ in rows + [("geomean", None, None, None)]:
            vals = []
            for a in allocs:
                if n == "geomean":
                    vals += [gm_t[a], gm_r[a]]
                else:
                    c = cell[(n, a)]
                    vals += [c.get("tratio"), c.get("rratio")]
            f.write(n + " " + " ".join(f"{v:.4f}" if v else "NaN" for v in vals) + "\n")
    colors = {"mialloc": "#d62728", "mialloc (preload)": "#ff9896", "mialloc-secure": "#7b1010",
              "mimalloc-3 (preload)": "#08306b", "mimalloc-2 (preload)": "#6baed6", "mimalloc": "#1f77b4",
              "snmalloc (preload)": "#9467bd", "rpmalloc (preload)": "#8c564b",
              "glibc": "#7f7f7f", "jemalloc": "#2ca02c", "tcmalloc": "#ff7f0e"}
    # ~10 pixels per bar, and room for the key on one line
    width = max(1200, 10 * (len(allocs) + 1) * (len(rows) + 1) + 200, 190 * len(allocs) + 200)

    def panel(col_off, title, ylabel):
        plots = []
        for i, a in enumerate(allocs):
            col = 2 + 2 * i + col_off
            xt = ":xtic(1)" if i == 0 else ""
            plots.append(f"'{dat}' using (${col}){xt} title '{a}' lc rgb '{colors.get(a, '#000000')}'")
        return (f"set title '{title}'\nset ylabel '{ylabel}'\n"
                f"plot " + ", \\\n     ".join(plots) + ", 1 with lines lc rgb '#000000' dt 2 notitle\n")

    # the stamp, wrapped at its semicolons into lines of <= 160 characters
    title, line = [], ""
    for part in st.replace('"', "'").split("; "):
        if line and len(line) + len(part) > 160:
            title.append(line)
            line = ""
        line = f"{line}; {part}" if line else part
    title.append(line)
    if left_out:
        title.append("not drawn (see the tables): " + ", ".join(left_out))
    title_gp = "\\n".join(title)  # gnuplot reads \n in a double-quoted string as a line break
    script = f"""set terminal pngcairo size {width},1150 font 'DejaVu Sans,10' noenhanced
set output '{out}.png'
set multiplot layout 2,1 title "{title_gp}" font ',9'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set logscale y 2
set grid ytics
set key tmargin center horizontal maxrows 1
set tmargin 4
set xtics rotate by -40 font ',9' nomirror
set datafile missing 'NaN'
set lmargin 10
set bmargin 6
{panel(0, f"Time relative to {ref} (lower is better; log scale)", f"time / {ref}")}
{panel(1, f"Peak RSS relative to {ref} (lower is better; log scale)", f"peak RSS / {ref}")}
unset multiplot
"""
    with open(out + "-chart.gp", "w") as f:
        f.write(script)
    r = subprocess.run([gp, out + "-chart.gp"], stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        print("bench: gnuplot failed: " + r.stderr.strip()[-500:], file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
