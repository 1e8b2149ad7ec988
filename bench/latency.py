#!/usr/bin/env python3
"""latency.py - per-call latency of malloc and free under each allocator.

Runs bench/latency (src/latency.c) under glibc, jemalloc, tcmalloc, mimalloc
and the zone shim (each by LD_PRELOAD; a missing one is skipped with a note)
at 1k, 100k and 1M live blocks of small-block churn, several times,
interleaved: each repetition runs every live count under every allocator, in
an order that rotates from one repetition and live count to the next. Each
run times every malloc and every free of its steps on its own; the report
gives, per allocator and live count, the medians over the runs of p50, p99,
p99.9, p99.99 and the max, and the largest max of any run, for malloc and
free separately, next to the "timer only" row (an empty timer bracket taken
each step: the noise of the machine, with no allocator in it).

    bench/latency.py                  # 3 runs x 3 live counts x 5 allocators, ~2-3 minutes
    bench/latency.py --quick          # CI size: small live counts, 20k steps, one run, seconds
    bench/latency.py --runs 5 --allocators glibc,shim --live 1000,1000000
    bench/latency.py --diagnose       # where the shim's tail comes from (latency-shim-tail.md)
    bench/latency.py --allocators glibc,shim --extra main=/tmp/main-shim.so \
        --extra defer=build/shim/libzoneshim.so,ZONE_FREE_DEFER=1   # more preloads, same runs

Writes latency.md (tables), latency.png (percentile chart, gnuplot),
latency.csv (every run's percentiles) and latency-slowest.txt (the shim's 20
slowest calls of each run) to --out (default bench/results; with --quick a
temporary directory). Exit status: 0 when every run exited 0, 1 otherwise,
2 for bad usage or a missing build.
"""
import argparse
import bisect
import collections
import csv
import datetime
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import run as suite  # noqa: E402  (the allocators' paths, git_head, cpu_model)

FULL_LIVE = [1000, 100000, 1000000]
QUICK_LIVE = [1000, 10000, 20000]
FULL_STEPS = 2000000
QUICK_STEPS = 20000
TIMEOUT = 600
# The percentiles the program prints, and where the chart puts them: x is
# -log10(1 - p/100), so 90 -> 1, 99 -> 2, 99.9 -> 3; the max goes last.
PCTS = ["p50", "p75", "p90", "p95", "p99", "p99.5", "p99.9", "p99.95", "p99.99", "p99.995", "p99.999", "max"]
TABLE_PCTS = ["p50", "p99", "p99.9", "p99.99", "max"]
MAX_X = 5.7
OPS = ["malloc", "free", "timer"]
COLOURS = {"glibc": "#1f77b4", "jemalloc": "#2ca02c", "tcmalloc": "#9467bd", "mimalloc": "#ff7f0e",
           "shim": "#d62728"}
EXTRA_COLOURS = ["#8c564b", "#e377c2", "#17becf", "#bcbd22", "#000000"]  # --extra allocators

def parse_kv(text):
    return dict(kv.split("=", 1) for kv in text.split() if "=" in kv)


def parse_output(text):
    """The program's lines: {'run': {...}, 'pct': {op: {...}}, 'slow': [{...}]}."""
    out = {"run": {}, "pct": {}, "slow": []}
    for line in text.splitlines():
        if line.startswith("latency: "):
            out["run"] = parse_kv(line[len("latency: "):])
        elif line.startswith("pct "):
            kv = parse_kv(line[4:])
            out["pct"][kv["op"]] = {k: float(v) for k, v in kv.items() if k != "op"}
        elif line.startswith("trace: "):
            out["trace"] = parse_kv(line[len("trace: "):])
        elif line.startswith("slow "):
            out["slow"].append(parse_kv(line[5:]))
    return out


def run_program(exe, preload, live, steps, slowest, extra_env=None, extra_args=(), timeout=TIMEOUT):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    env.update(extra_env or {})
    argv = [exe, "--live", str(live), "--steps", str(steps), "--slowest", str(slowest)] + list(extra_args)
    try:
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out after %d s" % timeout
    if p.returncode != 0:
        return None, "exit %d: %s" % (p.returncode, p.stderr.strip()[-2000:])
    return parse_output(p.stdout), p.stderr


# ---- formatting ----------------------------------------------------------------

def fmt_ns(ns):
    if ns is None:
        return "—"
    if ns < 1000:
        return "%.0f ns" % ns
    if ns < 10000:
        return "%.1f µs" % (ns / 1e3)
    if ns < 1e6:
        return "%.0f µs" % (ns / 1e3)
    return "%.1f ms" % (ns / 1e6)


def live_name(n):
    return "%gM" % (n / 1e6) if n >= 1000000 else "%gk" % (n / 1e3) if n >= 1000 else str(n)


def pct_x(name):
    if name == "max":
        return MAX_X
    p = float(name[1:])
    return -math.log10(1 - p / 100.0)


# ---- the suite ---------------------------------------------------------------------

def run_suite(args, allocs, exe, notes):
    names = list(allocs)
    results = []  # dicts: rep, alloc, live, out
    total = args.runs * len(args.live) * len(names)
    done = 0
    for rep in range(args.runs):
        for li, live in enumerate(args.live):
            shift = (rep + li) % len(names)
            for alloc in names[shift:] + names[:shift]:
                load = os.getloadavg()[0]
                t0 = time.time()
                out, err = run_program(exe, allocs[alloc], live, args.steps,
                                       20 if alloc == "shim" else 0, extra_env=args.extra_env.get(alloc),
                                       extra_args=args.timer_args)
                done += 1
                if out is None:
                    print("[%3d/%d] run %d live %-7s %-9s FAILED %s" % (done, total, rep + 1, live, alloc, err),
                          flush=True)
                    results.append({"rep": rep, "alloc": alloc, "live": live, "out": None, "err": err,
                                    "load": load})
                    continue
                m, f = out["pct"]["malloc"], out["pct"]["free"]
                print("[%3d/%d] run %d live %-7s %-9s %5.1fs  malloc p50 %s p99.9 %s max %s | free p50 %s "
                      "p99.9 %s max %s  (load %.2f)"
                      % (done, total, rep + 1, live, alloc, time.time() - t0, fmt_ns(m["p50"]),
                         fmt_ns(m["p99.9"]), fmt_ns(m["max"]), fmt_ns(f["p50"]), fmt_ns(f["p99.9"]),
                         fmt_ns(f["max"]), load), flush=True)
                results.append({"rep": rep, "alloc": alloc, "live": live, "out": out, "load": load})
    return results


def long_rate(out, ops):
    """Calls of 10 us or more per second spent inside the calls of `ops` (their mean
    plus the timer's overhead, which an interrupt can hit too)."""
    over = inside = 0.0
    overhead = float(out["run"]["overhead_ns"])
    for op in ops:
        e = out["pct"][op]
        over += e["over10us"]
        inside += e["n"] * (e["mean"] + overhead) * 1e-9
    return over / inside if inside else 0.0


def summarise(results, allocs, lives):
    """{(alloc, live, op): {pct: median over runs, 'max_all': max, 'runs': n}}"""
    summary = {}
    for a in allocs:
        for live in lives:
            good = [r["out"] for r in results if r["alloc"] == a and r["live"] == live and r["out"]]
            for op in OPS:
                series = [o["pct"][op] for o in good if op in o["pct"]]
                if not series:
                    continue
                e = {p: statistics.median(s[p] for s in series) for p in PCTS}
                e["max_all"] = max(s["max"] for s in series)
                e["runs"] = len(series)
                summary[(a, live, op)] = e
    # The timer row over every run of the live count, whatever the allocator.
    for live in lives:
        series = [r["out"]["pct"]["timer"] for r in results if r["live"] == live and r["out"]]
        if series:
            e = {p: statistics.median(s[p] for s in series) for p in PCTS}
            e["max_all"] = max(s["max"] for s in series)
            e["runs"] = len(series)
            summary[("timer", live, "timer")] = e
    return summary


def write_markdown(path, args, allocs, summary, results, notes, meta):
    lines = []
    add = lines.append
    add("# Latency: the time of each malloc and each free")
    add("")
    add("Generated by `%s` on %s, at commit %s." % (meta["command"], meta["date"], meta["commit"]))
    add("Machine: %s, %d cores, %s; shared, so the tails carry other people's load." %
        (meta["cpu"], os.cpu_count() or 0, meta["kernel"]))
    add("Load average (1, 5, 15 min): %s before, %s after; the 1-min load at the start of each run "
        "ranged %s." % (meta["load_before"], meta["load_after"], meta["load_range"]))
    add("Timer: %s; %s." % (meta["timer"], meta["timer_note"]))
    add("%d run(s) per cell, interleaved; %s steps per run (one free and one malloc each) after a "
        "warm-up that fills the live count." % (args.runs, "{:,}".format(args.steps)))
    add("Allocators: " + ", ".join("%s (%s%s)" % (a, allocs[a] or "no preload", "".join(
        ", %s=%s" % kv for kv in sorted(args.extra_env.get(a, {}).items()))) for a in allocs) + ".")
    add("")
    add("Each cell is the median over the runs of that run's percentile; `max (all)` is the largest")
    add("single call of any run. `timer only` is an empty timer bracket taken once per step in the same")
    add("runs (all allocators): what the machine adds with no allocator in it. A p50 of 0 ns is below")
    add("the timer's resolution of 10 ns. Lower is better.")
    add("")
    for op in ("malloc", "free"):
        add("## %s" % op)
        add("")
        add("| live | allocator | " + " | ".join(TABLE_PCTS[:-1]) + " | max (median) | max (all) |")
        add("| --- | --- |" + " ---: |" * (len(TABLE_PCTS) + 1))
        for live in args.live:
            rows = [(a, summary.get((a, live, op))) for a in allocs] + \
                   [("timer only", summary.get(("timer", live, "timer")))]
            for a, e in rows:
                if e is None:
                    add("| %s | %s |" % (live_name(live), a) + " — |" * (len(TABLE_PCTS) + 1))
                    continue
                cells = [fmt_ns(e[p]) for p in TABLE_PCTS] + [fmt_ns(e["max_all"])]
                name = "*%s*" % a if a == "timer only" else a
                add("| %s | %s | " % (live_name(live), name) + " | ".join(cells) + " |")
        add("")
    add("![Percentiles of malloc and free latency](latency.png)")
    add("")
    add("How each run went, medians over the runs: the program's counters over its timed phase, and")
    add("the calls of 10 µs or more, also per second spent inside the calls (malloc and free together;")
    add("for the timer row, inside its empty brackets). Events from outside (interrupts, the hypervisor,")
    add("preemption) hit a call in proportion to the time it lasts, so where the rate per second")
    add("inside matches the timer row's, the long calls are the machine's, not the allocator's.")
    add("")
    add("| live | allocator | timed s | page faults | involuntary switches | calls >= 10 µs | per s inside |")
    add("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for live in args.live:
        timer_rates = []
        for a in allocs:
            outs = [r["out"] for r in results if r["alloc"] == a and r["live"] == live and r["out"]]
            if not outs:
                continue
            med = lambda k: statistics.median(float(o["run"][k]) for o in outs)  # noqa: E731
            slow = [sum(o["pct"][op]["over10us"] for op in ("malloc", "free")) for o in outs]
            rate = [long_rate(o, ("malloc", "free")) for o in outs]
            timer_rates += [long_rate(o, ("timer",)) for o in outs]
            add("| %s | %s | %.2f | %.0f | %.0f | %.0f | %.0f |" % (
                live_name(live), a, med("timed_s"), med("minflt"), med("nivcsw"), statistics.median(slow),
                statistics.median(rate)))
        if timer_rates:
            add("| %s | *timer only* | | | | | %.0f |" % (live_name(live), statistics.median(timer_rates)))
    add("")
    failed = [r for r in results if r["out"] is None]
    if failed:
        notes = notes + ["%d run(s) failed: %s" % (len(failed), "; ".join(
            "%s live %d: %s" % (r["alloc"], r["live"], r["err"][:200]) for r in failed[:5]))]
    if notes:
        add("## Notes")
        add("")
        for n in notes:
            add("- " + n)
        add("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_csv(path, results):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rep", "allocator", "live", "op", "load1", "timed_s"] + PCTS)
        for r in results:
            if not r["out"]:
                continue
            for op in OPS:
                p = r["out"]["pct"].get(op)
                if p:
                    w.writerow([r["rep"], r["alloc"], r["live"], op, "%.2f" % r["load"],
                                r["out"]["run"].get("timed_s", "")] + ["%.1f" % p[k] for k in PCTS])


def write_slowest(path, results):
    with open(path, "w") as f:
        f.write("# The shim's slowest calls in each run: op, rank, step (0 = first timed step), opno\n"
                "# (the program's count of its own calls: the fill's mallocs, then free and malloc\n"
                "# alternate), ns, the size asked for or freed.\n")
        for r in results:
            if r["alloc"] != "shim" or not r["out"]:
                continue
            for s in r["out"]["slow"]:
                f.write("run=%d live=%d op=%s rank=%s step=%s opno=%s ns=%s size=%s\n" % (
                    r["rep"] + 1, r["live"], s["op"], s["rank"], s["step"], s["opno"], s["ns"], s["size"]))


def chart(out_dir, work, allocs, summary, lives):
    if not shutil.which("gnuplot"):
        return None
    data = os.path.join(work, "latency.dat")
    series = list(allocs) + ["timer"]
    floor = 5.0  # the log scale's bottom: a 0 ns percentile (below resolution) is drawn here
    blocks = []
    with open(data, "w") as f:
        for op in ("malloc", "free"):
            for live in lives:
                f.write("# %s live=%d\nx " % (op, live) + " ".join(series) + "\n")
                for p in PCTS:
                    row = []
                    for a in series:
                        e = summary.get(("timer", live, "timer") if a == "timer" else (a, live, op))
                        row.append("%.1f" % max(e[p], floor) if e else "?")
                    f.write("%.4f %s\n" % (pct_x(p), " ".join(row)))
                f.write("\n\n")
                blocks.append((op, live))
    png = os.path.join(out_dir, "latency.png")
    # One y range for every panel, so that panels compare at a glance.
    top = max([e[p] for e in summary.values() for p in PCTS] + [1e3])
    ymax = 10 ** math.ceil(math.log10(top))
    plots = []
    for idx, (op, live) in enumerate(blocks):
        cmds = []
        for i, a in enumerate(series):
            col = i + 2
            if a == "timer":
                cmds.append("'%s' index %d using 1:%d with lines dt 2 lw 1.5 lc rgb '#777777' title 'timer only'"
                            % (data, idx, col))
            else:
                cmds.append("'%s' index %d using 1:%d with linespoints lw 2 pt 7 ps 0.6 lc rgb '%s' title '%s'"
                            % (data, idx, col, COLOURS.get(a, EXTRA_COLOURS[i % len(EXTRA_COLOURS)]), a))
        plots.append("set title '%s, %s live blocks'\nplot %s" % (op, "{:,}".format(live), ", \\\n  ".join(cmds)))
    script = """
set terminal pngcairo size 1500,900 font "DejaVu Sans,10" noenhanced
set output '%(png)s'
set datafile missing '?'
set logscale y
set yrange [%(floor)g:%(ymax)g]
set ytics ("10 ns" 1e1, "100 ns" 1e2, "1 µs" 1e3, "10 µs" 1e4, "100 µs" 1e5, "1 ms" 1e6, "10 ms" 1e7, "100 ms" 1e8)
set xrange [0.2:%(maxx)g]
set xtics ("p50" 0.301, "p90" 1, "p99" 2, "p99.9" 3, "p99.99" 4, "p99.999" 5, "max" %(maxx)g)
set grid xtics ytics
set key top left font ",9"
set xlabel "percentile (log scale of 1 - p)"
set ylabel "latency (log scale)"
set multiplot layout 2,%(ncol)d title "Per-call latency under small-block churn: medians over runs (a 0 ns percentile, below the 10 ns resolution, drawn at the bottom)"
%(plots)s
unset multiplot
""" % {"png": png, "floor": floor, "ymax": ymax, "maxx": MAX_X, "ncol": len(lives), "plots": "\n".join(plots)}
    return png if suite.gnuplot(script, work) else None


# ---- the diagnosis of the shim's tail ------------------------------------------------

def tick_period():
    """Calls between two usage ticks of the shim: OPS_PER_TICK (shim/trim.c) plus one,
    since count_op (shim/malloc.c) ticks when a countdown from OPS_PER_TICK passes 0."""
    try:
        with open(os.path.join(ROOT, "shim", "trim.c")) as f:
            m = re.search(r"#define OPS_PER_TICK (\d+)", f.read())
            return int(m.group(1)) + 1 if m else None
    except OSError:
        return None


def read_dump(path, traced):
    rows = []
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            p = line.split()
            r = {"op": p[0], "step": int(p[1]), "opno": int(p[2]), "ns": float(p[3]), "size": int(p[4])}
            if traced:
                r.update(minflt=int(p[5]), majflt=int(p[6]), csw=int(p[7]), sys=int(p[8]), start=int(p[9]))
            rows.append(r)
    return rows


SYS_BITS = ["mmap", "munmap", "mprotect", "madvise", "mremap"]


def perf_events(perf_data):
    out = subprocess.run(["perf", "script", "-i", perf_data, "-F", "time,event", "--ns"],
                         capture_output=True, text=True).stdout
    ev = []
    for line in out.splitlines():
        p = line.split()
        if len(p) >= 2:
            ev.append((int(round(float(p[0].rstrip(":")) * 1e9)), p[1].rstrip(":").split(":")[-1]))
    ev.sort()
    return ev


# A call's window in perf's time: from the CLOCK_MONOTONIC read just before its timer
# bracket to that plus its length, widened by this much each side for the bracket's own
# time (the events of one kind are tens of microseconds apart).
SLACK_NS = 200
PROBES = ["zone__shim_op_due", "dirty_full", "zone__tree_build", "zone__tree_flush", "zone__grow", "zone__index_extend",
          "zone__trim_keep", "zone__os_discard"]

def profile_tick(args, shim, exe, work, add):
    """Where the shim's time goes at the largest live count, by call stack (perf record
    --call-graph dwarf): the share of its samples in the usage tick, in tree flushes, in growth."""
    live = max(args.live)
    data = os.path.join(work, "profile.perf")
    cmd = ["perf", "record", "-q", "-F", "10000", "--call-graph", "dwarf,16384", "-o", data, "--", "env",
           "LD_PRELOAD=" + shim, exe, "--live", str(live), "--steps", str(min(args.steps, 500000)),
           "--slowest", "0"] + args.timer_args
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        add("perf record failed: no profile.")
        return
    text = subprocess.run(["perf", "script", "-i", data, "--comm", "latency", "-F", "ip,sym,dso"],
                          capture_output=True, text=True).stdout
    counts = collections.Counter()
    for stack in text.split("\n\n"):
        frames = [l.split(None, 1)[1] for l in stack.splitlines() if l.startswith("\t") and len(l.split()) > 1]
        if not frames:
            continue
        counts["all"] += 1
        if not any(os.path.basename(shim) in f for f in frames):
            continue
        counts["shim"] += 1
        syms = [f.split(" (")[0].split("+")[0] for f in frames]
        in_tick = "zone__shim_op_due" in syms
        flush = "zone__tree_flush" in syms or "dirty_full" in syms
        counts["tick"] += in_tick
        counts["tick flush"] += in_tick and flush
        counts["other flush"] += not in_tick and flush
        counts["grow"] += "zone__grow" in syms
        counts["trim"] += "zone__trim_keep" in syms
    if not counts["shim"]:
        add("perf recorded no samples in the shim.")
        return
    pc = lambda k, of="shim": 100.0 * counts[k] / max(counts[of], 1)  # noqa: E731
    add("**5. Where the shim's time goes** at %s live blocks (`perf record -F 10000 --call-graph dwarf`," %
        live_name(live))
    add("fill, churn and teardown together; %d samples, %d with a shim frame):" % (counts["all"], counts["shim"]))
    add("")
    add("| inside | share of the shim's samples |")
    add("| --- | ---: |")
    add("| the usage tick (`zone__shim_op_due`) | %.1f%% |" % pc("tick"))
    add("| of which summary-tree flushes | %.1f%% (%.0f%% of the tick) |" % (
        pc("tick flush"), pc("tick flush", "tick")))
    add("| tree flushes outside the tick (`zone__tree_flush`, `dirty_full`) | %.1f%% |" % pc("other flush"))
    add("| growth (`zone__grow`: bookkeeping rebuilt) | %.1f%% |" % pc("grow"))
    add("| page return (`zone__trim_keep`) | %.1f%% |" % pc("trim"))
    add("")


def diagnose(args, allocs, exe, trace_exe, out_dir, work):
    shim = allocs.get("shim")
    if not shim:
        sys.exit("latency.py: --diagnose needs the shim")
    period = tick_period() or 65
    lines = []
    add = lines.append
    add("# Where the shim's latency tail comes from")
    add("")
    add("Generated by `%s` on %s at commit %s; load average %s at the start." % (
        "bench/latency.py " + " ".join(sys.argv[1:]), datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        suite.git_head(), " ".join("%.2f" % x for x in os.getloadavg())))
    add("One run per live count and experiment, %s steps each; the shim at %s." % (
        "{:,}".format(args.steps), shim))
    add("")
    add("**1. Usage ticks.** The shim looks at the zone's usage (shim/trim.c, `zone__shim_op_due`)")
    add("once every %d of a thread's malloc and free calls, so the tick's calls are those whose" % period)
    add("operation number (the program's count of its calls) has one residue modulo %d: 0 when the" % period)
    add("C library allocated nothing before main, and the program allocates nothing else. Of the calls")
    add("at or above each percentile, the share that are ticks (1 call in %d is one):" % period)
    add("")
    add("| live | tick residue | calls >= p99 | on a tick | >= p99.9 | on a tick | >= p99.99 | on a tick |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    stats_lines = []
    for live in args.live:
        dump = os.path.join(work, "dump-%d.txt" % live)
        out, err = run_program(exe, shim, live, args.steps, 0, extra_env={"ZONE_STATS": "1"},
                               extra_args=["--dump-slow", dump, "--dump-pct", "99"] + args.timer_args)
        if out is None:
            sys.exit("latency.py: %s" % err)
        stats_lines += [l for l in err.splitlines() if l.startswith("zone stats:")]
        rows = read_dump(dump, False)
        # The shim counts calls made before main too (none, unless the C library allocates at
        # start-up): the ticks' residue is the one most slow calls share, said in the table.
        residue = collections.Counter(r["opno"] % period for r in rows).most_common(1)[0][0] if rows else 0
        cells = []
        for pct in ("p99", "p99.9", "p99.99"):
            calls = [r for r in rows if r["ns"] >= out["pct"][r["op"]][pct]]
            ticks = sum(1 for r in calls if r["opno"] % period == residue)
            cells += [str(len(calls)), "%.0f%%" % (100.0 * ticks / len(calls)) if calls else "—"]
        add("| %s | %d | " % (live_name(live), residue) + " | ".join(cells) + " |")
    add("")
    add("ZONE_STATS at exit of those runs (`returned` counts the teardown's frees too):")
    add("")
    add("```")
    lines.extend(stats_lines)
    add("```")
    add("")

    add("**2. With the ticks off** (`ZONE_TRIM_THRESHOLD=0`: the tick returns before it looks), and")
    add("with frees deferred (`ZONE_FREE_DEFER=1`: a free waits for no cache miss on its bookkeeping),")
    add("the same runs, default first:")
    add("")
    add("| live | op | setting | p50 | p99 | p99.9 | p99.99 | max |")
    add("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for live in args.live:
        res = {}
        for label, env in (("default", {}), ("TRIM_THRESHOLD=0", {"ZONE_TRIM_THRESHOLD": "0"}),
                           ("FREE_DEFER=1", {"ZONE_FREE_DEFER": "1"})):
            out, err = run_program(exe, shim, live, args.steps, 0, extra_env=env, extra_args=args.timer_args)
            if out is None:
                sys.exit("latency.py: %s" % err)
            res[label] = out
        for op in ("malloc", "free"):
            for label in res:
                e = res[label]["pct"][op]
                add("| %s | %s | %s | " % (live_name(live), op, label) +
                    " | ".join(fmt_ns(e[p]) for p in TABLE_PCTS) + " |")
    add("")

    add("**3. System calls, page faults and context switches** (`latency_trace`, which counts the")
    add("shim's mmap, munmap, mprotect, madvise and mremap and reads getrusage around every call;")
    add("its extra system calls slow every call a little). The calls at or above p99.9:")
    add("")
    add("| live | calls | growth (mmap/mprotect) | madvise only | page faults | context switch | none of these |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    growth_calls, traces = [], []
    for live in args.live:
        dump = os.path.join(work, "trace-%d.txt" % live)
        out, err = run_program(trace_exe, shim, live, args.steps, 0,
                               extra_args=["--dump-slow", dump, "--dump-pct", "99.9"] + args.timer_args)
        if out is None:
            sys.exit("latency.py: %s" % err)
        rows = read_dump(dump, True)
        traces.append((live, out.get("trace", {})))
        grow = [r for r in rows if r["sys"] & 0b10111]
        madv = [r for r in rows if r["sys"] == 0b01000]
        flt = [r for r in rows if r["sys"] == 0 and r["minflt"] + r["majflt"] > 0]
        csw = [r for r in rows if r["sys"] == 0 and r["minflt"] + r["majflt"] == 0 and r["csw"] > 0]
        rest = len(rows) - len(grow) - len(madv) - len(flt) - len(csw)
        add("| %s | %d | %d | %d | %d | %d | %d |" % (live_name(live), len(rows), len(grow), len(madv), len(flt),
                                                    len(csw), rest))
        for r in grow:
            growth_calls.append("live %s: %s at step %d took %s: %s, %d page faults" % (
                live_name(live), r["op"], r["step"], fmt_ns(r["ns"]),
                ",".join(n for i, n in enumerate(SYS_BITS) if r["sys"] & (1 << i)), r["minflt"]))
    add("")
    add("All the timed calls of those runs (malloc and free), by what they did:")
    add("")
    add("| live | calls | " + " | ".join("with %s" % n for n in SYS_BITS) + " | with a page fault | switched out |")
    add("| --- | ---: |" + " ---: |" * (len(SYS_BITS) + 2))
    for live, t in traces:
        add("| %s | %s | " % (live_name(live), t.get("calls", "?")) +
            " | ".join(t.get(n, "?") for n in SYS_BITS + ["faulted", "switched"]) + " |")
    add("")
    if growth_calls:
        add("Calls that made a system call:")
        add("")
        for g in growth_calls:
            add("- " + g)
        add("")

    if args.perf:
        add("**4. perf uprobes** on the shim's tick (`shim_op_due`), a full dirty list's walk (`dirty_full`),")
        add("tree flushes and rebuilds, growth, bookkeeping rebuild, trim and")
        add("page return, lined up in time (CLOCK_MONOTONIC, +-%d ns) with the calls at or above 1 µs." % SLACK_NS)
        add("Each probe hit costs a trap of 1-2 µs, so every probed call is slower here; what matters is")
        add("which events each slow call contains:")
        add("")
        add("| live | calls >= 1 µs | events inside (calls) |")
        add("| --- | ---: | --- |")
        lib = os.path.realpath(shim)
        group = "zonelat"  # our own group of probes, removed at the end
        subprocess.run(["perf", "probe", "-q", "-d", group + ":*"], capture_output=True)
        try:
            added = [fn for fn in PROBES if subprocess.run(
                ["perf", "probe", "-q", "-f", "-x", lib, "%s:%s=%s" % (group, fn, fn)],
                capture_output=True).returncode == 0]
            if not added:
                add("| — | — | perf probe failed (it needs root, uprobes and the shim's debug info) |")
            for live in args.live if added else []:
                dump = os.path.join(work, "probe-%d.txt" % live)
                data = os.path.join(work, "probe-%d.perf" % live)
                cmd = ["perf", "record", "-q", "-o", data, "-k", "CLOCK_MONOTONIC", "-e", group + ":*",
                       "--", "env", "LD_PRELOAD=" + shim, trace_exe, "--live", str(live), "--steps",
                       str(args.steps), "--slowest", "0", "--dump-slow", dump, "--dump-ns", "1000"]
                subprocess.run(cmd + args.timer_args, capture_output=True, check=True)
                # an inlined copy's probe is named fn_1, fn_2...
                ev = [(t, re.sub(r"_[0-9]+$", "", n).replace("zone__", "")) for t, n in perf_events(data)]
                times = [t for t, _ in ev]
                kinds = collections.Counter()
                rows = read_dump(dump, True)
                for r in rows:
                    i = bisect.bisect_left(times, r["start"] - SLACK_NS)
                    j = bisect.bisect_right(times, r["start"] + int(r["ns"]) + SLACK_NS)
                    names = sorted(set(n for _, n in ev[i:j]))
                    if r["csw"]:
                        names.append("context switch")
                    kinds[" + ".join(names) or "none"] += 1
                total = collections.Counter(n for _, n in ev)
                add("| %s | %d | %s |" % (live_name(live), len(rows), "; ".join(
                    "%s: %d" % kv for kv in kinds.most_common(6))))
                add("| | whole run | %s |" % "; ".join("%s: %d" % kv for kv in total.most_common()))
        finally:
            subprocess.run(["perf", "probe", "-q", "-d", group + ":*"], capture_output=True)
        add("")
    if args.perf:
        profile_tick(args, shim, exe, work, add)
    path = os.path.join(out_dir, "latency-shim-tail.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print("diagnosis: " + path)


# ---- main ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CI size: live 1k,10k,20k, 20k steps, one run")
    ap.add_argument("--runs", type=int, help="runs per allocator and live count (default 3, 1 with --quick)")
    ap.add_argument("--allocators", default=",".join(suite.ALLOCATORS),
                    help="comma-separated subset of " + ",".join(suite.ALLOCATORS))
    ap.add_argument("--live", help="comma-separated live counts (default 1000,100000,1000000)")
    ap.add_argument("--steps", type=int, help="timed steps per run (default %d)" % FULL_STEPS)
    ap.add_argument("--timer", choices=["tsc", "clock"], help="the program's timer (default tsc on x86-64)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="the CMake build directory")
    ap.add_argument("--shim", help="the shim library (default BUILD/shim/libzoneshim.so)")
    ap.add_argument("--out", help="report directory (default bench/results; with --quick a temporary one)")
    ap.add_argument("--no-chart", action="store_true", help="skip gnuplot")
    ap.add_argument("--note", action="append", default=[], help="a line for the report's notes")
    ap.add_argument("--diagnose", action="store_true",
                    help="instead of the table: where the shim's tail comes from (latency-shim-tail.md)")
    ap.add_argument("--perf", action="store_true", help="with --diagnose: also perf uprobes (root)")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=LIB[,VAR=VALUE...]",
                    help="one more allocator, LIB preloaded (another build of the shim, say), with these "
                         "variables set; runs interleaved with the rest")
    args = ap.parse_args()
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    args.live = [int(x) for x in args.live.split(",")] if args.live else (QUICK_LIVE if args.quick else FULL_LIVE)
    args.steps = args.steps or (QUICK_STEPS if args.quick else FULL_STEPS)
    args.timer_args = ["--timer", args.timer] if args.timer else []
    if args.runs < 1 or args.steps < 1 or any(n < 1 for n in args.live):
        sys.exit("latency.py: --runs, --steps and --live want positive numbers")
    args.build = os.path.abspath(args.build)
    exe = os.path.join(args.build, "bench", "latency")
    trace_exe = os.path.join(args.build, "bench", "latency_trace")
    if not os.path.exists(exe):
        print("latency.py: no %s: configure and build first (cmake -S . -B build && cmake --build build -j2)"
              % exe, file=sys.stderr)
        return 2
    notes = list(args.note)
    wanted = [a.strip() for a in args.allocators.split(",") if a.strip()]
    bad = [a for a in wanted if a not in suite.ALLOCATORS]
    if bad or not wanted:
        print("latency.py: allocators are %s" % ",".join(suite.ALLOCATORS), file=sys.stderr)
        return 2
    allocs = suite.find_allocators(args.build, args.shim and os.path.abspath(args.shim), wanted, notes)
    args.extra_env = {}
    for spec in args.extra:
        name, _, rest = spec.partition("=")
        parts = rest.split(",")
        env = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if not name or name in allocs or not parts[0] or len(env) != len(parts) - 1:
            print("latency.py: --extra wants NAME=LIB[,VAR=VALUE...], a new name", file=sys.stderr)
            return 2
        if not os.path.exists(parts[0]):
            print("latency.py: --extra %s: no %s" % (name, parts[0]), file=sys.stderr)
            return 2
        allocs[name] = os.path.abspath(parts[0])
        args.extra_env[name] = env
    for n in notes:
        print("note: " + n)
    out_dir = args.out or (tempfile.mkdtemp(prefix="latency-quick-") if args.quick
                           else os.path.join(HERE, "results"))
    os.makedirs(out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="latency-work-")
    try:
        if args.diagnose:
            diagnose(args, allocs, exe, trace_exe, out_dir, work)
            return 0
        load_before = " ".join("%.2f" % x for x in os.getloadavg())
        started = time.time()
        results = run_suite(args, allocs, exe, notes)
        runs = [r["out"]["run"] for r in results if r["out"]]
        loads = [r["load"] for r in results]
        timer = runs[0] if runs else {}
        meta = {"command": "bench/latency.py " + " ".join(sys.argv[1:]),
                "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                "commit": suite.git_head(), "cpu": suite.cpu_model(), "kernel": platform.release(),
                "load_before": load_before, "load_after": " ".join("%.2f" % x for x in os.getloadavg()),
                "load_range": "%.2f-%.2f" % (min(loads), max(loads)) if loads else "—",
                "timer": ("lfence; rdtsc ... rdtscp; lfence at %s ticks per ns (measured against "
                          "CLOCK_MONOTONIC over each run)" % timer.get("ticks_per_ns", "?"))
                if timer.get("timer") == "tsc" else "clock_gettime(CLOCK_MONOTONIC)",
                "timer_note": "its own overhead, %s ns (the median empty bracket), is subtracted from "
                              "every sample" % (statistics.median(float(r["overhead_ns"]) for r in runs)
                                                if runs else "?")}
        summary = summarise(results, allocs, args.live)
        md = os.path.join(out_dir, "latency.md")
        write_markdown(md, args, allocs, summary, results, notes, meta)
        write_csv(os.path.join(out_dir, "latency.csv"), results)
        if "shim" in allocs:
            write_slowest(os.path.join(out_dir, "latency-slowest.txt"), results)
        if not args.no_chart:
            png = chart(out_dir, work, allocs, summary, args.live)
            print("chart: %s" % png if png else "chart: skipped (no gnuplot, or it failed)")
        print("report: %s (%.0f s)" % (md, time.time() - started))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = [r for r in results if r["out"] is None]
    if failed:
        print("latency.py: %d run(s) failed" % len(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
