#!/usr/bin/env python3
"""memret.py - the memory-return workloads x every allocator, one table per workload.

Run by `make bench` (quick) and `make bench-full` (full), through
`make bench-memret` (bench/memret.mk), which builds the programs first:
build/bench/{frame_loop,large_reuse,thread_churn}-{mialloc,glibc} and
build/libmialloc.so.

  python3 bench/memret.py --bin build/bench [--preload NAME=LIB ...] \
      [--mode quick|full] [--reps N] [--only REGEX] [--no-strace] [--out bench/results/memret]

Columns (rows of the tables), in this order; one whose program or library is
missing is left out:
  mialloc             the header build (-DBENCH_MIALLOC=1: mialloc.h compiled
                      in, mia_* calls)
  NAME (preload)      the glibc build under LD_PRELOAD=LIB, for every
                      --preload NAME=LIB in the order given (make passes
                      mialloc=build/libmialloc.so first, then each peer library
                      it found: the same list as bench/suite.py's preload
                      columns)
  glibc               the glibc build as it is
Every program prints which library provides malloc (dladdr); a run whose
provider is not the column's (mialloc.h, libc.so, or the preloaded file's
name) stops the script, so a preload that did not take effect is caught.

Workloads (each program's head comment has the details):
  frame    bench/frame_loop.c: ~3000 blocks a frame (85% <= 512 B, 14% <= 64 KiB,
           1% 256 KiB..2 MiB), lifetimes 0..100 frames, every byte written;
           heavy frames back to back, then the working set freed and 3 s of
           light frames at 60 per second of wall time.
           Figures: minor faults per frame over the measured window (after
           the warm-up), memory system calls per 300 frames in the window,
           CPU ms per frame, peak RSS (max of /proc/self/statm samples),
           RSS right after the unload, after 1 s and 3 s of light frames, and
           the 3 s figure as % of the peak.
  large    bench/large_reuse.c: 20 live blocks of 5..25 MiB replaced at
           random, one byte per page written. Figures per replacement:
           faults, memory system calls; CPU and wall seconds of the
           replacements; peak RSS (VmHWM).
  threads  bench/thread_churn.c: 150 rounds of 2 short-lived threads, each
           freeing half the blocks the previous round left and passing its
           own on. Figures: faults, memory system calls, CPU and wall
           seconds of the rounds; peak RSS; RSS once everything is freed.

Method
  * System calls: counted in a run under `strace -f --seccomp-bpf -qq -e
    trace=%memory,getppid` (with --seccomp-bpf only the traced calls stop the
    process). The programs bracket the measured window with two getppid
    calls (memret.h's marker, which nothing else makes); the memory calls
    (mmap, munmap, madvise, mprotect, mremap, brk, ...) between them are
    counted, per name. The other figures come from a plain run of the same
    cell: strace costs each traced call a round trip to the tracer, which
    raised mialloc's and jemalloc's CPU time on the thread churn (thousands
    of madvise calls) 1.5-1.9x. Except in quick mode's frame loop and large-block
    reuse, where one traced run gives every figure: there the allocators
    make at most ~15 memory calls a frame and ~2 a replacement, and
    mialloc's faults and CPU time on the frame loop were the same with and
    without strace, within run-to-run noise. Without strace installed
    (Debian: apt-get install strace), or with --no-strace, the call columns
    show "-".
  * Faults and system calls of allocators that purge on a timer (mialloc,
    mimalloc: 10 ms by default) depend on how long a frame takes, hence on
    the machine's load: mialloc's faults per frame ranged 1,300-2,200 over
    quick runs at load average 9-12 (one run per cell).
  * One process per cell. The frame program prints a line when its light
    phase (mostly sleeping) begins: the next cell starts then, so the 3 s of
    wall time overlap the next cell's work; at most one cell is in its busy
    part at any time. The other programs run one at a time.
  * quick: 1 run per cell, frame warm=100 window=150 (the window starts once
    every lifetime of the first frames has run out), large n=100, threads
    rounds=150 steps=5000.
    full: median of 3 runs, frame warm=300 window=600, large n=1000, threads
    rounds=600 steps=10000.
Run length: quick, 2 cores at load average ~9 (other jobs running): 6
columns ~55 s, 10 columns ~70 s. Full: ~10 min.
  * A failed run (a block check, a crash, a timeout) is shown as FAIL; the
    script then exits 1 if it was a mialloc column (a peer's failure is the
    peer's: reported, and the run goes on).
Outputs: <out>.md (the tables, also printed on stdout) and <out>.tsv (one
line per cell and figure).
"""
import argparse
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchinfo  # noqa: E402  bench/benchinfo.py
import threading
import time

LIGHT_LINE = "memret: light phase"
MIB = 1024.0

# name -> (program, quick args, full args)
WORKLOADS = {
    "frame": ("frame_loop", ["warm=100", "window=150", "light=3"], ["warm=300", "window=600", "light=3"]),
    "large": ("large_reuse", ["n=100"], ["n=1000"]),
    "threads": ("thread_churn", ["rounds=150", "steps=5000"], ["rounds=600", "steps=10000"]),
}
# Workloads whose quick-mode figures come from the traced run itself (one run per cell, not two):
# they make few memory calls (frame: <= ~15 a frame, large: <= ~2 a replacement), so strace's
# round trip per call does not move their figures beyond run-to-run noise. The thread churn
# makes thousands (mialloc, jemalloc): strace raised their CPU time 1.5-1.9x, so it runs twice.
TRACED_FIGURES_QUICK = {"frame", "large"}
# The memory calls shown by name (the rest are summed as "other").
NAMED_CALLS = ["mmap", "munmap", "madvise", "mprotect"]


def parse_result(text):
    """The `memret <workload> k=v ...` line: dict of its fields (numbers as float where they parse)."""
    for line in text.splitlines():
        if line.startswith("memret ") and "=" in line:
            parts = line.split()
            d = {"workload": parts[1]}
            for p in parts[2:]:
                k, _, v = p.partition("=")
                try:
                    d[k] = float(v)
                except ValueError:
                    d[k] = v
            return d
    return None


def parse_strace(path):
    """Memory calls between the markers (getppid): a list of windows, each a dict name -> count."""
    windows, cur = [], None
    entry = re.compile(r"^(?:\[pid\s+)?\d+\]?\s+([a-z_0-9]+)\(")
    with open(path, errors="replace") as f:
        for line in f:
            m = entry.match(line)
            if not m:
                continue  # "<... resumed>", signals, exits
            name = m.group(1)
            if name == "getppid":
                if cur is None:
                    cur = {}
                else:
                    windows.append(cur)
                    cur = None
            elif cur is not None:
                cur[name] = cur.get(name, 0) + 1
    return windows


class Run:
    """One process of one cell, read line by line so that the light-phase line is seen when it comes."""

    def __init__(self, cmd, env, trace_file, timeout):
        self.trace_file = trace_file
        self.lines = []
        self.idle = threading.Event()  # set at the light-phase line or at exit
        self.err = tempfile.TemporaryFile(mode="w+")
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err, text=True, env=env)
        self.deadline = self.t0 + timeout
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)
            if line.startswith(LIGHT_LINE):
                self.idle.set()
        self.p.wait()
        self.idle.set()

    def done(self):
        if self.p.poll() is None and time.perf_counter() > self.deadline:
            self.p.kill()
        return self.p.poll() is not None and not self.reader.is_alive()

    def result(self):
        """dict of the result line plus 'os' (list of windows) or 'error'."""
        rc = self.p.returncode
        self.err.seek(0)
        err = self.err.read().strip().splitlines()
        self.err.close()
        if rc != 0:
            how = f"exit {rc}" if rc > 0 else f"signal {-rc}"
            if time.perf_counter() > self.deadline:
                how = "timeout"
            return {"error": f"{how}: {err[-1] if err else ''}"}
        r = parse_result("".join(self.lines))
        if r is None:
            return {"error": "no result line: " + "".join(self.lines).strip()[:200]}
        if self.trace_file:
            r["os"] = parse_strace(self.trace_file)
            os.unlink(self.trace_file)
        return r


def provider_is(reported, want, is_file):
    """Whether the provider a program reported (dladdr of malloc: a file name, or its full path, or
    "mialloc.h") is the one wanted: the preloaded file itself (two libraries of one name, Debian's
    libmimalloc.so.2 and a mimalloc 2.x built from source, are told apart when the path is reported),
    "mialloc.h", or glibc's libc.so.*."""
    if not is_file:
        return reported == want if want == "mialloc.h" else want in os.path.basename(reported)
    if "/" in reported:
        return os.path.realpath(reported) == os.path.realpath(want)
    return reported in (os.path.basename(want), os.path.basename(os.path.realpath(want)))


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


sh = benchinfo.sh  # bench/benchinfo.py


def stamp(mode, reps, traced):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = []
    for pkg, label in [("libc6", "glibc"), ("libmimalloc2.0", "mimalloc"), ("libjemalloc2", "jemalloc"),
                       ("libtcmalloc-minimal4", "tcmalloc"), ("strace", "strace")]:
        v = sh(f"dpkg-query -W -f='${{Version}}' {pkg} 2>/dev/null")
        if v:
            versions.append(f"{label} {v}")
    head = sh("git rev-parse --short HEAD")
    dirty = " (with uncommitted changes)" if sh("git status --porcelain -- mialloc.h bench") else ""
    digest = sh("sha256sum mialloc.h | cut -c1-12")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    fields = [date, f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, load average {load:.1f} at start",
              ", ".join(versions), f"mialloc.h at {head or '?'}{dirty}" + (f", sha256 {digest}" if digest else ""),
              f"mode {mode}, " + (f"median of {reps} runs" if reps > 1 else "1 run") + " per cell",
              "system calls counted under strace --seccomp-bpf" if traced else "system calls not counted"]
    return "; ".join(f for f in fields if f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/bench")
    ap.add_argument("--preload", action="append", default=[], metavar="NAME=LIB",
                    help="add the column 'NAME (preload)': the glibc build under LD_PRELOAD=LIB; repeatable")
    ap.add_argument("--mode", choices=["quick", "full"], default="quick")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--only", default=None, help="regex over workload names (frame, large, threads)")
    ap.add_argument("--no-strace", action="store_true", help="plain runs, no system call counts")
    ap.add_argument("--out", default="bench/results/memret")
    ap.add_argument("--timeout", type=float, default=None, help="seconds before a run is stopped")
    args = ap.parse_args()
    reps = args.reps or (1 if args.mode == "quick" else 3)
    timeout = args.timeout or (120.0 if args.mode == "quick" else 600.0)
    strace = None if args.no_strace else shutil.which("strace")
    if strace is None and not args.no_strace:
        print("memret: strace is absent (apt-get install strace): no system call counts", file=sys.stderr)

    # columns: name -> (build, preload path or None, expected provider names)
    cols = {"mialloc": ("mialloc", None, "mialloc.h")}
    for spec in args.preload:
        name, sep, lib = spec.partition("=")
        if not sep or not name or not lib:
            sys.exit(f"memret.py: --preload {spec}: want NAME=LIB")
        if not os.path.isfile(lib):
            sys.exit(f"memret.py: --preload {spec}: {lib} is missing")
        path = os.path.abspath(lib)
        cols[f"{name} (preload)"] = ("glibc", path, path)
    cols["glibc"] = ("glibc", None, "libc.so")
    workloads = [w for w in WORKLOADS if not args.only or re.search(args.only, w)]
    for w in workloads:
        for build in ("mialloc", "glibc"):
            b = os.path.join(args.bin, f"{WORKLOADS[w][0]}-{build}")
            if not os.access(b, os.X_OK):
                sys.exit(f"memret.py: {b} is missing (make bench-memret builds it)")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)

    # ---- run: reps x workloads x columns; the next run starts once no run is busy ----
    # kind: "all" (a traced run gives every figure), "figures" (a plain run), "calls" (a traced run, counts only)
    jobs = []
    for rep in range(reps):
        for w in workloads:
            for c in cols:
                if not strace:
                    jobs.append((rep, w, c, "figures"))
                elif w in TRACED_FIGURES_QUICK and args.mode == "quick":
                    jobs.append((rep, w, c, "all"))
                else:
                    jobs += [(rep, w, c, "figures"), (rep, w, c, "calls")]
    results = {}  # (workload, column) -> list of result dicts (figures)
    calls = {}  # (workload, column) -> list of lists of windows (dict name -> count)
    running = []  # (job, Run)
    t_start = time.perf_counter()
    print(f"memret: {len(jobs)} runs ({len(workloads)} workloads x {len(cols)} columns x {reps}"
          + (", plain and under strace" if strace else "") + ")", file=sys.stderr, flush=True)
    while jobs or running:
        for item in list(running):
            (rep, w, c, kind), run = item
            if run.done():
                running.remove(item)
                r = run.result()
                build, preload, provider = cols[c]
                if r.get("error") is None:
                    if not provider_is(str(r.get("malloc")), provider, preload is not None):
                        sys.exit(f"memret.py: {w} / {c}: malloc comes from {r.get('malloc')}, not {provider}: " +
                                 ("the preload did not take effect" if preload else "the build is wrong"))
                    if r.get("alloc") != build:
                        sys.exit(f"memret.py: {w} / {c}: the program reports the build '{r.get('alloc')}', "
                                 f"not '{build}' (stale binary? make bench-memret)")
                else:
                    print(f"memret: {w} {c}: FAILED ({r['error']})", file=sys.stderr, flush=True)
                if kind != "calls" or r.get("error"):
                    results.setdefault((w, c), []).append(r)
                if kind != "figures" and not r.get("error"):
                    calls.setdefault((w, c), []).append(r["os"])
        busy = any(not run.idle.is_set() for _, run in running)
        if jobs and not busy:
            rep, w, c, kind = jobs.pop(0)
            build, preload, _ = cols[c]
            prog, quick, full = WORKLOADS[w]
            cmd = [os.path.join(args.bin, f"{prog}-{build}")] + (quick if args.mode == "quick" else full)
            trace_file = None
            if kind != "figures":
                fd, trace_file = tempfile.mkstemp(prefix=f"memret-{w}-", suffix=".strace")
                os.close(fd)
                cmd = [strace, "-f", "--seccomp-bpf", "-qq", "-e", "trace=%memory,getppid", "-e", "signal=none",
                       "-o", trace_file, "--"] + cmd
            env = dict(os.environ)
            env.pop("LD_PRELOAD", None)
            if preload:
                env["LD_PRELOAD"] = preload
            print(f"memret: run {rep + 1}/{reps} {w} {c}" + {"all": " (under strace)", "figures": "",
                                                              "calls": " (under strace: calls)"}[kind],
                  file=sys.stderr, flush=True)
            running.append(((rep, w, c, kind), Run(cmd, env, trace_file, timeout)))
            continue
        time.sleep(0.01)
    elapsed = time.perf_counter() - t_start

    # ---- medians ----
    def fig(w, c, key):
        rs = results.get((w, c), [])
        if not rs or any(r.get("error") for r in rs):
            return None
        return median([r.get(key) if isinstance(r.get(key), float) else None for r in rs])

    def oscalls(w, c, window, scale=1.0):
        """(total, {name: count}) in window `window`, median over the runs, times scale; None if not counted."""
        rs = calls.get((w, c), [])
        if not rs or any(len(r) <= window for r in rs):
            return None
        names = set(NAMED_CALLS)
        for r in rs:
            names |= set(r[window])
        per = {n: median([r[window].get(n, 0) for r in rs]) * scale for n in names}
        per["other"] = median([sum(v for n, v in r[window].items() if n not in NAMED_CALLS) for r in rs]) * scale
        return median([sum(r[window].values()) for r in rs]) * scale, per

    def failed(w, c):
        rs = results.get((w, c), [])
        return next((r["error"] for r in rs if r.get("error")), None)

    def num(x, digits=0):
        if x is None:
            return "-"
        return f"{x:,.{digits}f}"

    def mib(kib):
        return "-" if kib is None else f"{kib / MIB:.1f}" if kib / MIB < 100 else f"{kib / MIB:.0f}"

    def calls_cell(oc, digits=0):
        if oc is None:
            return "-", "-"
        total, per = oc
        return num(total, digits), " / ".join(num(per[n], digits) for n in NAMED_CALLS + ["other"])

    st = stamp(args.mode, reps, bool(strace))
    out = [f"Run: {st}. Total {elapsed:.0f} s.", ""]
    what = []
    for c, (build, preload, _) in cols.items():
        if preload is None:
            what.append(f"*{c}*: " + ("mialloc.h compiled in (mia_* calls)" if build == "mialloc"
                                       else "the same source, glibc's malloc"))
            continue
        version = ""
        try:  # a peer built from source keeps a VERSION file next to its library (bench/peers.sh)
            with open(os.path.join(os.path.dirname(preload), "VERSION")) as f:
                version = f" ({f.readline().strip()})"
        except OSError:
            pass
        what.append(f"*{c}*: the glibc build under LD_PRELOAD={preload}{version}")
    out += ["**Columns**: " + "; ".join(what) + ".", ""]
    tsv = ["workload\tallocator\tfigure\tvalue"]
    prm = {w: dict(a.split("=") for a in (WORKLOADS[w][1] if args.mode == "quick" else WORKLOADS[w][2]))
           for w in WORKLOADS}
    breakdown = "of which " + " / ".join(NAMED_CALLS) + " / other"

    def row(c, cells):
        return f"| {c} | " + " | ".join(cells) + " |"

    def record(w, c, figs):
        for k, v in figs.items():
            tsv.append(f"{w}\t{c}\t{k}\t{'' if v is None else v}")

    if "frame" in workloads:
        p = prm["frame"]
        window = int(p["window"])
        out.append(f"**Frame loop** (bench/frame_loop.c {' '.join(f'{k}={v}' for k, v in p.items())}): faults "
                   f"per frame and system calls over frames {p['warm']}..{int(p['warm']) + window - 1} "
                   f"(calls scaled to 300 frames); peak RSS = max of the per-frame samples; then the working set "
                   f"is freed and light frames run for {p['light']} s of wall time (60 per second).")
        out.append("")
        out.append("| allocator | faults / frame | OS calls / 300 frames | " + breakdown + " | CPU ms / frame | "
                   "peak RSS MiB | after unload MiB | at 1 s MiB | at 3 s MiB | at 3 s, % of peak | "
                   "OS calls, light phase |")
        out.append("|---|" + "---:|" * 10)
        for c in cols:
            if failed("frame", c):
                out.append(row(c, ["FAIL"] * 10))
                continue
            oc = oscalls("frame", c, 0, 300.0 / window)
            total, split = calls_cell(oc)
            light = oscalls("frame", c, 1)
            peak, end = fig("frame", c, "peak_rss_kib"), fig("frame", c, "rss_end_kib")
            cpu = fig("frame", c, "cpu_window_s")
            figs = {"faults_per_frame": fig("frame", c, "faults_per_frame"),
                    "os_calls_per_300_frames": oc[0] if oc else None,
                    "cpu_ms_per_frame": cpu * 1000 / window if cpu is not None else None,
                    "peak_rss_kib": peak, "rss_unload_kib": fig("frame", c, "rss_unload_kib"),
                    "rss_1s_kib": fig("frame", c, "rss_1s_kib"), "rss_end_kib": end,
                    "rss_end_pct_of_peak": 100.0 * end / peak if peak and end is not None else None,
                    "os_calls_light": light[0] if light else None}
            if oc:
                for n in NAMED_CALLS:
                    figs[f"os_{n}_per_300_frames"] = oc[1].get(n, 0)
            record("frame", c, figs)
            out.append(row(c, [num(figs["faults_per_frame"], 1), total, split, num(figs["cpu_ms_per_frame"], 2),
                               mib(peak), mib(figs["rss_unload_kib"]), mib(figs["rss_1s_kib"]), mib(end),
                               num(figs["rss_end_pct_of_peak"], 1), num(figs["os_calls_light"])]))
        out.append("")
        # the program's own live set (the same sizes and seed in every column): its growth over the window is a floor
        floor = next(((fig("frame", c, "floor_faults_per_frame"), fig("frame", c, "live_peak_warm_kib"),
                       fig("frame", c, "live_peak_kib")) for c in cols
                      if not failed("frame", c) and fig("frame", c, "floor_faults_per_frame") is not None), None)
        if floor is not None:
            out.append(f"Floor: the program's live set (bytes requested and not freed, the same in every column) peaked at "
                       f"{mib(floor[1])} MiB over the warm-up and {mib(floor[2])} MiB over every heavy frame: its growth "
                       f"is {num(floor[0], 1)} page faults per frame of the window that no allocator avoids without "
                       f"memory written before the window.")
            out.append("")

    if "large" in workloads:
        p = prm["large"]
        n = int(p["n"])
        out.append(f"**Large-block reuse** (bench/large_reuse.c n={n}): 20 live blocks of 5..25 MiB, one replaced "
                   "at random per step, one byte per page written; figures over the replacements.")
        out.append("")
        out.append("| allocator | faults / replacement | OS calls / replacement | " + breakdown +
                   " | CPU s | wall s | peak RSS MiB | RSS at exit MiB |")
        out.append("|---|" + "---:|" * 7)
        for c in cols:
            if failed("large", c):
                out.append(row(c, ["FAIL"] * 7))
                continue
            oc = oscalls("large", c, 0, 1.0 / n)
            total, split = calls_cell(oc, 2)
            figs = {"faults_per_replacement": fig("large", c, "faults_per_op"),
                    "os_calls_per_replacement": oc[0] if oc else None,
                    "cpu_s": fig("large", c, "cpu_s"), "wall_s": fig("large", c, "wall_s"),
                    "peak_rss_kib": fig("large", c, "hwm_kib"), "rss_end_kib": fig("large", c, "rss_end_kib")}
            record("large", c, figs)
            out.append(row(c, [num(figs["faults_per_replacement"], 1), total, split, num(figs["cpu_s"], 3),
                               num(figs["wall_s"], 3), mib(figs["peak_rss_kib"]), mib(figs["rss_end_kib"])]))
        out.append("")

    if "threads" in workloads:
        p = prm["threads"]
        out.append(f"**Thread churn** (bench/thread_churn.c {' '.join(f'{k}={v}' for k, v in p.items())}, "
                   "2 threads a round): threads that free half of what the previous round's threads left and "
                   "pass their own blocks on; figures over all the rounds. About 300 of the madvise calls are "
                   "glibc's own, not the allocator's: one per exiting thread, on its stack.")
        out.append("")
        out.append("| allocator | faults | OS calls | " + breakdown +
                   " | CPU s | wall s | peak RSS MiB | RSS at exit MiB |")
        out.append("|---|" + "---:|" * 7)
        for c in cols:
            if failed("threads", c):
                out.append(row(c, ["FAIL"] * 7))
                continue
            oc = oscalls("threads", c, 0)
            total, split = calls_cell(oc)
            figs = {"faults": fig("threads", c, "faults"), "os_calls": oc[0] if oc else None,
                    "cpu_s": fig("threads", c, "cpu_s"), "wall_s": fig("threads", c, "wall_s"),
                    "peak_rss_kib": fig("threads", c, "hwm_kib"), "rss_end_kib": fig("threads", c, "rss_end_kib")}
            record("threads", c, figs)
            out.append(row(c, [num(figs["faults"]), total, split, num(figs["cpu_s"], 3), num(figs["wall_s"], 3),
                               mib(figs["peak_rss_kib"]), mib(figs["rss_end_kib"])]))
        out.append("")

    for w in workloads:  # bench.h records the first size whose block came back less aligned than malloc owes
        for c in cols:
            mis = fig(w, c, "misaligned")
            if mis:
                out.append(f"{w} / {c}: blocks aligned to less than 16 bytes for requests of 16 bytes or more "
                           f"(first size seen: {mis:.0f}).")
    fails = [(w, c, failed(w, c)) for w in workloads for c in cols if failed(w, c)]
    for w, c, e in fails:
        out.append(f"FAIL {w} / {c}: {e}")
    md = "\n".join(out).rstrip() + "\n"
    print(md)
    with open(args.out + ".md", "w") as f:
        f.write(md)
    with open(args.out + ".tsv", "w") as f:
        f.write("\n".join(tsv) + "\n")
    if fails:
        print(f"memret: {len(fails)} cell(s) FAILED (see above)", file=sys.stderr)
    if any(c.startswith("mialloc") for _, c, _ in fails):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
