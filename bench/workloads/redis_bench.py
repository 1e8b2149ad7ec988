"""redis_bench.py - redis-server under redis-benchmark, on loopback, bounded.

Starts redis-server on a free 127.0.0.1 port with persistence off, with the
allocator under test preloaded into the server only (BENCH_SERVER_PRELOAD;
the client runs on the system allocator, it is not what is measured), drives
it with redis-benchmark through a fixed number of requests in three phases
(mixed commands with 100-byte values, then 2000-byte values, then 20-byte
values over the same keys, so large values die and leave holes between small
ones), then shuts it down and reaps it with wait4 to read the server's own
CPU time and peak RSS (through bench's runstat helper when BENCH_RUNSTAT
names it, so the server's peak is not the python driver's, whose address
space a forked child inherits in ru_maxrss). Every step has a timeout; the
server is killed on any failure. Prints the metrics line the runner reads:

    bench-metrics: time=<server user+sys seconds> maxrss_kb=<server peak RSS>

usage: python3 redis_bench.py [--quick | --scale F]
"""
import os
import shutil
import socket
import subprocess
import sys

from workload_args import parse_scale
import tempfile
import time

STEP_TIMEOUT = 300  # seconds for any one phase: the run always ends


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(port, *words, timeout=5.0):
    """Sends one command in RESP and returns the raw reply (or b'' if closed)."""
    payload = b"*%d\r\n" % len(words)
    for w in words:
        w = w.encode()
        payload += b"$%d\r\n%s\r\n" % (len(w), w)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        try:
            return s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            return b""


def wait_ready(port, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("redis-server exited early with status %s" % proc.returncode)
        try:
            if command(port, "PING", timeout=1.0).startswith(b"+PONG"):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("redis-server did not answer PING")


def main():
    scale = parse_scale(sys.argv)
    server = shutil.which("redis-server")
    client = shutil.which("redis-benchmark")
    if not server or not client:
        sys.exit("redis_bench: redis-server and redis-benchmark are needed")
    n = max(5000, int(60000 * scale))
    port = free_port()
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("BENCH_PRELOAD", None)
    server_env = dict(env)
    preload = env.get("BENCH_SERVER_PRELOAD", "")
    runstat = env.get("BENCH_RUNSTAT", "")
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    stat_path = os.path.join(workdir, "stat.txt")
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
            "--dir", workdir, "--protected-mode", "yes"]
    if runstat:
        argv = [runstat, stat_path] + argv
        server_env["BENCH_PRELOAD"] = preload
    elif preload:
        server_env["LD_PRELOAD"] = preload
    log = open(os.path.join(workdir, "server.log"), "w+b")
    proc = subprocess.Popen(argv, env=server_env, stdout=log, stderr=log)
    reaped = False
    try:
        wait_ready(port, proc, time.monotonic() + 30)
        base = [client, "-h", "127.0.0.1", "-p", str(port), "-q", "-P", "16", "-c", "20"]
        phases = [
            ["-n", str(n), "-r", "100000", "-d", "100",
             "-t", "set,get,lpush,lpop,sadd,hset,zadd"],
            ["-n", str(n // 2), "-r", "100000", "-d", "2000", "-t", "set,get"],
            ["-n", str(n // 2), "-r", "100000", "-d", "20", "-t", "set,get"],
        ]
        for args in phases:
            subprocess.run(base + args, env=env, check=True, timeout=STEP_TIMEOUT,
                           stdout=subprocess.DEVNULL)
        keys = command(port, "DBSIZE")
        command(port, "SHUTDOWN", "NOSAVE")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                reaped = True
                break
            time.sleep(0.02)
        if not reaped:
            raise RuntimeError("redis-server did not shut down")
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            log.seek(0)
            err = log.read().decode(errors="replace")
            raise RuntimeError("redis-server ended with status %#x: %s" % (status, err[-2000:]))
        print("redis: %d requests per phase, %s keys at the end"
              % (n, keys.decode(errors="replace").strip(":\r\n")))
        cpu, maxrss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
        if runstat:
            with open(stat_path) as f:
                stat = dict(kv.split("=", 1) for kv in f.read().split())
            cpu, maxrss = float(stat["cpu_s"]), int(stat["maxrss_kb"])
        print("bench-metrics: time=%.3f maxrss_kb=%d" % (cpu, maxrss))
    finally:
        if not reaped:
            proc.kill()  # runstat passes nothing on for SIGKILL, but the server dies with it
            proc.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        sys.exit("redis_bench: %s" % exc)
