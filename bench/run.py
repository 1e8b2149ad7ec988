#!/usr/bin/env python3
"""run.py - runs the benchmark suite under every allocator and reports.

Every workload runs under glibc, jemalloc, tcmalloc, mimalloc and the zone
shim (each by LD_PRELOAD; an allocator whose library is missing is skipped
with a note), interleaved: each repetition runs every workload once under
each allocator, in an order that rotates from one repetition and workload to
the next, so that a burst of load from elsewhere on the machine is spread over
all allocators instead of landing on one. Each run goes through bench's
runstat helper, which sets LD_PRELOAD in the command only and measures it
with wait4: wall time and ru_maxrss (which covers the command and the
descendants it reaped: g++'s cc1plus, say). A workload may print
`bench-metrics: time=S maxrss_kb=K` to report its own numbers instead (the
redis driver reports the server's CPU time and RSS, not the client's).

Reports medians per workload as ratios to glibc with geometric means, as
Markdown (results.md), raw numbers (raw.csv), a chart of the ratios
(ratios.png) and, from bench/core_pairs, a plot of the core's cost per
zalloc+zfree pair against live blocks (core_pairs.png, core_pairs.txt).

    bench/run.py                       # full suite, 3 runs each, ~20-30 minutes
    bench/run.py --quick               # CI size: each workload once, seconds
    bench/run.py --runs 5 --workloads churn_small,frag --allocators glibc,shim
    bench/run.py --profile /tmp/prof --allocators glibc,shim   # perf flat profiles

Exit status: 0 when every run exited 0, 1 otherwise (after writing the
report), 2 for bad usage or a missing build.
"""
import argparse
import csv
import datetime
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
QUICK_TIMEOUT = 120   # seconds any one quick run may take before it counts as failed
FULL_TIMEOUT = 900

ALLOCATORS = ["glibc", "jemalloc", "tcmalloc", "mimalloc", "shim"]
ALLOCATOR_LIBS = {
    "jemalloc": "libjemalloc.so.2",
    "tcmalloc": "libtcmalloc_minimal.so.4",
    "mimalloc": "libmimalloc.so.2",
}
LIB_DIRS = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/local/lib",
            "/lib64", "/usr/lib64", "/lib", "/usr/lib"]


# ---- allocators ---------------------------------------------------------------

def find_system_lib(name):
    """Path of a shared library by its SONAME, from ldconfig's cache or the usual dirs."""
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.strip().split(" => ")
            if len(parts) == 2 and parts[0].split(" ")[0] == name and os.path.exists(parts[1]):
                return parts[1]
    except OSError:
        pass
    for d in LIB_DIRS:
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    return None


def find_allocators(build, shim, wanted, notes):
    """{name: preload path or None for glibc}; missing ones are left out with a note."""
    found = {}
    for name in wanted:
        if name == "glibc":
            found[name] = None
        elif name == "shim":
            candidates = [shim] if shim else [os.path.join(build, "shim", "libzoneshim.so"),
                                              os.path.join(build, "libzoneshim.so")]
            path = next((c for c in candidates if os.path.exists(c)), None)
            if path:
                found[name] = path
            else:
                notes.append("shim skipped: no %s (build the zoneshim target)"
                             % (shim or os.path.join(build, "shim", "libzoneshim.so")))
        else:
            path = find_system_lib(ALLOCATOR_LIBS[name])
            if path:
                found[name] = path
            else:
                notes.append("%s skipped: %s not installed" % (name, ALLOCATOR_LIBS[name]))
    return found


# ---- workloads ------------------------------------------------------------------

def python_for_workloads():
    """A real python3 binary: a pyenv-style shim script would run bash under the preload."""
    if os.path.exists("/usr/bin/python3"):
        return "/usr/bin/python3"
    return os.path.realpath(sys.executable)


class Workload:
    """One benchmark: how to run it at a size, and what it needs."""

    def __init__(self, name, what, argv, needs=(), env=None, prepare=None, server=False, comm=None):
        self.name = name
        self.what = what
        self.argv = argv          # function(size_args, workdir) -> argv list
        self.needs = needs        # executables that must exist
        self.env = env or {}
        self.prepare = prepare    # function(size_args, workdir), run once, untimed
        self.server = server      # the preload goes to a server the driver starts
        self.comm = comm          # the process to profile, when not the command itself


def workloads(build, py):
    bench_bin = os.path.join(build, "bench")

    def program(name, *args):
        return lambda size, work: [os.path.join(bench_bin, name)] + list(args) + size

    # The multithreaded programs, each at 2, 4 and 8 threads (the machine this
    # suite is sized for has 2 cores): fixed work in all, split over the threads.
    threaded = []
    for prog, what in (
            ("larson", "larson server: %d threads x 2k live blocks of 16-1024 B, 60M frees+mallocs "
                       "in all, each thread handing its blocks to a new one 15 times"),
            ("xmalloc", "xmalloc: %d threads, half producers, half consumers; 24M messages in "
                        "batches, every free cross-thread"),
            ("mstress", "memory stress: %d threads x 8 rounds, random lifetimes, 16 B-1 MiB, "
                        "written in full, blocks change threads"),
            ("false_sharing", "%d threads incrementing 8-64 B blocks of their own: cache lines "
                              "shared between threads show as time")):
        for n in (2, 4, 8):
            threaded.append(Workload("%s-%d" % (prog, n), what % n, program(prog, "--threads", str(n))))

    def sqlite_prepare(size, work):
        subprocess.run([py, os.path.join(HERE, "workloads", "sqlite_gen.py"),
                        os.path.join(work, "sqlite.sql")] + size, check=True)

    def sort_prepare(size, work):
        subprocess.run([py, os.path.join(HERE, "workloads", "sort_gen.py"),
                        os.path.join(work, "sort.txt")] + size, check=True)

    def gxx_argv(size, work):
        flags = ["-O0", "-DBENCH_N=1"] if "--quick" in size else ["-O2", "-DBENCH_N=3"]
        return ["g++", "-std=c++17"] + flags + ["-c", os.path.join(HERE, "workloads", "templates.cpp"),
                                                "-o", os.path.join(work, "templates.o")]

    return [
        Workload("churn_small", "steady churn, 2k live blocks, size mix", program("churn_small")),
        Workload("churn_large", "steady churn, 400k live blocks (~100 MB)", program("churn_large")),
        Workload("prodcons", "2 producers -> 2 consumers, cross-thread frees", program("prodcons")),
        Workload("realloc", "realloc growth of 2000 buffers", program("realloc_growth")),
        Workload("tiny", "4.5M tiny long-lived C++ objects", program("tiny_objects")),
        Workload("frag", "mixed lifetimes, drifting sizes", program("frag")),
        Workload("mixed", "churn of 100k live blocks of 8 B-512 KiB, touched at both ends only",
                 program("mixed")),
    ] + threaded + [
        Workload("python", "python3 allocation-heavy script, PYTHONMALLOC=malloc",
                 lambda size, work: [py, os.path.join(HERE, "workloads", "py_alloc.py")] + size,
                 env={"PYTHONMALLOC": "malloc"}, comm="python3"),
        Workload("sqlite", "sqlite3 :memory:, write-heavy script",
                 lambda size, work: ["sqlite3", ":memory:", ".read %s" % os.path.join(work, "sqlite.sql")],
                 needs=("sqlite3",), prepare=sqlite_prepare, comm="sqlite3"),
        Workload("g++", "g++ -O2 on a template-heavy file", gxx_argv, needs=("g++",), comm="cc1plus"),
        Workload("sort", "GNU sort of a 60 MB text file, LC_ALL=C, output to /dev/null",
                 lambda size, work: ["sort", "-o", "/dev/null", os.path.join(work, "sort.txt")],
                 needs=("sort",), env={"LC_ALL": "C"}, prepare=sort_prepare, comm="sort"),
        Workload("redis", "redis-server under redis-benchmark (server CPU time)",
                 lambda size, work: [py, os.path.join(HERE, "workloads", "redis_bench.py")] + size,
                 needs=("redis-server", "redis-benchmark"), server=True, comm="redis-server"),
    ]


# ---- running --------------------------------------------------------------------

METRICS_RE = re.compile(r"^bench-metrics: time=([0-9.]+) maxrss_kb=([0-9]+)\s*$", re.M)


def run_once(w, alloc, preload, glibc_forwarder, size, work, runstat, timeout, prefix=()):
    """Runs workload w under one allocator through runstat. Returns a dict."""
    env = dict(os.environ)
    for k in ("LD_PRELOAD", "BENCH_PRELOAD", "BENCH_SERVER_PRELOAD"):
        env.pop(k, None)
    env.update(w.env)
    env["BENCH_RUNSTAT"] = runstat
    lib = preload
    if w.server:
        # The driver runs unpreloaded; the server gets the allocator. A server
        # linked with its own allocator needs glibc forced for the glibc column.
        if lib is None and glibc_forwarder:
            lib = glibc_forwarder
        if lib:
            env["BENCH_SERVER_PRELOAD"] = lib
    elif lib:
        env["BENCH_PRELOAD"] = lib
    stat_path = os.path.join(work, "stat.txt")
    if os.path.exists(stat_path):
        os.unlink(stat_path)
    argv = list(prefix) + [runstat, stat_path] + w.argv(size, work)
    out_path = os.path.join(work, "out.txt")
    err_path = os.path.join(work, "err.txt")
    timed_out = False
    with open(out_path, "w+b") as out, open(err_path, "w+b") as err:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=work, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)  # the whole session: g++'s cc1plus, a server
            proc.wait()
        out.seek(0)
        stdout = out.read().decode(errors="replace")
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    stat = {}
    if os.path.exists(stat_path):
        with open(stat_path) as f:
            stat = dict(kv.split("=", 1) for kv in f.read().split())
    r = {"workload": w.name, "allocator": alloc, "exit": proc.returncode, "timed_out": timed_out,
         "ok": proc.returncode == 0 and not timed_out and bool(stat),
         "wall_s": float(stat.get("wall_s", "nan")), "cpu_s": float(stat.get("cpu_s", "nan")),
         "maxrss_kb": int(stat.get("maxrss_kb", "0")),
         "summary": (stdout.strip().splitlines() or [""])[0][:200]}
    r["time_s"], r["rss_kb"], r["cpu_eff_s"] = r["wall_s"], r["maxrss_kb"], r["cpu_s"]
    m = METRICS_RE.search(stdout)
    if m:
        r["time_s"] = r["cpu_eff_s"] = float(m.group(1))
        r["rss_kb"] = int(m.group(2))
    if not r["ok"]:
        r["stderr"] = stderr[-3000:]
        r["stdout"] = stdout[-1000:]
    return r


def run_suite(args, allocs, chosen, work, notes):
    size = ["--quick"] if args.quick else []
    timeout = QUICK_TIMEOUT if args.quick else FULL_TIMEOUT
    glibc_forwarder = os.path.join(args.build, "bench", "libbench_glibc.so")
    if not os.path.exists(glibc_forwarder):
        glibc_forwarder = None
        notes.append("libbench_glibc.so missing: redis's glibc column runs its linked allocator")
    for w in chosen:
        if w.prepare:
            w.prepare(size, work)
    runstat = os.path.join(args.build, "bench", "runstat")
    names = list(allocs)
    results = []
    total = args.runs * len(chosen) * len(names)
    done = 0
    for rep in range(args.runs):
        for wi, w in enumerate(chosen):
            shift = (rep + wi) % len(names)
            for alloc in names[shift:] + names[:shift]:
                r = run_once(w, alloc, allocs[alloc], glibc_forwarder, size, work, runstat, timeout)
                r["rep"] = rep
                results.append(r)
                done += 1
                status = "ok" if r["ok"] else ("TIMEOUT" if r["timed_out"] else "FAILED exit %s" % r["exit"])
                print("[%3d/%d] run %d %-15s %-9s %8.2fs %8.1f MiB  %s" % (
                    done, total, rep + 1, w.name, alloc, r["time_s"], r["rss_kb"] / 1024.0, status),
                    flush=True)
                if not r["ok"]:
                    sys.stdout.write("    stderr: " + r["stderr"].replace("\n", "\n    ") + "\n")
    return results


# ---- reporting ------------------------------------------------------------------

def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def profile_suite(args, allocs, chosen, work, notes):
    """Runs each workload once per allocator under perf record (cpu-clock: it
    works in VMs without hardware counters) and writes a flat profile of the
    process that matters (the server, cc1plus, ...) to DIR/<workload>-<alloc>.txt."""
    if not shutil.which("perf"):
        sys.exit("run.py: --profile needs perf (Debian: linux-perf); or use valgrind --tool=callgrind by hand")
    os.makedirs(args.profile, exist_ok=True)
    size = ["--quick"] if args.quick else []
    runstat = os.path.join(args.build, "bench", "runstat")
    glibc_forwarder = os.path.join(args.build, "bench", "libbench_glibc.so")
    for w in chosen:
        if w.prepare:
            w.prepare(size, work)
        for alloc in allocs:
            data = os.path.join(work, "perf.data")
            prefix = ["perf", "record", "-q", "-F", "1999", "-e", "cpu-clock", "-o", data, "--"]
            r = run_once(w, alloc, allocs[alloc], glibc_forwarder, size, work, runstat,
                         FULL_TIMEOUT, prefix)
            comm = ["--comm", w.comm] if w.comm else ["--comm", os.path.basename(w.argv(size, work)[0])]
            p = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                                "--sort", "dso,sym", "--percentage", "relative"] + comm,
                               capture_output=True, text=True)
            rows = []
            for line in p.stdout.splitlines():
                m = re.match(r"^\s*([0-9.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*)$", line)
                if m:
                    rows.append((float(m.group(1)), m.group(2), m.group(3).strip()))
            by_dso = {}
            for pct, dso, _ in rows:
                by_dso[dso] = by_dso.get(dso, 0.0) + pct
            report = ["\n".join("%7.2f%%  %s" % (v, k) for k, v in
                                 sorted(by_dso.items(), key=lambda kv: -kv[1]) if v >= 0.5),
                      "\n".join("%7.2f%%  %-24s %s" % r for r in rows if r[0] >= 0.7)]
            path = os.path.join(args.profile, "%s-%s.txt" % (w.name, alloc))
            with open(path, "w") as f:
                f.write("# %s under %s: %.2f s, %.1f MiB, %s\n# perf record -F 1999 -e cpu-clock, "
                        "process %s, self time, percent of that process\n\n%s\n\n%s\n"
                        % (w.name, alloc, r["time_s"], r["rss_kb"] / 1024.0, "ok" if r["ok"] else "FAILED",
                           comm[1], report[0], report[1]))
            print("profile: %s" % path, flush=True)


def summarise(results, allocs, chosen):
    """Medians, ratios to glibc, spreads and geometric means."""
    med = {}
    for w in chosen:
        for a in allocs:
            runs = [r for r in results if r["workload"] == w.name and r["allocator"] == a]
            good = [r for r in runs if r["ok"]]
            if not runs:
                continue
            entry = {"runs": len(runs), "failed": len(runs) - len(good)}
            if good:
                t = [r["time_s"] for r in good]
                m = [r["rss_kb"] for r in good]
                c = [r["cpu_eff_s"] for r in good]
                entry.update(time=statistics.median(t), rss=statistics.median(m), cpu=statistics.median(c),
                             spread=(max(t) - min(t)) / statistics.median(t) if len(t) > 1 else 0.0)
            med[(w.name, a)] = entry
    ratios = {}
    for (wn, a), e in med.items():
        base = med.get((wn, "glibc"))
        if "time" in e and base and "time" in base:
            ratios[(wn, a)] = (e["time"] / base["time"], e["rss"] / base["rss"], e["cpu"] / base["cpu"])
    geo = {}
    for a in allocs:
        rs = [ratios[(w.name, a)] for w in chosen if (w.name, a) in ratios]
        if rs:
            geo[a] = (geomean([r[0] for r in rs]), geomean([r[1] for r in rs]), len(rs),
                      geomean([r[2] for r in rs]))
    return med, ratios, geo


def fmt(x, digits=2):
    return "—" if x is None else ("%.*f" % (digits, x))


def cell(med, ratios, wn, a, which):
    e = med.get((wn, a))
    if e is None:
        return "—"
    if "time" not in e:
        return "fail"
    if a == "glibc":
        return (fmt(e["time"]) + " s", fmt(e["rss"] / 1024.0, 1) + " MiB", fmt(e["cpu"]) + " s")[which]
    r = ratios.get((wn, a))
    text = fmt(r[which]) if r else "—"
    if e["failed"]:
        text += " (%d failed)" % e["failed"]
    return text


def write_markdown(path, args, allocs, chosen, med, ratios, geo, notes, meta, core):
    names = list(allocs)
    lines = []
    add = lines.append
    add("# Benchmark results")
    add("")
    add("Generated by `%s` on %s, at commit %s." % (meta["command"], meta["date"], meta["commit"]))
    add("Machine: %s, %d cores, %s; load average %s before, %s after; %d run(s) per cell, interleaved."
        % (meta["cpu"], os.cpu_count() or 0, meta["kernel"], meta["load_before"], meta["load_after"], args.runs))
    add("Allocators: " + ", ".join("%s (%s)" % (a, allocs[a] or "no preload") for a in names) + ".")
    add("")
    for which, title, unit in ((0, "Time", "glibc: median seconds; others: median time / glibc's"),
                               (1, "Peak RSS", "glibc: median MiB; others: median peak RSS / glibc's"),
                               (2, "CPU time, a cross-check", "user+sys; glibc: median seconds; "
                                                            "others: median / glibc's")):
        add("## %s (%s; lower is better)" % (title, unit))
        add("")
        add("| workload | " + " | ".join(names) + " |")
        add("| --- |" + " ---: |" * len(names))
        for w in chosen:
            add("| %s | " % w.name + " | ".join(cell(med, ratios, w.name, a, which) for a in names) + " |")
        add("| **geometric mean** | " + " | ".join(
            ("1.00" if a == "glibc" else ("**%s**" % fmt(geo[a][3 if which == 2 else which]) if a in geo else "—"))
            for a in names) + " |")
        add("")
        if which == 2:
            add("CPU time counts what the processes ran, not what they waited for the core, so it moves less")
            add("with load from elsewhere; for single-threaded workloads on a quiet machine it is close to the")
            add("wall time. It is higher than wall time for prodcons and the multithreaded workloads (two")
            add("cores) and includes the redis server only.")
            add("")
    add("## Workloads")
    add("")
    for w in chosen:
        add("- `%s`: %s" % (w.name, w.what))
    add("")
    add("Time is wall-clock time of the whole process, except redis (the server's user+sys CPU time:")
    add("the client is not the thing measured). Peak RSS is ru_maxrss from wait4 (for g++ the largest of")
    add("the driver and cc1plus). Medians over the runs; the spread column below is (max-min)/median of")
    add("the time over the runs of each cell, a measure of the noise the machine added.")
    add("")
    if args.runs > 1:
        add("| workload | " + " | ".join("%s spread" % a for a in names) + " |")
        add("| --- |" + " ---: |" * len(names))
        for w in chosen:
            row = []
            for a in names:
                e = med.get((w.name, a))
                row.append("%.0f%%" % (100 * e["spread"]) if e and "time" in e else "—")
            add("| %s | " % w.name + " | ".join(row) + " |")
        add("")
    if "shim" in geo:
        t, m, n, _ = geo["shim"]
        worst_t = max(((ratios[(w.name, "shim")][0], w.name) for w in chosen if (w.name, "shim") in ratios),
                      default=(None, None))
        worst_m = max(((ratios[(w.name, "shim")][1], w.name) for w in chosen if (w.name, "shim") in ratios),
                      default=(None, None))
        add("## The shim at a glance")
        add("")
        add("| figure | measured |")
        add("| --- | --- |")
        add("| time, geometric mean | %s |" % fmt(t))
        add("| peak RSS, geometric mean | %s |" % fmt(m))
        add("| slowest workload | %s (%s) |" % (fmt(worst_t[0]), worst_t[1]))
        add("| largest peak RSS | %s (%s) |" % (fmt(worst_m[0]), worst_m[1]))
        add("")
    if core:
        add("## Core: ns per zalloc+zfree pair (bench/core_pairs)")
        add("")
        add("```")
        add(core.rstrip())
        add("```")
        add("")
    if notes:
        add("## Notes")
        add("")
        for n in notes:
            add("- " + n)
        add("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_raw(path, results):
    keys = ["rep", "workload", "allocator", "ok", "exit", "timed_out", "time_s", "rss_kb",
            "wall_s", "cpu_s", "maxrss_kb", "cpu_eff_s", "summary"]
    with open(path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        wr.writeheader()
        for r in results:
            wr.writerow(r)


def gnuplot(script, work):
    if not shutil.which("gnuplot"):
        return False
    p = os.path.join(work, "plot.gp")
    with open(p, "w") as f:
        f.write(script)
    return subprocess.run(["gnuplot", p]).returncode == 0


def chart_ratios(out_dir, work, allocs, chosen, ratios):
    names = [a for a in allocs if a != "glibc"]
    if not names:
        return None
    data = os.path.join(work, "ratios.dat")
    with open(data, "w") as f:
        for which in (0, 1):
            f.write("workload " + " ".join(names) + "\n")
            for w in chosen:
                f.write(w.name + " " + " ".join(
                    ("%.4f" % ratios[(w.name, a)][which]) if (w.name, a) in ratios else "?" for a in names) + "\n")
            f.write("\n\n")
    png = os.path.join(out_dir, "ratios.png")
    ncol = len(names) + 1
    script = """
set terminal pngcairo size 1100,820 font "DejaVu Sans,10" noenhanced
set output '%(png)s'
set datafile missing '?'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key outside top center horizontal width 3
set xtics rotate by -30
set yrange [0:*]
set multiplot layout 2,1
set title "Time, median, relative to glibc (lower is better)"
plot for [i=2:%(ncol)d] '%(data)s' index 0 using i:xtic(1) title columnheader(i), 1 with lines lc rgb "black" dt 2 notitle
set title "Peak RSS, median, relative to glibc (lower is better)"
plot for [i=2:%(ncol)d] '%(data)s' index 1 using i:xtic(1) title columnheader(i), 1 with lines lc rgb "black" dt 2 notitle
unset multiplot
""" % {"png": png, "data": data, "ncol": ncol}
    return png if gnuplot(script, work) else None


def chart_core(out_dir, work, core_text):
    data = os.path.join(work, "core.dat")
    rows = [l for l in core_text.splitlines() if l and not l.startswith("#")]
    if not rows:
        return None
    with open(data, "w") as f:
        f.write("\n".join(rows) + "\n")
    png = os.path.join(out_dir, "core_pairs.png")
    script = """
set terminal pngcairo size 800,500 font "DejaVu Sans,10" noenhanced
set output '%(png)s'
set logscale x
set xrange [600:1600000]
set xtics ("1k" 1000, "10k" 10000, "100k" 100000, "1M" 1000000)
set xlabel "live blocks"
set ylabel "ns per pair"
set grid
set key top left
set yrange [0:*]
set title "Core: ns per zalloc+zfree pair against live blocks"
plot '%(data)s' using 1:2 with linespoints lw 2 pt 7 title "zone, random victim (first fit)", \\
     '%(data)s' using 1:3 with linespoints lw 2 pt 5 title "zone, LIFO (best case)", \\
     '%(data)s' using 1:4 with linespoints lw 2 pt 9 dt 2 title "malloc (glibc), random victim"
""" % {"png": png, "data": data}
    return png if gnuplot(script, work) else None


def run_core(args, work):
    exe = os.path.join(args.build, "bench", "core_pairs")
    if not os.path.exists(exe):
        return None, False
    argv = [exe] + (["--quick"] if args.quick else [])
    print("core_pairs: " + " ".join(argv), flush=True)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=FULL_TIMEOUT, cwd=work)
    sys.stdout.write(p.stdout)
    if p.returncode != 0:
        sys.stdout.write(p.stderr)
    return p.stdout, p.returncode == 0


# ---- main -------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CI size: small inputs, one run")
    ap.add_argument("--runs", type=int, help="runs per workload and allocator (default 3, 1 with --quick)")
    ap.add_argument("--allocators", default=",".join(ALLOCATORS),
                    help="comma-separated subset of " + ",".join(ALLOCATORS))
    ap.add_argument("--workloads", help="comma-separated subset of the workloads")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="the CMake build directory")
    ap.add_argument("--shim", help="the shim library (default BUILD/shim/libzoneshim.so)")
    ap.add_argument("--out", help="where to write the report (default bench/results; "
                                  "with --quick a temporary directory)")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=PATH",
                    help="one more allocator to preload, say the shim built from another commit "
                         "(repeatable; its column follows the others)")
    ap.add_argument("--no-core", action="store_true", help="skip core_pairs")
    ap.add_argument("--no-charts", action="store_true", help="skip gnuplot")
    ap.add_argument("--note", action="append", default=[],
                    help="a line for the report's notes (say, where the shim was built from)")
    ap.add_argument("--profile", metavar="DIR",
                    help="instead of timing: profile each workload once per allocator with perf into DIR")
    ap.add_argument("--strict", action="store_true",
                    help="a workload whose program is missing is an error, not a skip")
    args = ap.parse_args()
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    args.build = os.path.abspath(args.build)
    if not os.path.isdir(os.path.join(args.build, "bench")):
        sys.exit("run.py: no bench programs in %s/bench: configure and build first "
                 "(cmake -S . -B build && cmake --build build -j2)" % args.build)

    notes = list(args.note)
    wanted = [a.strip() for a in args.allocators.split(",") if a.strip()]
    unknown = [a for a in wanted if a not in ALLOCATORS]
    if unknown or ("glibc" not in wanted and not args.profile):
        sys.exit("run.py: allocators are %s, and glibc (the baseline) must be one" % ",".join(ALLOCATORS))
    allocs = find_allocators(args.build, args.shim and os.path.abspath(args.shim), wanted, notes)
    for extra in args.extra:
        name, sep, path = extra.partition("=")
        if not sep or not name or name in allocs or not os.path.exists(path):
            sys.exit("run.py: --extra wants NAME=PATH with a new name and an existing library, not %r"
                     % extra)
        allocs[name] = os.path.abspath(path)

    py = python_for_workloads()
    every = workloads(args.build, py)
    if args.workloads:
        names = [n.strip() for n in args.workloads.split(",")]
        bad = [n for n in names if n not in {w.name for w in every}]
        if bad:
            sys.exit("run.py: unknown workloads %s (have %s)" % (bad, ",".join(w.name for w in every)))
        every = [w for w in every if w.name in names]
    chosen, missing = [], []
    for w in every:
        lack = [n for n in w.needs if not shutil.which(n)]
        if lack:
            missing.append("%s skipped: %s not installed" % (w.name, ", ".join(lack)))
        else:
            chosen.append(w)
    notes.extend(missing)
    for n in notes:
        print("note: " + n)
    if missing and args.strict:
        sys.exit("run.py: --strict and workloads are missing their programs")

    if args.profile:
        work = tempfile.mkdtemp(prefix="bench-work-")
        try:
            profile_suite(args, allocs, chosen, work, notes)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return 0

    out_dir = args.out or (tempfile.mkdtemp(prefix="bench-quick-") if args.quick
                           else os.path.join(HERE, "results"))
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="bench-work-")
    meta = {"command": "bench/run.py " + " ".join(sys.argv[1:]),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "kernel": platform.release(), "cpu": cpu_model(),
            "load_before": "%.2f" % os.getloadavg()[0], "commit": git_head()}
    try:
        started = time.time()
        results = run_suite(args, allocs, chosen, work, notes)
        core, core_ok = (None, True) if args.no_core else run_core(args, work)
        meta["load_after"] = "%.2f" % os.getloadavg()[0]
        med, ratios, geo = summarise(results, allocs, chosen)
        md = os.path.join(out_dir, "results.md")
        write_markdown(md, args, allocs, chosen, med, ratios, geo, notes, meta, core)
        write_raw(os.path.join(out_dir, "raw.csv"), results)
        if core:
            with open(os.path.join(out_dir, "core_pairs.txt"), "w") as f:
                f.write(core)
        if not args.no_charts:
            for png in (chart_ratios(out_dir, work, allocs, chosen, ratios),
                        chart_core(out_dir, work, core) if core else None):
                if png:
                    print("chart: " + png)
        print("report: %s (%.0f s)" % (md, time.time() - started))
        for a, (t, m, n, c) in geo.items():
            print("geometric mean over %d workloads, %-9s time %.2f  peak RSS %.2f  cpu %.2f" % (n, a, t, m, c))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = [r for r in results if not r["ok"]]
    if failed or not core_ok:
        print("run.py: %d run(s) failed%s" % (len(failed), "" if core_ok else ", core_pairs failed"))
        return 1
    return 0


def git_head():
    try:
        p = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True)
        return p.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


if __name__ == "__main__":
    sys.exit(main())
