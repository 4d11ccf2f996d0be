#!/usr/bin/python3
"""prof.py: where a bench scenario's CPU goes, per message and per daemon.

Runs one scenario of bench.py against each relay asked for, alternated
(A B A B ...), and prints for every run its msg/s and the CPU each part
spent per message: the instance's processes grouped by name, the client
and the sink, with context switches per message.  CPU is counted from
the scenario's start until the sink has every message (delivery
included, also for the rows whose rate stops at the last 250).

Usage: bench/prof.py [--bin DIR] [--base DIR] [--no-postfix]
                     [--pairs K] SCENARIO [COUNT]
  SCENARIO: accept, end-to-end, tls or tls-resume (bench.py's rows);
  COUNT: messages a run (default 4000), 20 sessions as in bench.py.
  --base DIR   a second relaybox build, alternated with --bin (old/new).
Figures come from /proc: each live thread's time on CPU in nanoseconds
(schedstat), plus the clock ticks of children its processes reaped
(cutime + cstime: a process that ended during the run, such as a
Postfix smtpd or a relay-smtpd worker past its last use, is shown as
"PARENT's children"); the client's from getrusage.  After each name:
its CPU ms a message and (its context switches a message).  CPU
per message moves much less with the machine's load than msg/s does.
Loopback only, bounded like bench.py; every instance is stopped at the
end, also on failure or Ctrl-C.
"""
import argparse
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402
import bench_instances as inst  # noqa: E402
import bench_tls  # noqa: E402

ROWS = ("accept", "end-to-end", "tls", "tls-resume")
TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:  # the process or thread ended meanwhile
        return ""


def task_figures(pid, tid):
    """(ns on CPU, context switches) of one thread."""
    sched = read("/proc/%d/task/%s/schedstat" % (pid, tid)).split()
    switches = 0
    for line in read("/proc/%d/task/%s/status" % (pid, tid)).splitlines():
        if "ctxt_switches:" in line:  # voluntary and not
            switches += int(line.split()[1])
    return (int(sched[0]) if sched else 0), switches


def proc_figures(pid):
    """(name, ns, switches, ns of reaped children) of a process: its
    live threads, and what its children that ended cost; None once it
    is gone."""
    stat = read("/proc/%d/stat" % pid)
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    reaped = (int(fields[13]) + int(fields[14])) * TICK_NS
    ns = switches = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for tid in tids:
        t_ns, t_sw = task_figures(pid, tid)
        ns += t_ns
        switches += t_sw
    return read("/proc/%d/comm" % pid).strip(), ns, switches, reaped


def snapshot(pids):
    out = {}
    for pid in pids:
        got = proc_figures(pid)
        if got:
            out[pid] = got
    return out


def delta(before, after):
    """name -> [ns, switches] spent between two snapshots.  A process
    born in between counts whole; one that ended and was reaped counts
    as "NAME's children" under its parent's name (its switches are
    lost)."""
    out = {}
    for pid, (name, ns, sw, reaped) in after.items():
        old = before.get(pid, (name, 0, 0, 0))
        acc = out.setdefault(name, [0, 0])
        acc[0] += ns - old[1]
        acc[1] += sw - old[2]
        if reaped > old[3]:
            out.setdefault(name + "'s children", [0, 0])[0] += \
                reaped - old[3]
    return out


def client_ns():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1e9


def one_run(key, relay, sink, n, ctx):
    fn = bench.SCENARIOS[key][2]
    pids = lambda: relay.pids() + [sink.proc.pid]  # noqa: E731
    before, c0 = snapshot(pids()), client_ns()
    rate = fn(relay, sink, n, ctx)
    c1 = client_ns()
    sink.wait_for(n, timeout=bench.bounded(n))
    spent = delta(before, snapshot(pids()))
    spent["(client)"] = [c1 - c0, 0]
    return rate, spent


def per_msg(spent, n):
    """ms of CPU a message: (instance total, client, by name)."""
    ms = {k: v[0] / 1e6 / n for k, v in spent.items()}
    outside = ("(client)", "smtp-sink")
    total = sum(v for k, v in ms.items() if k not in outside)
    switches = sum(v[1] for k, v in spent.items() if k not in outside) / n
    return total, ms.get("(client)", 0.0), ms, switches


def describe(name, i, rate, spent, n):
    total, client, ms, sw = per_msg(spent, n)
    parts = sorted(((v, k) for k, v in ms.items()
                    if k not in ("(client)", "smtp-sink") and v >= 0.001),
                   reverse=True)
    print("%-9s run %d: %7.1f msg/s  instance %.3f ms/msg  client %.3f"
          "  sink %.3f  switches/msg %.1f" % (
              name, i, rate, total, client, ms.get("smtp-sink", 0.0), sw))
    print("          " + ", ".join(
        "%s %.3f (%.1f)" % (k, v, spent[k][1] / n) for v, k in parts[:8]),
        flush=True)
    return total, client


def relays(args, ctx):
    w = ctx["workdir"]
    tls = ctx["tls"]
    out = {"relaybox": lambda p: inst.Relaybox(w, ctx["bin"], p, tls=tls)}
    if args.base:
        out["base"] = lambda p: inst.Relaybox(w, ctx["base"], p, tls=tls)
    if not args.no_postfix and os.geteuid() == 0:
        out["postfix"] = lambda p: inst.Postfix(w, p, tls=tls)
    return out


def run(args, workdir):
    ctx = {"workdir": workdir, "root": os.geteuid() == 0, "tls": None,
           "bin": bench.snapshot_bins(args.bin, workdir), "count": {}}
    if args.base:
        os.mkdir(os.path.join(workdir, "base"))
        ctx["base"] = bench.snapshot_bins(args.base,
                                          os.path.join(workdir, "base"))
    if args.scenario.startswith("tls"):
        ctx["tls"] = bench_tls.TlsSetup(workdir, ctx["bin"])
    found = {}
    for i in range(1, args.pairs + 1):
        for name, factory in relays(args, ctx).items():
            sink = relay = None
            try:
                sink = inst.Sink(workdir)
                relay = factory(sink.port)
                relay.start()
                rate, spent = one_run(args.scenario, relay, sink,
                                      args.count, ctx)
                total, client = describe(name, i, rate, spent, args.count)
                found.setdefault(name, []).append((rate, total, client))
            finally:
                for x in (relay, sink):
                    if x:
                        x.stop()
    print("\nmedians of %d runs, %s, %d messages:" % (
        args.pairs, args.scenario, args.count))
    for name, got in found.items():
        print("  %-9s %7.1f msg/s  instance %.3f ms/msg  client %.3f" % (
            name, statistics.median(g[0] for g in got),
            statistics.median(g[1] for g in got),
            statistics.median(g[2] for g in got)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=ROWS)
    ap.add_argument("--bin", default=os.path.join(bench.ROOT, "bin"))
    ap.add_argument("--base", help="a second relaybox build to alternate")
    ap.add_argument("--no-postfix", action="store_true")
    ap.add_argument("--pairs", type=int, default=1)
    ap.add_argument("count", type=int, nargs="?", default=4000,
                    help="messages a run (default 4000)")
    args = ap.parse_args()
    if not 1 <= args.pairs <= 20 or not 20 <= args.count <= 100000:
        ap.error("--pairs must be in [1, 20], COUNT in [20, 100000]")
    signal.signal(signal.SIGTERM, bench.on_sigterm)
    workdir = tempfile.mkdtemp(prefix="relaybox-bench.")
    os.chmod(workdir, 0o755)
    try:
        run(args, workdir)
        return 0
    except RuntimeError as e:
        print("prof: FAILED: %s" % e, file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemExit):
        print("prof: interrupted", file=sys.stderr)
        return 130
    finally:
        for x in list(inst.LIVE):
            x.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
