#!/usr/bin/env python3
"""readme.py - rewrite README.md's generated benchmark section from bench/results/.

  python3 bench/readme.py        (make bench-readme runs make bench, make bench-instr, then this)
  python3 bench/readme.py --out /tmp/README.test.md    (a trial: README.md is left alone, and
                                                        so is bench/results/readme.png)

Replaces everything between the lines
  <!-- bench:begin ... -->   and   <!-- bench:end -->
in README.md with: a line saying where and when the figures were measured
(CPU model, cores, virtualisation, memory and kernel from bench/results/
latest.json and instr.json, which bench/suite.py and bench/instr.py write;
the date of each run; the mialloc.h commit; the versions of the peers built
from source), the chart (bench/results/latest.png, copied to
bench/results/readme.png so a later `make bench` does not change what the
README shows; it draws the linked builds, mialloc (preload), mialloc-secure
and the preload-only peers), the tables of bench/results/latest.md (stamped
with date, CPU, compiler and versions by bench/suite.py; columns mialloc,
mialloc (preload), mialloc-secure, mimalloc 3.x and 2.x, snmalloc and
rpmalloc preloaded when they were given, each Debian peer linked and
preloaded, and glibc; the geometric means also relative to mimalloc 3.x when
it was measured; under them the paired ratios, among them "mialloc-secure /
mialloc: time geomean X, RSS geomean Y"), the churn table of
bench/results/churn.md (and the examples table that bench/run.sh prints after
it) and the instruction counts of bench/results/instr.md (every pattern x
mialloc, header and preloaded, and every peer).
The section is never edited by hand. Run length: instant.
"""
import argparse
import json
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN = "<!-- bench:begin"
END = "<!-- bench:end -->"


def read(res, name, required):
    path = os.path.join(res, name)
    if not os.path.exists(path):
        if required:
            sys.exit(f"readme.py: {path} is missing; run `make bench` (and `make bench-instr`) first")
        return None
    with open(path) as f:
        return f.read().strip()


def read_json(res, name):
    text = read(res, name, False)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        print(f"readme.py: warning: {name} is not JSON; ignored", file=sys.stderr)
        return None


def stamp_field(md, pattern):
    """A field of the "Run: date; machine; ..." line of a results file written before the .json files."""
    m = re.search(r"^(?:Run|.*Run): ([^;\n]+);\s*([^;\n]+)", md or "", re.M)
    if not m:
        return None
    if pattern == "date":
        return m.group(1).strip()
    return re.sub(r",\s*load average [^,;]*", "", m.group(2)).strip()


def measured_line(latest, suite, instr, instr_md):
    """**Measured on** <machine>: the workloads on <date> ..., the instruction counts on <date>."""
    m_suite = suite["machine_line"] if suite else stamp_field(latest, "machine")
    d_suite = suite["machine"]["date"] if suite else stamp_field(latest, "date")
    m_instr = instr["machine_line"] if instr else None
    d_instr = instr["machine"]["date"] if instr else (stamp_field(instr_md, "date") if instr_md else None)
    commit = re.search(r"mialloc\.h at ([^;]+);", latest or "")
    parts = []
    what_suite = f"`make bench` on {d_suite}" if d_suite else "`make bench`"
    if commit:
        what_suite += f" (mialloc.h at {commit.group(1).strip()})"
    if instr_md:
        what_instr = f"`make bench-instr` on {d_instr}" if d_instr else "`make bench-instr`"
        if m_instr and m_suite and m_instr != m_suite:
            parts.append(f"**Measured on** {m_suite}: {what_suite}; and on {m_instr}: {what_instr}.")
        else:
            parts.append(f"**Measured on** {m_suite or 'an unrecorded machine'}: {what_suite}, {what_instr}.")
    else:
        parts.append(f"**Measured on** {m_suite or 'an unrecorded machine'}: {what_suite}.")
    caches = (suite or instr or {}).get("machine", {}).get("caches")
    if caches:
        parts.append(f"Caches: {caches}.")
    versions = dict((instr or {}).get("columns", {}))
    src = (suite or {}).get("versions") or {}
    built = sorted(set(src.values()) | {v for k, v in versions.items()
                                         if k in ("mimalloc-3", "mimalloc-2", "rpmalloc", "snmalloc")})
    if built:
        parts.append("Peers built from source (outside this repository): " + ", ".join(built) + ".")
    return " ".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--readme", default=os.path.join(ROOT, "README.md"), help="the README to read")
    ap.add_argument("--out", default=None, help="write here instead of --readme (a trial run: "
                    "the chart is not copied to readme.png)")
    args = ap.parse_args()
    res = args.results
    latest = read(res, "latest.md", True)
    # a latest.md from before the preload and secure columns: say so (the section is still rewritten)
    for needed in ("mialloc (preload)", "mialloc-secure / mialloc:"):
        if needed not in latest:
            print(f"readme.py: warning: bench/results/latest.md has no '{needed}' (stale? rerun make bench)",
                  file=sys.stderr)
    if "mimalloc-3 (preload)" not in latest:
        print("readme.py: note: no mimalloc 3.x column in latest.md (its library was not given to make bench; "
              "see MIALLOC_PEER_DIR in the Makefile)", file=sys.stderr)
    suite = read_json(res, "latest.json")
    churn = read(res, "churn.md", False)
    instr = read(res, "instr.md", False)
    instr_json = read_json(res, "instr.json")
    png = os.path.join(res, "latest.png")
    parts = [BEGIN + " generated by `make bench-readme` (bench/readme.py) from bench/results/; do not edit -->", ""]
    parts += [measured_line(latest, suite, instr_json, instr), ""]
    if os.path.exists(png):
        if args.out is None:
            shutil.copyfile(png, os.path.join(res, "readme.png"))
        ref = "mimalloc"
        if suite and suite.get("ref"):
            ref = suite["ref"]
        parts += [f"![Time and peak RSS of every workload relative to {ref}: mialloc (header, preloaded, "
                  "MIALLOC_SECURE=4), the linked peers and the peers preloaded from source builds "
                  "(log scale; lower is better)](bench/results/readme.png)", ""]
    parts += ["#### Workloads x allocators (`make bench`)", "", latest, ""]
    if churn:
        lines = [ln for ln in churn.splitlines() if not ln.startswith("building with")]
        # bench/run.sh ends by running examples/run_all.sh: its table gets its own heading
        cut = next((i for i, ln in enumerate(lines) if ln.startswith("| example |")), len(lines))
        parts += ["#### Churn patterns (`bench/run.sh`, part of `make bench`)", "", "\n".join(lines[:cut]).strip(), ""]
        if cut < len(lines):
            parts += ["#### Examples (`examples/run_all.sh`, run by `bench/run.sh`)", "",
                      "\n".join(lines[cut:]).strip(), ""]
    if instr:
        parts += ["#### Instructions per malloc/free pair (`make bench-instr`)", "", instr, ""]
    parts.append(END)
    section = "\n".join(parts)

    with open(args.readme) as f:
        text = f.read()
    b = text.find(BEGIN)
    e = text.find(END)
    if b < 0 or e < b:
        sys.exit(f"readme.py: {args.readme} has no '{BEGIN} ... {END}' section")
    text = text[:b] + section + text[e + len(END):]
    out = args.out or args.readme
    with open(out, "w") as f:
        f.write(text)
    print(f"readme.py: {out}: benchmark section rewritten ({len(section.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
