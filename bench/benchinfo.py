"""benchinfo.py - what bench/suite.py, bench/instr.py and bench/readme.py share:
the machine a run is on, the versions of the allocators it compares, and the
check that a preloaded library really supplies malloc.

Imported, never run. Run length: instant (a few dpkg-query and lscpu calls).

Peers built from source (never by this repository; see README "Benchmarks")
are found by the Makefile at
    $(MIALLOC_PEER_DIR)/mimalloc-3/libmimalloc.so     (or PEER_MIMALLOC3=<path>)
    $(MIALLOC_PEER_DIR)/mimalloc-2/libmimalloc.so     (or PEER_MIMALLOC2=<path>)
    $(MIALLOC_PEER_DIR)/rpmalloc/librpmalloc.so       (or PEER_RPMALLOC=<path>)
    $(MIALLOC_PEER_DIR)/snmalloc/libsnmallocshim.so   (or PEER_SNMALLOC=<path>)
with MIALLOC_PEER_DIR defaulting to ../peers (a peers/ directory next to the
checkout). A file named VERSION beside a library, one line such as
"mimalloc 3.4.3", names its version in the tables (lib_version); without it
the version is the one in the library's resolved file name, if any.
"""
import datetime
import os
import platform
import re
import subprocess

# Debian packages of the installed peers (dpkg-query gives their versions).
DEB_PACKAGES = {"glibc": "libc6", "mimalloc": "libmimalloc2.0", "jemalloc": "libjemalloc2",
                "tcmalloc": "libtcmalloc-minimal4"}
# The peers built from source: name -> (Makefile variable, path under MIALLOC_PEER_DIR).
SOURCE_PEERS = {"mimalloc-3": ("PEER_MIMALLOC3", "mimalloc-3/libmimalloc.so"),
                "mimalloc-2": ("PEER_MIMALLOC2", "mimalloc-2/libmimalloc.so"),
                "rpmalloc": ("PEER_RPMALLOC", "rpmalloc/librpmalloc.so"),
                "snmalloc": ("PEER_SNMALLOC", "snmalloc/libsnmallocshim.so")}


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True).stdout.strip()
    except OSError:
        return ""


def deb_version(name):
    """Upstream version of a Debian-packaged allocator ("2.0.9"), or ""."""
    if name not in DEB_PACKAGES:
        return ""
    v = sh(f"dpkg-query -W -f='${{Version}}' {DEB_PACKAGES[name]} 2>/dev/null")
    m = re.match(r"(?:\d+:)?(\d+\.\d+(?:\.\d+)?)", v)
    return m.group(1) if m else ""


def lib_version(lib):
    """The version of a library built from source: the first line of VERSION beside it
    ("mimalloc 3.4.3"), else the numbers its resolved file name ends with ("3.4"), else ""."""
    if not lib:
        return ""
    try:
        with open(os.path.join(os.path.dirname(lib), "VERSION")) as f:
            line = f.readline().strip()
            if line:
                return line
    except OSError:
        pass
    m = re.search(r"\.so\.(\d+(?:\.\d+)*)$", os.path.realpath(lib))
    return m.group(1) if m else ""


def same_file(a, b):
    """True if the two paths name the same file (symlinks resolved)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def machine():
    """What the figures were measured on: a dict of short strings."""
    info = {"cpu": "unknown CPU", "family": "", "cores": str(os.cpu_count() or "?"), "virt": "",
            "caches": "", "memory": "", "kernel": f"Linux {platform.release()}",
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        with open("/proc/cpuinfo") as f:
            fields = {}
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                k, _, v = line.partition(":")
                fields[k.strip()] = v.strip()
        info["cpu"] = fields.get("model name", info["cpu"])
        if "cpu family" in fields:
            info["family"] = f"family {fields['cpu family']} model {fields.get('model', '?')}"
    except OSError:
        pass
    lscpu = sh("LC_ALL=C lscpu 2>/dev/null")
    m = re.search(r"^Hypervisor vendor:\s*(.+)$", lscpu, re.M)
    if m:
        info["virt"] = f"{m.group(1).strip()} guest"
    caches = []
    for level in ("L1d", "L2", "L3"):
        m = re.search(rf"^{level} cache:\s*(.+)$", lscpu, re.M)
        if m:
            caches.append(f"{level} {m.group(1).strip()}")
    info["caches"] = ", ".join(caches)
    try:
        with open("/proc/meminfo") as f:
            m = re.search(r"MemTotal:\s*(\d+) kB", f.read())
            if m:
                info["memory"] = f"{int(m.group(1)) / (1 << 20):.0f} GiB RAM"
    except OSError:
        pass
    return info


def machine_line(info):
    """One line: "AMD EPYC (family 25 model 1), 2 cores, KVM guest, 24 GiB RAM, Linux 6.1"."""
    cpu = info.get("cpu", "unknown CPU")
    if info.get("family"):
        cpu += f" ({info['family']})"
    parts = [cpu, f"{info.get('cores', '?')} cores", info.get("virt", ""), info.get("memory", ""),
             info.get("kernel", "")]
    return ", ".join(p for p in parts if p)
