#!/usr/bin/env python3
"""instr.py - instructions per malloc/free pair under callgrind (`make bench-instr`).

  python3 bench/instr.py --bin build/bench [--peer mimalloc=/usr/lib/.../libmimalloc.so.2 ...]
                         [--out bench/results/instr] [--jobs 2]

For every allocator and pattern (bench/instr.c: A B C D X), count the
instructions of the whole process (callgrind's "Collected", all threads) at
two iteration counts, N1 = 100 000 and N2 = 200 000 pairs, and report
  net = (I(N2) - I(N1)) / (N2 - N1)  -  the same for the empty loop
so start-up, first-touch warm-up and the benchmark loop cancel. The peers
are preloaded (LD_PRELOAD) into build/bench/instr-plain, which calls plain
malloc/free (so each call includes one PLT jump, as in the brief); glibc is
the same binary without a preload; mialloc is build/bench/instr-mialloc (the
header included, mia_* calls). callgrind replaces no malloc (unlike
memcheck), so every allocator runs its own code. Counts repeat to within
+-0.02 per pair from run to run.
Outputs: the table on stdout, <out>.md and <out>.tsv.
Run length: 70 callgrind runs, 0.4-3 s each, two at a time: about 1 min.
"""
import argparse
import concurrent.futures
import datetime
import os
import re
import shutil
import subprocess
import sys

N1, N2 = 100_000, 200_000
PATTERNS = ["A", "B", "C", "D", "X"]
TITLES = {
    "A": "A: one size (32 B), malloc then free",
    "B": "B: sizes cycling 16..1024 step 16, malloc then free",
    "C": "C: 1000 x malloc(32), then free them in order",
    "D": "D: 1000 mixed 16..256, then free in reverse",
    "X": "X: malloc(32) by one thread, free by another (1000 per hand-over)",
}
TARGET = {"A": 30, "B": 45, "C": 35, "D": 35}
# The brief's figures (BRIEF.md, "Where the peers stand"), same method.
BRIEF_COLS = ["mimalloc 3.4", "mimalloc 2.4", "rpmalloc 2.0", "jemalloc 5.3", "tcmalloc 2.10", "glibc 2.36"]
BRIEF = {
    "A": [48, 105, 48, 73, 73, 135],
    "B": [1043, 785, 272, 77, 72, 134],
    "C": [44, 46, 39, 150, 72, 185],
    "D": [45, 47, 40, 96, 71, 284],
}
PKG = {"glibc": "libc6", "mimalloc": "libmimalloc2.0", "jemalloc": "libjemalloc2",
       "tcmalloc": "libtcmalloc-minimal4"}


def callgrind(binary, pattern, pairs, preload):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", binary, pattern, str(pairs)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    m = re.search(r"Collected : (\d+)", r.stderr)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"{' '.join(cmd)} (LD_PRELOAD={preload}) failed:\n{r.stderr[-800:]}")
    return int(m.group(1))


def version(alloc):
    if alloc not in PKG:
        return ""
    try:
        v = subprocess.run(["dpkg-query", "-W", "-f=${Version}", PKG[alloc]], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True).stdout.strip()
    except OSError:
        return ""
    m = re.match(r"(?:\d+:)?(\d+\.\d+(?:\.\d+)?)", v)
    return m.group(1) if m else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/bench")
    ap.add_argument("--peer", action="append", default=[], help="name=/path/to/lib.so (preloaded)")
    ap.add_argument("--out", default="bench/results/instr")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--cc", default=os.environ.get("CC", ""))
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("instr.py: valgrind is absent (apt-get install valgrind, or bash scripts/deps.sh bench)")
    plain = os.path.join(args.bin, "instr-plain")
    mia = os.path.join(args.bin, "instr-mialloc")
    # (allocator, binary, preload)
    allocs = [("mialloc", mia, None), ("glibc", plain, None)]
    for spec in args.peer:
        name, _, lib = spec.partition("=")
        if lib and os.path.exists(lib):
            allocs.append((name, plain, lib))
        else:
            print(f"instr: {name}: skipped ({lib or 'library'} not found; bash scripts/deps.sh bench installs it)", file=sys.stderr)

    jobs = {}
    for name, binary, preload in allocs:
        for p in PATTERNS:
            for n in (N1, N2):
                jobs[(name, p, n)] = (binary, p, n, preload)
    for binary, label in ((plain, "empty-plain"), (mia, "empty-mialloc")):
        for p in PATTERNS:
            for n in (N1, N2):
                jobs[(label, p, n)] = (binary, p + "0", n, None)
    print(f"instr: {len(jobs)} callgrind runs, {args.jobs} at a time", file=sys.stderr, flush=True)
    counts = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        futs = {ex.submit(callgrind, *v): k for k, v in jobs.items()}
        for f in concurrent.futures.as_completed(futs):
            counts[futs[f]] = f.result()

    def per_pair(name, p):
        return (counts[(name, p, N2)] - counts[(name, p, N1)]) / (N2 - N1)

    net = {}
    for name, binary, _ in allocs:
        empty = "empty-mialloc" if binary == mia else "empty-plain"
        for p in PATTERNS:
            net[(name, p)] = per_pair(name, p) - per_pair(empty, p)

    names = [a[0] for a in allocs]
    labels = [f"{n} {version(n)}".strip() for n in names]
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cc = subprocess.run(f"{args.cc} --version | head -n 1", shell=True, stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL, text=True).stdout.strip() if args.cc else ""
    lines = [f"Instructions per malloc/free pair (callgrind, net of the loop: (I(200k) - I(100k)) / 100k minus "
             f"the empty loop). Run: {date}; {cc}; peers preloaded into a binary calling plain malloc/free "
             "(one PLT jump per call), mialloc header-included. Right: the brief's figures (its machine).", ""]
    hdr = "| pattern | " + " | ".join(labels) + " | target | brief: " + " | ".join(BRIEF_COLS) + " |"
    lines += [hdr, "|---|" + "---:|" * (len(labels) + 1 + len(BRIEF_COLS))]
    for p in PATTERNS:
        cells = []
        for n in names:
            v = net[(n, p)]
            mark = ""
            if n == "mialloc" and p in TARGET:
                mark = " \u2713" if v <= TARGET[p] else " \u2717"
            cells.append(f"{v:.1f}{mark}")
        target = f"<= {TARGET[p]}" if p in TARGET else "-"
        brief = " | ".join(str(x) for x in BRIEF[p]) if p in BRIEF else " | ".join("-" for _ in BRIEF_COLS)
        lines.append(f"| {TITLES[p]} | " + " | ".join(cells) + f" | {target} | {brief} |")
    lines.append("")
    lines.append("\u2713 / \u2717: mialloc meets / misses the target. Empty loop (subtracted), per pair: "
                 + ", ".join(f"{p} {per_pair('empty-plain', p):.1f} (plain) / {per_pair('empty-mialloc', p):.1f} "
                             f"(mialloc)" for p in PATTERNS) + ".")
    md = "\n".join(lines) + "\n"
    print(md)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".md", "w") as f:
        f.write(md)
    with open(args.out + ".tsv", "w") as f:
        f.write("pattern\tallocator\tinstr_per_pair_net\tinstr_100k\tinstr_200k\tempty_per_pair\n")
        for name, binary, _ in allocs:
            empty = "empty-mialloc" if binary == mia else "empty-plain"
            for p in PATTERNS:
                f.write(f"{p}\t{name}\t{net[(name, p)]:.2f}\t{counts[(name, p, N1)]}\t{counts[(name, p, N2)]}\t"
                        f"{per_pair(empty, p):.2f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
