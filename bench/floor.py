#!/usr/bin/env python3
"""floor.py - how low any allocator's peak RSS could go on each workload of the suite.

A process's resident memory is the allocator's heap plus everything else: the
program's and libraries' pages, stacks, the memory the program maps itself.
No allocator can go below that rest plus the bytes the program keeps live at
its heap's peak. This runs each workload of bench/run.py under the shim with
one arena (ZONE_ARENAS=1, so that the zone's peak use is the program's peak
of live bytes, rounded to 16-byte granules) and ZONE_STATS=1, samples the
measured process's /proc/PID/smaps every few milliseconds, and takes at the
sample of the largest total:

  rest  = total resident - the shim's own: the zone's pages, its bookkeeping
          (the process's MAP_NORESERVE mappings), the shim library's pages
  floor = rest + peak_used (the zone's high-water mark of live bytes)

Blocks on mappings of their own (the shim's big blocks) stay in the rest: any
allocator keeps the pages a program wrote in a live block. The floor is an
estimate, not a proof: the rest is read at one moment, the live peak may fall
at another. It is compared with glibc's peak RSS, the median of its runs.
Where the shim itself held less than rest + live (by more than 2%, the
samples' own spread), the program leaves parts of its blocks unwritten (their pages never become resident) and the live bytes
are no floor: such a row says n/a and stays out of the geometric mean.

usage: bench/floor.py [--build DIR] [--shim SO] [--runs N] [--workloads a,b] [--out FILE]
"""
import argparse
import importlib.util
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ZONE_LO, ZONE_HI = 1 << 45, (1 << 45) + (256 << 36)  # the shim's zone slots (lib/grow.c)
STATS_RE = re.compile(r"zone stats: pid=\d+ prog=(\S+) size=(\d+) used=\d+ peak_used=(\d+)")


def load_runner():
    spec = importlib.util.spec_from_file_location("bench_run", os.path.join(HERE, "run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def session_pids(sid):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[3]) == sid:  # field 6, the session
            pids.append((int(d), st[st.index("(") + 1:st.rindex(")")]))
    return pids


def smaps_rss(pid):
    """(total resident KB, resident KB of the allocator's own), or None. The
    allocator's own: the zone slots, the shim's bookkeeping (its anonymous
    mappings are the process's MAP_NORESERVE ones, VmFlags "nr"), and the
    shim's library with the .bss mapping that follows it."""
    try:
        with open("/proc/%d/smaps" % pid) as f:
            text = f.read()
    except OSError:
        return None
    total = own = 0
    lo = hi = shim_end = 0
    name = ""
    rss = 0
    for line in text.splitlines():
        head = line.split(" ", 1)[0]
        if "-" in head and all(c in "0123456789abcdef-" for c in head):
            lo, hi = (int(x, 16) for x in head.split("-"))
            parts = line.split()
            name = parts[5] if len(parts) > 5 else ""
        elif line.startswith("Rss:"):
            rss = int(line.split()[1])
            total += rss
        elif line.startswith("VmFlags:"):
            flags = line.split()[1:]
            shim_lib = "libzoneshim" in name
            shim_bss = name == "" and lo == shim_end
            if ZONE_LO <= lo < ZONE_HI or (name == "" and "nr" in flags) or shim_lib or shim_bss:
                own += rss
            if shim_lib:
                shim_end = hi
    return total, own


class Sampler(threading.Thread):
    """Samples the session's process named comm; keeps the sample of the largest total."""

    def __init__(self, sid, comm):
        super().__init__(daemon=True)
        self.sid, self.comm = sid, comm[:15]
        self.best = (0, 0)
        self.done = False

    def run(self):
        while not self.done:
            for pid, comm in session_pids(self.sid):
                if comm == self.comm:
                    s = smaps_rss(pid)
                    if s and s[0] > self.best[0]:
                        self.best = s
            time.sleep(0.003)


def run_shim(runner, w, shim, build, size, work, glibc_forwarder):
    env = dict(os.environ)
    for k in ("LD_PRELOAD", "BENCH_PRELOAD", "BENCH_SERVER_PRELOAD"):
        env.pop(k, None)
    env.update(w.env)
    env.update({"ZONE_STATS": "1", "ZONE_ARENAS": "1"})
    env["BENCH_RUNSTAT"] = os.path.join(build, "bench", "runstat")
    env["BENCH_SERVER_PRELOAD" if w.server else "BENCH_PRELOAD"] = shim
    stat = os.path.join(work, "floor-stat.txt")
    argv = [env["BENCH_RUNSTAT"], stat] + w.argv(size, work)
    comm = w.comm or os.path.basename(w.argv(size, work)[0])
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                stdin=subprocess.DEVNULL, cwd=work, start_new_session=True)
        sampler = Sampler(proc.pid, comm)
        sampler.start()
        proc.wait()
        sampler.done = True
        sampler.join()
        err.seek(0)
        text = err.read().decode(errors="replace")
    stats = [m for m in STATS_RE.finditer(text) if m.group(1) == comm[:len(m.group(1))]]
    if proc.returncode != 0 or not stats or sampler.best[0] == 0:
        return None
    peak_used = max(int(m.group(3)) for m in stats)
    total, own = sampler.best
    rest = total - own
    return {"total": total, "own": own, "rest": rest, "peak_used": peak_used // 1024,
            "floor": rest + peak_used // 1024}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(os.path.dirname(HERE), "build"))
    ap.add_argument("--shim", help="the shim to run (default BUILD/shim/libzoneshim.so)")
    ap.add_argument("--runs", type=int, default=3, help="glibc runs per workload (median)")
    ap.add_argument("--workloads", help="comma-separated names (default: all)")
    ap.add_argument("--quick", action="store_true", help="the CI sizes")
    ap.add_argument("--out", help="also write the table here (markdown)")
    args = ap.parse_args()
    if args.runs < 1:
        sys.exit("floor.py: --runs %d: give 1 or more glibc runs per workload" % args.runs)
    runner = load_runner()
    shim = args.shim or os.path.join(args.build, "shim", "libzoneshim.so")
    if not os.path.exists(shim):
        sys.exit("floor.py: no shim at %s: build the zoneshim target or give --shim PATH" % shim)
    py = runner.python_for_workloads()
    every = runner.workloads(args.build, py)
    names = args.workloads.split(",") if args.workloads else [w.name for w in every]
    unknown = [n for n in names if n not in {w.name for w in every}]
    if unknown:
        sys.exit("floor.py: unknown workload %s; valid: %s" % (
            ", ".join(unknown), ", ".join(w.name for w in every)))
    chosen = [w for w in every if w.name in names and all(runner.shutil.which(n) for n in w.needs)]
    size = ["--quick"] if args.quick else []
    forwarder = os.path.join(args.build, "bench", "libbench_glibc.so")
    runstat = os.path.join(args.build, "bench", "runstat")
    lines = ["| workload | glibc peak | rest | live at peak | floor | floor / glibc | shim peak (one arena) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    logs = []
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as work:
        for w in chosen:
            if w.prepare:
                w.prepare(size, work)
            glibc = []
            for _ in range(args.runs):
                r = runner.run_once(w, "glibc", None, forwarder, size, work, runstat,
                                    runner.FULL_TIMEOUT)
                if r["ok"]:
                    glibc.append(r["rss_kb"])
            s = run_shim(runner, w, shim, args.build, size, work, forwarder)
            if not glibc or s is None:
                print("%s: skipped (a run failed or gave no stats)" % w.name, file=sys.stderr)
                continue
            g = statistics.median(glibc)
            if s["floor"] > s["total"] * 1.02:
                # The shim held less than the live bytes: the program leaves
                # parts of its blocks unwritten, so they are no floor.
                floor, ratio = "n/a (blocks partly written)", "n/a"
            else:
                s["floor"] = min(s["floor"], s["total"])  # within the samples' 2%
                floor, ratio = "%.1f MiB" % (s["floor"] / 1024), "%.2f" % (s["floor"] / g)
                logs.append(math.log(s["floor"] / g))
            lines.append("| %s | %.1f MiB | %.1f MiB | %.1f MiB | %s | %s | %.1f MiB |" % (
                w.name, g / 1024, s["rest"] / 1024, s["peak_used"] / 1024, floor,
                ratio, s["total"] / 1024))
            print(lines[-1], file=sys.stderr, flush=True)
    if logs:
        lines.append("| **geometric mean** (%d workloads) | | | | | **%.3f** | |" % (
            len(logs), math.exp(sum(logs) / len(logs))))
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as f:
            f.write(report_head(runner, args) + "\n".join(lines) + "\n")


def report_head(runner, args):
    """The report's title and legend: how it was made, and what each column says."""
    command = " ".join(["bench/floor.py"] + sys.argv[1:])
    return (
        "# How low a peak could go: the floor of each workload\n\n"
        "Generated by `%s` on %s at commit %s, on %s (%d cores).\n"
        "For each workload: glibc's peak RSS (median of %d run(s)); under the shim with\n"
        "one arena (`ZONE_ARENAS=1`, `ZONE_STATS=1`), at the sample of its largest\n"
        "resident total (`/proc/PID/smaps`, every few milliseconds), the *rest*\n"
        "(everything resident but the shim's own: zone pages, MAP_NORESERVE\n"
        "bookkeeping, the library and its bss) and the zone's peak of live bytes; the\n"
        "floor is their sum, the least any allocator could hold at the peak. n/a: the\n"
        "shim itself held less than the floor, because the program leaves parts of\n"
        "its blocks unwritten; those rows stay out of the geometric mean. A workload\n"
        "whose statistics are not captured (redis: its server's) is left out. The last\n"
        "column is the shim's own peak with one arena.\n\n"
        % (command, time.strftime("%Y-%m-%d"), runner.git_head(), runner.cpu_model(),
           os.cpu_count() or 0, args.runs))


if __name__ == "__main__":
    main()
