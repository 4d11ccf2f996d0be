#!/usr/bin/python3
"""bench.py: relaybox against Postfix, side by side, in one run.

Both relays run on loopback with the same job: accept from smtp-source,
queue durably, relay everything to one counting smtp-sink.  Runs alternate
(relaybox, Postfix, relaybox, ...) so that a noisy machine hurts both
alike; each scenario reports the median and the min-max of its runs, the
ratio relaybox/Postfix, and the peak memory (PSS summed over every process
of each instance).  The disk's fsync rate is measured first as the bound.

Usage: bench/bench.py [--scale F] [--runs N] [--only a,b] [--bin DIR]
  --scale 0.05 runs every scenario with 5% of the messages (CI's short run).
Every loop here is bounded in count and time; only loopback is used; both
instances are stopped at the end, also on failure.  Needs root for the
Postfix instance (Postfix's master insists); without root only relaybox runs.
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench_instances as inst  # noqa: E402


def fsync_rate(directory, count, parallel):
    """4 KiB write + fsync + rename, `parallel` writers; returns ops/s."""
    data = os.urandom(4096)

    def writer(idx, n):
        for i in range(n):
            tmp = os.path.join(directory, "t%d.%d" % (idx, i))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            os.rename(tmp, tmp + ".done")

    per = max(1, count // parallel)
    threads = [threading.Thread(target=writer, args=(t, per))
               for t in range(parallel)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
    return per * parallel / elapsed


class PeakPss:
    """Samples the PSS of a process tree every 0.2 s; keeps the peak."""

    def __init__(self, root_pid_fn):
        self.root_pid_fn = root_pid_fn
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.stop.wait(0.2):
            pids = inst.tree_pids(self.root_pid_fn())
            self.peak = max(self.peak, sum(inst.pss_kib(p) for p in pids))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def smtp_source(port, messages, sessions, rcpts=1, reuse=False, size=4096,
                timeout=900):
    args = ["/usr/sbin/smtp-source", "-s", str(sessions), "-m", str(messages),
            "-l", str(size), "-f", "bench@example.com",
            "-t", "rcpt@example.org", "-r", str(rcpts)]
    if reuse:
        args.append("-d")
    args.append("127.0.0.1:%d" % port)
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   check=True, timeout=timeout)


def scenario_accept(relay, sink, n, reuse):
    """Time to the last 250; for reuse, 100 messages per connection."""
    start = time.monotonic()
    if reuse:
        # smtp-source -d keeps one connection per session: 20 sessions and
        # 2,000 messages per call give 100 messages per connection.
        batch = 20 * 100
        left = n
        while left > 0:
            smtp_source(relay.port, min(batch, left), 20, reuse=True)
            left -= batch
    else:
        smtp_source(relay.port, n, 20)
    return n / (time.monotonic() - start)


def scenario_end_to_end(relay, sink, n, rcpts=1):
    start = time.monotonic()
    smtp_source(relay.port, n, 20, rcpts=rcpts)
    sink.wait_for(n, timeout=900)
    return n / (time.monotonic() - start)


SCENARIOS = {
    "accept": ("accept: 4 KiB, 1 rcpt, 20 sessions, 1 msg/conn", 20000,
               lambda r, s, n: scenario_accept(r, s, n, False)),
    "accept-reuse": ("accept-reuse: 100 msgs/conn", 20000,
                     lambda r, s, n: scenario_accept(r, s, n, True)),
    "end-to-end": ("end-to-end: until the sink has all", 20000,
                   lambda r, s, n: scenario_end_to_end(r, s, n)),
    "recipients": ("recipients: 50 rcpts/msg, end-to-end", 2000,
                   lambda r, s, n: scenario_end_to_end(r, s, n, rcpts=50)),
    "policy-off": ("relaybox without policy/rate (cost of service)", 20000,
                   lambda r, s, n: scenario_end_to_end(r, s, n)),
}


def run_scenario(key, relays, runs, scale, workdir):
    title, count, fn = SCENARIOS[key]
    n = max(20, int(count * scale))
    results = {name: [] for name in relays}
    peaks = {name: 0 for name in relays}
    for i in range(runs):
        for name, factory in relays.items():
            sink = inst.Sink(workdir)
            relay = factory(sink.port, policy=(key != "policy-off"))
            try:
                relay.start()
                with PeakPss(relay.root_pid) as pss:
                    rate = fn(relay, sink, n)
                    if key.startswith("accept"):
                        sink.wait_for(n, timeout=900)
                peaks[name] = max(peaks[name], pss.peak)
                results[name].append(rate)
                print("  %-12s run %d: %8.1f msg/s" % (name, i + 1, rate),
                      flush=True)
            finally:
                relay.stop()
                sink.stop()
    return title, n, results, peaks


def fmt(rates):
    if not rates:
        return "-"
    return "%.0f (%.0f-%.0f)" % (statistics.median(rates), min(rates),
                                 max(rates))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin-bench"))
    args = ap.parse_args()
    keys = [k for k in SCENARIOS if not args.only or k in args.only.split(",")]
    workdir = tempfile.mkdtemp(prefix="relaybox-bench.")
    os.chmod(workdir, 0o755)
    try:
        fsdir = os.path.join(workdir, "fsync")
        os.mkdir(fsdir)
        cnt = max(100, int(2000 * min(1.0, args.scale * 4)))
        serial = fsync_rate(fsdir, cnt // 4, 1)
        par = fsync_rate(fsdir, cnt, 20)
        print("disk: 4 KiB write+fsync+rename: %.0f/s serial, %.0f/s with "
              "20 in parallel" % (serial, par), flush=True)
        relays = {"relaybox": lambda port, policy: inst.Relaybox(
            workdir, args.bin, port, policy)}
        if os.geteuid() == 0:
            relays["postfix"] = lambda port, policy: inst.Postfix(
                workdir, port)
        else:
            print("not root: Postfix cannot run a private instance; "
                  "relaybox only", flush=True)
        rows = []
        for key in keys:
            if key == "policy-off":
                rb = {"relaybox": relays["relaybox"]}
                print("== %s" % key, flush=True)
                rows.append((key,) + run_scenario(key, rb, args.runs,
                                                  args.scale, workdir))
                continue
            print("== %s" % key, flush=True)
            rows.append((key,) + run_scenario(key, relays, args.runs,
                                              args.scale, workdir))
        print_table(rows, serial, par)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def print_table(rows, serial, par):
    print()
    print("%-14s %7s %20s %20s %7s %10s %10s" % (
        "scenario", "msgs", "relaybox msg/s", "postfix msg/s", "ratio",
        "rb PSS MiB", "pf PSS MiB"))
    for key, title, n, res, peaks in rows:
        rb, pf = res.get("relaybox", []), res.get("postfix", [])
        ratio = (statistics.median(rb) / statistics.median(pf)
                 if rb and pf else float("nan"))
        print("%-14s %7d %20s %20s %7.2f %10.1f %10s" % (
            key, n, fmt(rb), fmt(pf), ratio, peaks.get("relaybox", 0) / 1024,
            "%.1f" % (peaks["postfix"] / 1024) if "postfix" in peaks else "-"))
    print("disk fsync bound: %.0f/s serial, %.0f/s parallel" % (serial, par))


if __name__ == "__main__":
    main()
