#!/usr/bin/env python3
"""instr.py - instructions per malloc/free pair under callgrind (`make bench-instr`).

  python3 bench/instr.py --bin build/bench [--mialloc-preload build/libmialloc.so]
                         [--peer mimalloc=/usr/lib/.../libmimalloc.so.2 ...]
                         [--peer mimalloc-3=../peers/mimalloc-3/libmimalloc.so ...]
                         [--patterns A,D,K] [--out bench/results/instr] [--jobs 2]

For every allocator and pattern (bench/instr.c: A B C D X E G P J K F), count
the instructions of the whole process (callgrind's "Collected", all threads)
at two iteration counts, N1 = 100 000 and N2 = 200 000 (J and K: 5 000 and
10 000, N_OF), and report
  net = (I(N2) - I(N1)) / (ops(N2) - ops(N1))  -  the same for the empty loop
so start-up, first-touch warm-up and the benchmark loop cancel (ops is what
the program reports it did: N itself, or for G the realloc calls of whole
growths). The empty loop computes the same sizes as the real one (instr.c's
use_size), so B's and E's size arithmetic is not charged to the allocator
(before, it was: B read ~3 higher). The allocator columns:
  mialloc            build/bench/instr-mialloc: the header included, mia_* calls
                     (its fast path inlines into the loop).
  mialloc (no SIMD)  build/bench/instr-mialloc-nosimd: the same with MIALLOC_NO_SIMD=1,
                     the AVX2 paths' scalar twins (row F is the pattern they serve:
                     free lists built for 16-byte blocks)
  mialloc (preload)  build/bench/instr-plain under LD_PRELOAD=build/libmialloc.so
                     (`make shared`): mialloc as a drop-in malloc, one PLT jump
                     per call, as the peers.
  the peers          build/bench/instr-plain under LD_PRELOAD of each --peer
                     library: Debian's mimalloc 2.0.9, jemalloc and tcmalloc, and
                     those built from source outside this repository (mimalloc
                     3.x and 2.x, rpmalloc, snmalloc; the Makefile finds them
                     under MIALLOC_PEER_DIR, see its bench section and
                     bench/benchinfo.py).
  glibc              build/bench/instr-plain as it is.
A peer whose library is missing is left out with a line saying so; a peer
whose runs fail under valgrind gets "fail" cells and the reason on stderr.
Every run reports which file supplies malloc (dladdr); a run whose provider
is not its column's library stops the script, so an ignored preload is not
counted as the peer. callgrind replaces no malloc (unlike memcheck), so
every allocator runs its own code; LD_PRELOAD reaches the measured program
only, not valgrind's launcher (valgrind_tool). Counts repeat to within
+-0.1 per op from run to run (time-driven housekeeping, e.g. mimalloc's
purge delays, can move J and K of some peers a little more). callgrind
counts a `rep movsb`/`rep stosb` once per byte: glibc's memcpy and memset
use them past ~2 KiB, so a copy or a clear weighs its length (G's copies,
the ~50 000 of mimalloc 2.x in J and K).
Targets for mialloc (checked with a mark): the header column against
TARGET, the preload column against TARGET_PRELOAD.
Outputs: the table on stdout, <out>.md, <out>.tsv and <out>.json (the machine
and date, for bench/readme.py).
Run length: 240 callgrind runs with every peer present (10 columns x 10
patterns x 2, and 40 for the empty loops), 0.3-40 s each, two at a time:
4-5 min on the 2-core machine at load average 3-5 (most of it mimalloc 2.x
in J and K).
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no bench/__pycache__ in the work tree
import benchinfo  # noqa: E402  bench/benchinfo.py (the script's own directory is on sys.path)

N1, N2 = 100_000, 200_000
# J and K cost some peers ~50 000 counted instructions per pair (mimalloc 2.x sets up a segment
# each time; callgrind counts a `rep stosb` once per byte): 20x fewer pairs there keep each run
# under ~40 s. 5 000 pairs give the same figure to within a few instructions.
N_OF = {"J": (5_000, 10_000), "K": (5_000, 10_000)}
PATTERNS = ["A", "B", "C", "D", "X", "E", "G", "P", "J", "K", "F"]
TITLES = {
    "A": "A: one size (32 B), malloc then free",
    "B": "B: sizes cycling 16..1024 step 16, malloc then free",
    "C": "C: 1000 x malloc(32), then free them in order",
    "D": "D: 1000 mixed 16..256, then free in reverse",
    "X": "X: malloc(32) by one thread, free by another (1000 per hand-over)",
    "E": "E: sizes cycling 16..8080 step 16, malloc then free",
    "G": "G: realloc growing one buffer 8 B -> 64 KiB, 16 B a call (per realloc call)",
    "P": "P: posix_memalign(4096, 4096) then free",
    "J": "J: malloc(100000) then free",
    "K": "K: malloc(3 MiB) then free",
    "F": "F: N x malloc(16) into fresh pages (all live), then free them all",
}
# Targets for mialloc: the header build, and the library under LD_PRELOAD (a PLT jump per call).
TARGET = {"A": 30, "B": 45, "C": 35, "D": 35, "E": 60, "G": 100, "P": 100, "J": 76, "K": 300}
TARGET_PRELOAD = {"A": 36, "D": 40}
# Column order (a column not given is left out). The Debian peers are named by their package's
# version, those built from source by their VERSION file (benchinfo.lib_version).
ORDER = ["mialloc", "mialloc (no SIMD)", "mialloc (preload)", "mimalloc-3", "mimalloc-2", "rpmalloc", "snmalloc", "mimalloc",
         "jemalloc", "tcmalloc", "glibc"]
PEERS = ["mimalloc", "jemalloc", "tcmalloc"] + list(benchinfo.SOURCE_PEERS)
MIALLOC_COLS = ("mialloc", "mialloc (no SIMD)", "mialloc (preload)")
# The brief's figures (BRIEF.md, "Where the peers stand"; its machine, same method).
BRIEF_COLS = ["mimalloc 3.4", "mimalloc 2.4", "rpmalloc 2.0", "jemalloc 5.3", "tcmalloc 2.10", "glibc 2.36"]
BRIEF = {
    "A": [48, 105, 48, 73, 73, 135],
    "B": [1043, 785, 272, 77, 72, 134],
    "C": [44, 46, 39, 150, 72, 185],
    "D": [45, 47, 40, 96, 71, 284],
}


def valgrind_tool():
    """(environment, argv prefix) that run callgrind so that LD_PRELOAD reaches the client only.
    `valgrind` is a launcher (on Debian a shell script, then the dynamically linked valgrind.bin)
    that would itself run under the preloaded allocator; the tool binary it starts,
    <libdir>/callgrind-<platform>, is static and hands LD_PRELOAD on to the client. So the tool is
    started directly when it is found (VALGRIND_LIB or the usual libdirs), as the launcher does;
    otherwise through `valgrind`. Counts are the same either way (the launcher runs before the
    client); only a library that cannot run natively (see snmalloc in the Makefile) needs this."""
    plat = {"x86_64": "amd64-linux", "aarch64": "arm64-linux"}.get(os.uname().machine, "")
    dirs = [os.environ.get("VALGRIND_LIB", ""), "/usr/libexec/valgrind", "/usr/lib/x86_64-linux-gnu/valgrind",
            "/usr/lib/valgrind", "/usr/lib64/valgrind", "/usr/local/libexec/valgrind", "/usr/local/lib/valgrind"]
    for d in dirs:
        tool = os.path.join(d, f"callgrind-{plat}") if d and plat else ""
        if tool and os.access(tool, os.X_OK):
            launcher = shutil.which("valgrind.bin") or shutil.which("valgrind") or "valgrind"
            return {"VALGRIND_LIB": d, "VALGRIND_LAUNCHER": launcher}, [tool, "--tool=callgrind"]
    return {}, ["valgrind", "--tool=callgrind"]


VALGRIND_ENV, VALGRIND_CMD = valgrind_tool()


def callgrind(binary, pattern, pairs, preload):
    """(instructions, ops, provider) of one run under callgrind."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.update(VALGRIND_ENV)
    if preload:
        env["LD_PRELOAD"] = preload
    cmd = VALGRIND_CMD + ["--callgrind-out-file=/dev/null", binary, pattern, str(pairs)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seconds = time.perf_counter() - t0
    m = re.search(r"Collected : (\d+)", r.stderr)
    out = re.search(r"^\S+ \d+ done ops=(\d+) malloc=(\S+)", r.stdout, re.M)
    if r.returncode != 0 or not m or not out:
        # the program's own messages (not valgrind's "==pid==" lines) say most, e.g. snmalloc's
        own = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip() and not ln.startswith(("==", "--"))]
        tail = "\n".join(own[-4:] or (r.stdout + r.stderr).strip().splitlines()[-6:])
        raise RuntimeError(f"{' '.join(cmd)} (LD_PRELOAD={preload}) failed (exit {r.returncode}):\n{tail}")
    return int(m.group(1)), int(out.group(1)), out.group(2), seconds


def provider_ok(col, provider, preload):
    if preload:
        return benchinfo.same_file(provider, preload)
    if col in ("mialloc", "mialloc (no SIMD)"):
        return provider == "mialloc.h"
    return "libc.so" in os.path.basename(provider)  # glibc


def label(col, preload):
    """"mimalloc 3.4.3": the VERSION file's line without a remark in parentheses (the note under
    the table quotes it whole), or the column's name and the version found otherwise."""
    if col in MIALLOC_COLS:
        return col
    if col in benchinfo.SOURCE_PEERS:
        v = re.sub(r"\s*\(.*\)\s*$", "", benchinfo.lib_version(preload))
        return v if v and not v[0].isdigit() else f"{col} {v}".strip()
    return f"{col} {benchinfo.deb_version(col)}".strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/bench")
    ap.add_argument("--peer", action="append", default=[], metavar="NAME=LIB",
                    help="a peer preloaded into instr-plain (NAME one of " + ", ".join(PEERS) + "); repeatable")
    ap.add_argument("--mialloc-preload", default=None, metavar="LIB",
                    help="build/libmialloc.so: the 'mialloc (preload)' column")
    ap.add_argument("--patterns", default=",".join(PATTERNS), help="comma-separated subset of " + ",".join(PATTERNS))
    ap.add_argument("--out", default="bench/results/instr")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--cc", default=os.environ.get("CC", ""))
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("instr.py: valgrind is absent (apt-get install valgrind, or bash scripts/deps.sh bench)")
    patterns = [p for p in args.patterns.split(",") if p]
    for p in patterns:
        if p not in PATTERNS:
            sys.exit(f"instr.py: unknown pattern '{p}' (known: {', '.join(PATTERNS)})")
    plain = os.path.join(args.bin, "instr-plain")
    mia = os.path.join(args.bin, "instr-mialloc")
    for b in (plain, mia):
        if not os.access(b, os.X_OK):
            sys.exit(f"instr.py: {b} is missing (make bench-instr builds it)")
    # column -> (binary, preload); a preload is made absolute (ld.so reads a relative one from the cwd)
    cols = {"mialloc": (mia, None), "glibc": (plain, None)}
    # the header built with MIALLOC_NO_SIMD=1: what the AVX2 paths gain (the F row serves them)
    mia_nosimd = os.path.join(args.bin, "instr-mialloc-nosimd")
    if os.access(mia_nosimd, os.X_OK):
        cols["mialloc (no SIMD)"] = (mia_nosimd, None)
    if args.mialloc_preload:
        if not os.path.isfile(args.mialloc_preload):
            sys.exit(f"instr.py: {args.mialloc_preload} is missing (make shared)")
        cols["mialloc (preload)"] = (plain, os.path.abspath(args.mialloc_preload))
    for spec in args.peer:
        name, _, lib = spec.partition("=")
        if name not in PEERS:
            sys.exit(f"instr.py: --peer {spec}: NAME must be one of {', '.join(PEERS)}")
        if lib and os.path.isfile(lib):
            cols[name] = (plain, os.path.abspath(lib))
        else:
            print(f"instr: {name}: skipped ({lib or 'library'} not found)", file=sys.stderr)
    names = [c for c in ORDER if c in cols]
    info = benchinfo.machine()

    jobs = {}  # (column or empty loop, pattern, 1 or 2) -> callgrind arguments
    for name in names:
        binary, preload = cols[name]
        for p in patterns:
            for k, n in enumerate(N_OF.get(p, (N1, N2)), 1):
                jobs[(name, p, k)] = (binary, p, n, preload)
    for binary, lab in ((plain, "empty-plain"), (mia, "empty-mialloc")):
        for p in patterns:
            for k, n in enumerate(N_OF.get(p, (N1, N2)), 1):
                jobs[(lab, p, k)] = (binary, p + "0", n, None)
    print(f"instr: {len(jobs)} callgrind runs ({len(names)} columns x {len(patterns)} patterns x 2, and the "
          f"empty loops), {args.jobs} at a time", file=sys.stderr, flush=True)
    t_start = time.perf_counter()
    res, errors = {}, {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        futs = {ex.submit(callgrind, *v): k for k, v in jobs.items()}
        for f in concurrent.futures.as_completed(futs):
            key = futs[f]
            try:
                res[key] = f.result()
            except RuntimeError as e:
                errors[key] = str(e)
    # A failed run of ours or of the empty loop stops the script; a peer that cannot run under
    # valgrind loses its cells (shown as "fail", the reason under the table).
    for key, e in errors.items():
        if key[0] in MIALLOC_COLS or key[0] == "glibc" or key[0].startswith("empty-"):
            sys.exit(f"instr.py: {e}")
        print(f"instr: {key[0]}, pattern {key[1]}: {e}", file=sys.stderr)
    elapsed = time.perf_counter() - t_start
    slow = sorted(res.items(), key=lambda kv: -kv[1][3])[:4]
    print(f"instr: {len(res)} runs in {elapsed:.0f} s; slowest: "
          + ", ".join(f"{k[0]} {k[1]}{'' if k[2] == 1 else ' (N2)'} {v[3]:.0f} s" for k, v in slow),
          file=sys.stderr, flush=True)
    for (name, p, _), (_, _, provider, _) in res.items():
        if name.startswith("empty-"):
            continue
        preload = cols[name][1]
        if not provider_ok(name, provider, preload):
            sys.exit(f"instr.py: {name}, pattern {p}: malloc comes from {provider}, not "
                     f"{preload or name}: the preload did not take effect")

    def per_op(name, p):
        (i1, o1, _, _), (i2, o2, _, _) = res[(name, p, 1)], res[(name, p, 2)]
        return (i2 - i1) / (o2 - o1)

    def empty_of(name):
        return "empty-mialloc" if cols[name][0] in (mia, mia_nosimd) else "empty-plain"

    net = {(name, p): per_op(name, p) - per_op(empty_of(name), p)
           for name in names for p in patterns if (name, p, 1) in res and (name, p, 2) in res}
    failed = sorted({(k[0], k[1]) for k in errors})

    labels = {n: label(n, cols[n][1]) for n in names}
    peers = [n for n in names if n not in MIALLOC_COLS]
    cc = subprocess.run(f"{args.cc} --version | head -n 1", shell=True, stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL, text=True).stdout.strip() if args.cc else ""
    lines = [f"Instructions per malloc/free pair (per realloc call in G), callgrind, net of the loop: "
             f"(I(200k) - I(100k)) / (ops(200k) - ops(100k)) minus the empty loop (J and K: I(10k) - I(5k)). "
             f"Run: {info['date']}; "
             f"{benchinfo.machine_line(info)}; {cc}. mialloc is the header included (mia_* calls); "
             "*mialloc (no SIMD)* the same built with MIALLOC_NO_SIMD=1 (the scalar twins of the AVX2 paths: "
             "row F is the one they serve); in "
             "*mialloc (preload)*, build/libmialloc.so preloaded; the peers are preloaded into the same "
             "binary calling plain malloc/free (one PLT jump per call); glibc is that binary alone.", ""]
    hdr = ("| pattern | " + " | ".join(labels[n] for n in names)
           + " | best peer | target (header) | target (preload) |")
    lines += [hdr, "|---|" + "---:|" * (len(names) + 3)]
    for p in patterns:
        cells = []
        for n in names:
            if (n, p) not in net:
                cells.append("fail")
                continue
            v = net[(n, p)]
            t = TARGET.get(p) if n == "mialloc" else TARGET_PRELOAD.get(p) if n == "mialloc (preload)" else None
            mark = "" if t is None else (" \u2713" if v <= t else " \u2717")
            cells.append(f"{v:.1f}{mark}")
        ok_peers = [n for n in peers if (n, p) in net]
        best = min(ok_peers, key=lambda n: net[(n, p)]) if ok_peers else None
        best_s = f"{net[(best, p)]:.1f} ({labels[best]})" if best else "-"
        th = f"<= {TARGET[p]}" if p in TARGET else "-"
        tp = f"<= {TARGET_PRELOAD[p]}" if p in TARGET_PRELOAD else "-"
        lines.append(f"| {TITLES[p]} | " + " | ".join(cells) + f" | {best_s} | {th} | {tp} |")
    lines.append("")
    lines.append("\u2713 / \u2717: mialloc meets / misses its target (the header build against *target "
                 "(header)*, the preloaded library against *target (preload)*). Empty loop (subtracted), per "
                 "op: " + ", ".join(f"{p} {per_op('empty-plain', p):.1f} (plain) / "
                                    f"{per_op('empty-mialloc', p):.1f} (mialloc)" for p in patterns) + ".")
    if failed:
        lines.append("")
        lines.append("fail: the run did not complete under valgrind (" + ", ".join(
            sorted({f"{labels[n]}: {p}" for n, p in failed})) + "); see the messages of `make bench-instr`.")
    notes = sorted({benchinfo.lib_version(cols[n][1]) for n in names if cols[n][1]} - {""})
    notes = [v for v in notes if "valgrind" in v]
    if notes:
        lines.append("")
        lines.append("Built for valgrind: " + "; ".join(notes) + ". snmalloc reserves its pagemap for a 48-bit "
                     "address space (256 GiB) at start-up, which valgrind refuses; a build whose pagemap "
                     "covers the 37 bits valgrind gives the client runs the same code.")
    brief_rows = [p for p in patterns if p in BRIEF]
    if brief_rows:
        lines += ["", "The brief's figures for A-D (BRIEF.md, its machine, same method):", "",
                  "| pattern | " + " | ".join(BRIEF_COLS) + " |", "|---|" + "---:|" * len(BRIEF_COLS)]
        for p in brief_rows:
            lines.append(f"| {p} | " + " | ".join(str(x) for x in BRIEF[p]) + " |")
    md = "\n".join(lines) + "\n"
    print(md)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".md", "w") as f:
        f.write(md)
    with open(args.out + ".tsv", "w") as f:
        f.write("pattern\tallocator\tlabel\tinstr_per_op_net\tinstr_100k\tinstr_200k\tops_100k\tops_200k\t"
                "empty_per_op\n")
        for name in names:
            for p in patterns:
                if (name, p) not in net:
                    f.write(f"{p}\t{name}\t{labels[name]}\tfail\t\t\t\t\t\n")
                    continue
                (i1, o1, _, _), (i2, o2, _, _) = res[(name, p, 1)], res[(name, p, 2)]
                f.write(f"{p}\t{name}\t{labels[name]}\t{net[(name, p)]:.2f}\t{i1}\t{i2}\t{o1}\t{o2}\t"
                        f"{per_op(empty_of(name), p):.2f}\n")
    with open(args.out + ".json", "w") as f:
        json.dump({"machine": info, "machine_line": benchinfo.machine_line(info), "compiler": cc,
                   "columns": {n: labels[n] for n in names},
                   "net": {p: {n: round(net[(n, p)], 2) for n in names if (n, p) in net} for p in patterns}},
                  f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
