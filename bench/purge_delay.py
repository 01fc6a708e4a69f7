#!/usr/bin/env python3
"""purge_delay.py - the return policy's trade-off: the three memory-return
workloads (bench/frame_loop.c, bench/large_reuse.c, bench/thread_churn.c,
the header build) run with MIALLOC_PURGE_DELAY set to each value given
(default: 0 10 100 1000 -1; 10 is the default), one table row per value.

Run by `make bench-purge-delay`:
    python3 bench/purge_delay.py --bin build/bench [--delays 0,10,100,1000,-1]
        [--reps 3] [--out bench/results/purge-delay]

Each cell is the median of --reps runs (default 3). Figures are the
programs' own (see the header comment of each program): faults are counts
and do not depend on the machine's load; CPU seconds do. The arguments are
`make bench-memret`'s quick ones.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

PROGRAMS = {
    "frame": ("frame_loop", ["warm=100", "window=150", "light=3"]),
    "large": ("large_reuse", ["n=100"]),
    "threads": ("thread_churn", ["rounds=150", "steps=5000"]),
}


def run(binary, args, delay, timeout):
    env = dict(os.environ)
    env["MIALLOC_PURGE_DELAY"] = str(delay)
    p = subprocess.run([binary] + args, env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        sys.exit(f"purge_delay: {binary} {' '.join(args)} with MIALLOC_PURGE_DELAY={delay}: exit {p.returncode}\n{p.stderr}")
    line = [l for l in p.stdout.splitlines() if l.startswith("memret ")]
    if not line:
        sys.exit(f"purge_delay: {binary}: no result line\n{p.stdout}")
    return {k: float(v) for k, v in re.findall(r"(\w+)=([-\d.]+)", line[-1]) if re.fullmatch(r"-?[\d.]+", v)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/bench")
    ap.add_argument("--delays", default="0,10,100,1000,-1")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--out", default="bench/results/purge-delay")
    a = ap.parse_args()
    try:
        delays = [int(d) for d in a.delays.split(",")]
    except ValueError:
        sys.exit(f"purge_delay: --delays takes integers separated by commas, not '{a.delays}'")
    if a.reps < 1:
        sys.exit("purge_delay: --reps must be at least 1")
    bins = {w: os.path.join(a.bin, f"{prog}-mialloc") for w, (prog, _) in PROGRAMS.items()}
    for b in bins.values():
        if not os.access(b, os.X_OK):
            sys.exit(f"purge_delay: {b} is missing: make bench-build (or make bench-purge-delay) builds it")
    rows = []
    t0 = time.time()
    for d in delays:
        med = {}
        for w, (_, args) in PROGRAMS.items():
            runs = []
            for r in range(a.reps):
                print(f"purge_delay: MIALLOC_PURGE_DELAY={d} {w} run {r + 1}/{a.reps}", file=sys.stderr, flush=True)
                runs.append(run(bins[w], args, d, a.timeout))
            med[w] = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
        rows.append((d, med))
    head = ("| MIALLOC_PURGE_DELAY | frame: faults a frame | frame: RSS after 1 s light, % of peak | frame: RSS at 3 s, % of peak "
            "| large: faults a replacement | large: CPU s | large: peak RSS MiB "
            "| threads: faults | threads: CPU s | threads: peak RSS MiB |")
    out = [f"Return policy trade-off (bench/purge_delay.py, {a.reps} runs a cell, medians; "
           f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {time.time() - t0:.0f} s). "
           "10 is the default; the delay adapts from the value set (refaults double it up to 1 s).",
           "", head, "|" + "---:|" * (head.count("|") - 1)]
    for d, m in rows:
        f, l, t = m["frame"], m["large"], m["threads"]
        peak = f.get("peak_rss_kib") or f.get("hwm_kib") or 1.0
        name = {0: "0 (at once)", -1: "-1 (never)", 10: "10 (default)"}.get(d, str(d))
        out.append(f"| {name} | {f['faults_per_frame']:.1f} | {100.0 * f['rss_1s_kib'] / peak:.1f} | {100.0 * f['rss_end_kib'] / peak:.1f} "
                   f"| {l['faults_per_op']:.1f} | {l['cpu_s']:.3f} | {l['hwm_kib'] / 1024:.1f} "
                   f"| {t['faults']:,.0f} | {t['cpu_s']:.3f} | {t['hwm_kib'] / 1024:.1f} |")
    text = "\n".join(out) + "\n"
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out + ".md", "w") as fh:
        fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
