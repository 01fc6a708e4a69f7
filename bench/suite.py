#!/usr/bin/env python3
"""suite.py - run every workload x every allocator, interleaved, and tabulate.

Run by `make bench` (quick) and `make bench-full`; the Makefile builds the
programs first (build/bench/micro-<alloc>, build/bench/classic-<alloc>).

  python3 bench/suite.py --bin build/bench --allocs mialloc,mimalloc,glibc,jemalloc,tcmalloc \
      [--mode quick|full] [--reps N] [--scale S] [--only REGEX] [--out bench/results/latest]

Method
  * Each cell (workload x allocator) runs as its own process; the repetitions
    are interleaved: for each repetition, for each workload, every allocator
    in turn (A B C D A B C D ...), so drift in the machine hits all alike.
  * Time: the wall time of the process (spawn to exit), median of the reps.
  * Peak RSS: the process's own VmHWM, which the program reads from
    /proc/self/status as it exits (on Linux the ru_maxrss that wait4 returns
    also counts the parent's high-water mark at exec time, which would add
    the ~10-20 MiB of this Python process to every cell); median of the reps.
  * Ratios are to mimalloc (to glibc if mimalloc is not installed); geometric
    means per allocator over all workloads, and for RSS also over the
    workloads whose live set is >= 1 MiB (elsewhere RSS is start-up overhead).
  * A cell whose program fails (a block check, a crash, a timeout) is shown as
    FAIL and left out of the means; the script then exits 1.
Outputs: <out>.md (the tables, also printed on stdout), <out>.tsv (one line
per cell), <out>-runs.tsv (every run), <out>.png (gnuplot chart, if gnuplot
is installed).

Run length: quick = 25 workloads x 5 allocators x 3 reps: 80-110 s on a
2-core x86-64 server (all of make bench, with its builds, the churn table and
the examples table: 95 s at light load, 155 s at load average 8-17); full =
60 workloads at scale 3, 5 reps: 40 min on the same machine at load 10-26.
"""
import argparse
import datetime
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

ALLOC_ORDER = ["mialloc", "mimalloc", "glibc", "jemalloc", "tcmalloc"]
# What dladdr must report as the provider of malloc in each build (the peer really overrides malloc).
PROVIDER = {"mialloc": "mialloc.h", "glibc": "libc.so", "mimalloc": "libmimalloc",
            "jemalloc": "libjemalloc", "tcmalloc": "libtcmalloc"}

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
                   "malloc-large": [1], "rptest": [2], "glibc-simple": [1], "glibc-thread": [2]}
    else:
        mt = [1, 2, 8, 16]
        threads = {"larson": mt, "xmalloc": [2, 8, 16], "cache-scratch": mt, "cache-thrash": mt,
                   "alloc-test": mt, "sh6bench": mt, "sh8bench": [2, 8, 16], "mstress": mt,
                   "malloc-large": [1], "rptest": mt, "glibc-simple": [1], "glibc-thread": mt}
    for w, ts in threads.items():
        for t in ts:
            name = w if w in ("malloc-large", "glibc-simple") else f"{w}-{t}"
            rows.append((name, CLASSIC, w, t))
    return rows


def run_cell(binary, workload, threads, scale, timeout):
    """Run one cell; returns dict(time, rss_kib, live_kib, misaligned, provider, error)."""
    cmd = [binary, workload, str(threads), repr(scale)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, text=True)
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
    return {"time": wall, "provider": m.group(2), "live_kib": int(m.group(4)), "rss_kib": int(m.group(5)),
            "misaligned": int(m.group(6)), "error": None}


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True).stdout.strip()
    except OSError:
        return ""


def stamp(cc, mode, reps, scale):
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    compiler = sh(f"{cc} --version | head -n 1") if cc else ""
    versions = []
    for pkg, label in [("libc6", "glibc"), ("libmimalloc2.0", "mimalloc"), ("libjemalloc2", "jemalloc"),
                       ("libtcmalloc-minimal4", "tcmalloc")]:
        v = sh(f"dpkg-query -W -f='${{Version}}' {pkg} 2>/dev/null")
        if v:
            versions.append(f"{label} {v}")
    head = sh("git rev-parse --short HEAD")
    dirty = " (with uncommitted changes)" if sh("git status --porcelain -- mialloc.h bench") else ""
    digest = sh("sha256sum mialloc.h | cut -c1-12")
    if digest:
        dirty += f", sha256 {digest}"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    fields = [date, f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, load average {load:.1f} at start",
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
    ap.add_argument("--allocs", default=",".join(ALLOC_ORDER))
    ap.add_argument("--mode", choices=["quick", "full"], default="quick")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--scale", type=float, default=None)
    ap.add_argument("--only", default=None, help="regex: run only matching workload rows")
    ap.add_argument("--out", default="bench/results/latest")
    ap.add_argument("--timeout", type=float, default=None, help="seconds before a cell is stopped")
    ap.add_argument("--cc", default=os.environ.get("CC", ""))
    args = ap.parse_args()
    reps = args.reps or (3 if args.mode == "quick" else 5)
    scale = args.scale or (1.0 if args.mode == "quick" else 3.0)
    timeout = args.timeout or 60 * scale
    allocs = [a for a in ALLOC_ORDER if a in args.allocs.split(",")]
    rows = workloads(args.mode)
    if args.only:
        rows = [r for r in rows if re.search(args.only, r[0])]
    for a in allocs:
        for prog in (MICRO, CLASSIC):
            if not os.access(os.path.join(args.bin, f"{prog}-{a}"), os.X_OK):
                sys.exit(f"suite.py: {args.bin}/{prog}-{a} is missing (make bench builds it)")
    ref = "mimalloc" if "mimalloc" in allocs else "glibc" if "glibc" in allocs else allocs[0]
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)

    # ---- run, interleaved ----
    runs = {}  # (row, alloc) -> list of results
    ncells = len(rows) * len(allocs)
    t_start = time.perf_counter()
    for rep in range(reps):
        print(f"bench: repetition {rep + 1}/{reps}: {len(rows)} workloads x {len(allocs)} allocators",
              file=sys.stderr, flush=True)
        for name, prog, wl, threads in rows:
            for a in allocs:
                r = run_cell(os.path.join(args.bin, f"{prog}-{a}"), wl, threads, scale, timeout)
                if r["error"] is None and PROVIDER[a] not in r["provider"]:
                    sys.exit(f"suite.py: {prog}-{a} runs with malloc from {r['provider']}, not {PROVIDER[a]}: "
                             "the peer does not override malloc; the build is wrong")
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

    # ---- markdown ----
    st = stamp(args.cc, args.mode, reps, scale)
    out = []
    out.append(f"Run: {st}. Total {elapsed:.0f} s.")
    out.append("")
    out.append(f"**Time**: median wall seconds of the process; in parentheses the ratio to {ref} "
               f"(< 1 = faster than {ref}).")
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
    out.append("")
    out.append(f"**Peak RSS**: median MiB (VmHWM of the process); in parentheses the ratio to {ref}. "
               "\"live MiB\" is what the workload holds at its peak by construction; where it is small, "
               "RSS is mostly the allocator's start-up footprint.")
    out.append("")
    out += [hdr, sep]
    out += [cells_line(n, "rss", "rratio") for n, _, _, _ in rows]
    out.append(gm_line("geomean (ratio)", gm_r))
    out.append(gm_line("geomean, live >= 1 MiB", gm_rl))
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
        f.write("workload\tthreads\tallocator\tlive_kib\ttime_median_s\ttime_min_s\ttime_max_s\trss_median_kib\t"
                f"time_ratio_{ref}\trss_ratio_{ref}\tmisaligned_size\tstatus\n")
        for n, _, _, t in rows:
            for a in allocs:
                c = cell[(n, a)]
                if c["error"] is not None:
                    f.write(f"{n}\t{t}\t{a}\t\t\t\t\t\t\t\t\tFAIL: {c['error']}\n")
                    continue
                f.write(f"{n}\t{t}\t{a}\t{c['live']}\t{c['time']:.4f}\t{c['tmin']:.4f}\t{c['tmax']:.4f}\t"
                        f"{c['rss']:.0f}\t{c['tratio'] or 0:.4f}\t{c['rratio'] or 0:.4f}\t{c['misaligned']}\tok\n")
    with open(args.out + "-runs.tsv", "w") as f:
        f.write("workload\tallocator\trep\ttime_s\trss_kib\tstatus\n")
        for n, _, _, _ in rows:
            for a in allocs:
                for i, r in enumerate(runs[(n, a)]):
                    if r["error"] is None:
                        f.write(f"{n}\t{a}\t{i + 1}\t{r['time']:.4f}\t{r['rss_kib']}\tok\n")
                    else:
                        f.write(f"{n}\t{a}\t{i + 1}\t\t\tFAIL: {r['error']}\n")

    # ---- chart ----
    chart(args.out, rows, allocs, cell, ref, gm_t, gm_r, st)
    if fails:
        print(f"bench: {len(fails)} cell(s) FAILED (see above)", file=sys.stderr)
        return 1
    return 0


def chart(out, rows, allocs, cell, ref, gm_t, gm_r, st):
    gp = shutil.which("gnuplot")
    if gp is None:
        print("bench: gnuplot is absent (apt-get install gnuplot-nox): no chart", file=sys.stderr)
        return
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
    colors = {"mialloc": "#d62728", "mimalloc": "#1f77b4", "glibc": "#7f7f7f", "jemalloc": "#2ca02c",
              "tcmalloc": "#ff7f0e"}
    width = max(1200, 60 * len(rows) + 200)

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
set key tmargin center horizontal
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
