#!/usr/bin/python3
"""bench.py: relaybox against Postfix, side by side, in one run.

Both relays run on loopback with the same job: accept from smtp-source,
queue durably, relay everything to one counting smtp-sink.  Runs alternate
(relaybox, Postfix, relaybox, ...) so that a noisy machine hurts both
alike; each scenario reports the median and the min-max of its runs, the
ratio relaybox/Postfix, and the peak memory (PSS summed over every process
of each instance).  The disk's fsync rate is measured first as the bound.

Usage: bench/bench.py [--scale F] [--runs N] [--only a,b] [--bin DIR]
                      [--out FILE] [--count tls=2000,...]
  --scale 0.02 runs every scenario with 2% of the messages (CI's short run).
Every loop here is bounded in count and time; only loopback is used; both
instances are stopped at the end, also on failure, Ctrl-C or SIGTERM.
Needs root for the Postfix instance (Postfix's master insists); without
root only relaybox runs.  Exits 0 when every scenario ran, 1 on a failure
(a relay that does not start, a sink that does not get every message in
time), with the reason on stderr.
"""
import argparse
import os
import re
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
import bench_dkim  # noqa: E402
import bench_fair  # noqa: E402
import bench_instances as inst  # noqa: E402
import bench_tls  # noqa: E402

# the programs a relaybox instance needs, copied from --bin at the start so
# that a rebuild of bin/ by someone else cannot change a running bench
PROGRAMS = ("relay-master", "relay-listen", "relay-smtpd", "relay-policy",
            "relay-queue", "relay-send", "relay-remote", "relay-metrics",
            "relayctl",
            "makecdb", "tls-source")


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
    """Samples the PSS of an instance's processes every 0.2 s; keeps the
    peak.  pids_fn: every process of the instance (its tree, and for
    Postfix + OpenDKIM the milter's)."""

    def __init__(self, pids_fn):
        self.pids_fn = pids_fn
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def sample(self):
        pids = self.pids_fn()
        self.peak = max(self.peak, sum(inst.pss_kib(p) for p in pids))

    def loop(self):
        while not self.stop.wait(0.2):
            self.sample()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        # a run shorter than one period still gets a figure
        self.sample()


def bounded(n):
    """Seconds allowed for n messages: a safety bound, not a target (at
    least 10 msg/s, at most 30 minutes)."""
    return int(min(1800, 60 + n / 10))


def run_client(args, n):
    try:
        r = subprocess.run(args, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           timeout=bounded(n))
    except subprocess.TimeoutExpired:
        raise RuntimeError("%s did not finish %d messages within %d s"
                           % (os.path.basename(args[0]), n, bounded(n)))
    if r.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s"
                           % (os.path.basename(args[0]), r.returncode,
                              r.stdout.strip()[-500:]))
    return r.stdout


def smtp_source(port, messages, sessions, rcpts=1, reuse=False, size=4096):
    args = ["/usr/sbin/smtp-source", "-s", str(sessions), "-m", str(messages),
            "-l", str(size), "-f", "bench@example.com",
            "-t", "rcpt@example.org", "-r", str(rcpts)]
    if reuse:
        args.append("-d")
    args.append("127.0.0.1:%d" % port)
    run_client(args, messages)


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
    sink.wait_for(n, timeout=bounded(n))
    return n / (time.monotonic() - start)


def scenario_tls(relay, sink, n, ctx, resume=False):
    """(1) over STARTTLS + AUTH PLAIN: bench/tls_source.c, 20 sessions;
    resume: each offers its previous connection's session (ticket)."""
    start = time.monotonic()
    out = run_client([os.path.join(ctx["bin"], "tls-source"), "-s", "20",
                      "-m", str(n), "-l", "4096", "-T", str(bounded(n)),
                      "-a", ctx["tls"].client_auth()] +
                     (["-r"] if resume else []) +
                     ["127.0.0.1:%d" % relay.port], n)
    rate = n / (time.monotonic() - start)
    # each process's first connection cannot resume; every other must,
    # or the row would time full handshakes under the resumption title
    got = re.search(r"(\d+) handshakes resumed", out)
    if resume and (not got or int(got.group(1)) < n - 20):
        raise RuntimeError("tls-source resumed %s of %d handshakes"
                           % (got.group(1) if got else "none", n - 20))
    return rate


def scenario_archive(relay, sink, n, ctx):
    """end-to-end until the sink has every message and the archive's sink
    every copy."""
    start = time.monotonic()
    smtp_source(relay.port, n, 20)
    sink.wait_for(n, timeout=bounded(n))
    relay.archive_sink.wait_for(n, timeout=bounded(n))
    return n / (time.monotonic() - start)


def read_reply(s):
    """Bytes up to the end of one whole SMTP reply."""
    buf = b""
    while not buf.endswith(b"\r\n") or buf.split(b"\r\n")[-2][3:4] == b"-":
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed after %r" % buf[-100:])
        buf += chunk
    return buf


def scenario_sessions(relay, sink, n, ctx):
    """n connections open at once, each past its EHLO, held 3 s so that
    the PSS sampler sees them all; the figure is sessions opened per
    second (the row's point is its MiB column)."""
    socks = []
    start = time.monotonic()
    try:
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", relay.port),
                                                  timeout=bounded(n)))
        for s in socks:
            read_reply(s)
            s.sendall(b"EHLO bench.example.com\r\n")
        for s in socks:
            read_reply(s)
        rate = n / (time.monotonic() - start)
        time.sleep(3)
    finally:
        for s in socks:
            s.close()
    return rate


# key: (title, messages at scale 1, measure(relay, sink, n, ctx),
#       the relays it compares, whether the time ends at the last 250)
SCENARIOS = {
    "accept": ("4 KiB, 1 rcpt, 20 sessions, 1 msg/conn, to the last 250",
               20000, lambda r, s, n, c: scenario_accept(r, s, n, False),
               "both", True),
    "accept-reuse": ("the same, 100 msgs/conn", 20000,
                     lambda r, s, n, c: scenario_accept(r, s, n, True),
                     "both", True),
    "end-to-end": ("accept until the sink has all", 20000,
                   lambda r, s, n, c: scenario_end_to_end(r, s, n),
                   "both", False),
    "recipients": ("50 rcpts/msg, end-to-end", 2000,
                   lambda r, s, n, c: scenario_end_to_end(r, s, n, rcpts=50),
                   "both", False),
    "rate": ("end-to-end, relaybox rate accounting on vs off", 20000,
             lambda r, s, n, c: scenario_end_to_end(r, s, n),
             "rate", False),
    "metrics": ("end-to-end, relay-metrics scraped every second vs not "
                "running", 20000,
                lambda r, s, n, c: scenario_end_to_end(r, s, n),
                "metrics", False),
    "accept-store": ("accept, relaybox rate_store = local vs redis (one "
                     "redis-server on loopback)", 20000,
                     lambda r, s, n, c: scenario_accept(r, s, n, False),
                     "store", True),
    "accept-multi": ("accept, relaybox smtpd_sessions_per_worker = 1000 "
                     "(many sessions a worker) vs 1 (one at a time)", 20000,
                     lambda r, s, n, c: scenario_accept(r, s, n, False),
                     "multi", True),
    "tls": ("accept over STARTTLS + AUTH PLAIN, 1 msg/conn", 20000,
            scenario_tls, "tls", True),
    "tls-resume": ("the same, each client resuming its last session "
                   "(TLS 1.3 ticket)", 20000,
                   lambda r, s, n, c: scenario_tls(r, s, n, c, resume=True),
                   "tls", True),
    "dkim-rsa": ("end-to-end, DKIM RSA-2048: relaybox signs in relay-queue,"
                 " Postfix through the OpenDKIM milter, same key", 20000,
                 lambda r, s, n, c: scenario_end_to_end(r, s, n),
                 "dkim-rsa", False),
    "dkim-ed25519": ("the same with an Ed25519 key (RFC 8463)", 20000,
                     lambda r, s, n, c: scenario_end_to_end(r, s, n),
                     "dkim-ed25519", False),
    "fair": ("two customers, one bursting: A bursts to a slow receiver, "
             "B's 50 messages' delivery latency", 2000,
             lambda r, s, n, c: bench_fair.run(r, s, n, smtp_source,
                                               bounded(n)),
             "fair", False),
    "scan": ("end-to-end, every message scanned by one rspamd on loopback:"
             " relaybox scan=score (HTTP, before the 250), Postfix through"
             " rspamd's milter (proxy worker)", 20000,
             lambda r, s, n, c: scenario_end_to_end(r, s, n),
             "scan", False),
    "sessions": ("concurrent sessions: N open at once past EHLO, held 3 s;"
                 " msg/s = sessions opened per s, MiB = peak PSS (relaybox"
                 " smtpd_sessions_per_worker = 1000, Postfix"
                 " default_process_limit = 1000)", 1000, scenario_sessions,
                 "sessions", False),
    "archive": ("end-to-end, every message copied to an archive address"
                " on a second sink: relaybox archive=, Postfix always_bcc",
                20000, scenario_archive, "archive", False),
}


# rows of two relaybox variants alternated in one scenario, each against
# Postfix's accept figure: (the base, the variant) for the ratio line
PAIRS = {"accept-store": ("accept/local", "accept/redis"),
         "accept-multi": ("accept/single", "accept/multi")}


def relays_for(kind, ctx):
    """name -> factory(sink_port) of the relays a scenario compares, in
    the order they alternate."""
    b, w = ctx["bin"], ctx["workdir"]
    if kind == "rate":
        return {"rate-on": lambda p: inst.Relaybox(w, b, p),
                "rate-off": lambda p: inst.Relaybox(w, b, p, rate=False)}
    if kind == "metrics":
        return {"metrics-on": lambda p: inst.Relaybox(w, b, p, scraped=True),
                "metrics-off": lambda p: inst.Relaybox(w, b, p)}
    if kind == "store":
        if not ctx.get("redis"):
            ctx["redis"] = bench_redis().start()
        return {"accept/local": lambda p: inst.Relaybox(w, b, p),
                "accept/redis": lambda p: inst.Relaybox(
                    w, b, p, store=ctx["redis"])}
    if kind == "multi":
        return {"accept/multi": lambda p: inst.Relaybox(
                    w, b, p, extra=("smtpd_sessions_per_worker = 1000\n", "")),
                "accept/single": lambda p: inst.Relaybox(
                    w, b, p, extra=("smtpd_sessions_per_worker = 1\n", ""))}
    if kind.startswith("dkim-"):
        return dkim_relays(kind[5:], ctx)
    if kind == "fair":
        out = {"relaybox": lambda p: inst.Relaybox(
            w, b, p, extra=(bench_fair.RELAYBOX_CONF,
                            bench_fair.RELAYBOX_RULES))}
        if ctx["root"]:
            out["postfix"] = lambda p: inst.Postfix(
                w, p, main_extra=bench_fair.POSTFIX_MAIN)
        return out
    if kind == "scan":
        return scan_relays(ctx)
    if kind == "sessions":
        out = {"relaybox": lambda p: inst.Relaybox(
            w, b, p, extra=("smtpd_sessions_per_worker = 1000\n"
                            "smtpd_max_use = 100000\n", ""))}
        if ctx["root"]:
            out["postfix"] = lambda p: inst.Postfix(
                w, p, main_extra="default_process_limit = 1000\n")
        return out
    if kind == "archive":
        out = {"relaybox": lambda p: inst.Relaybox(w, b, p,
                                                   archive=inst.Sink(w))}
        if ctx["root"]:
            out["postfix"] = lambda p: inst.Postfix(w, p,
                                                    archive=inst.Sink(w))
        return out
    tls = ctx["tls"] if kind == "tls" else None
    out = {"relaybox": lambda p: inst.Relaybox(w, b, p, tls=tls)}
    if ctx["root"]:
        out["postfix"] = lambda p: inst.Postfix(w, p, tls=tls)
    return out


def bench_redis():
    """The tests' redis-server helper (loopback, free port, temp dir)."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
    from redisserver import RedisServer
    return RedisServer()


def scan_relays(ctx):
    """One rspamd for the scenario (the tests' helper: loopback, free
    ports, a normal and a proxy worker, one process each): relaybox asks
    the normal worker over HTTP, Postfix the proxy worker as a milter."""
    b, w = ctx["bin"], ctx["workdir"]
    if not ctx.get("rspamd"):
        sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
        from rspamd import Rspamd
        ctx["rspamd"] = Rspamd().start()
    rsp = ctx["rspamd"]
    out = {"relaybox": lambda p: inst.Relaybox(w, b, p, scan=rsp.addr)}
    if ctx["root"]:
        out["postfix"] = lambda p: inst.Postfix(
            w, p, milter=lambda folder: inst.SharedMilter(rsp.milter))
    return out


def dkim_relays(alg, ctx):
    """relaybox signing in relay-queue, Postfix + OpenDKIM with the same
    key; each checked once to sign (bench_dkim.probe) before the runs."""
    b, w = ctx["bin"], ctx["workdir"]
    if not ctx.get("dkim"):
        ctx["dkim"] = bench_dkim.DkimKeys(w)
    keys = ctx["dkim"]
    out = {"relaybox": lambda p: inst.Relaybox(w, b, p, dkim=(keys, alg))}
    if ctx["root"]:
        out["postfix"] = lambda p: inst.Postfix(
            w, p, milter=lambda folder: bench_dkim.OpenDkim(folder, keys, alg))
    for name, factory in out.items():
        bench_dkim.probe(name, factory, alg)
    return out


def run_scenario(key, ctx, runs, scale):
    title, count, fn, kind, drain = SCENARIOS[key]
    n = max(20, int(ctx["count"].get(key, count) * scale))
    relays = relays_for(kind, ctx)
    results = {name: [] for name in relays}
    peaks = {name: 0 for name in relays}
    for i in range(runs):
        for name, factory in relays.items():  # A B A B: noise hits both
            sink = relay = None
            try:
                sink = (bench_fair.SlowSink if kind == "fair"
                        else inst.Sink)(ctx["workdir"])
                relay = factory(sink.port)
                relay.start()
                with PeakPss(relay.pids) as pss:
                    rate = fn(relay, sink, n, ctx)
                    if drain:  # the next run starts with an empty queue
                        sink.wait_for(n, timeout=bounded(n))
                peaks[name] = max(peaks[name], pss.peak)
                results[name].append(rate)
                scr = getattr(relay, "scraper", None)
                print("  %-12s run %d: %s%s" % (name, i + 1, (
                    "p50 %.2f s, p99 %.2f s" % rate if kind == "fair"
                    else "%8.1f msg/s" % rate),
                    " (%d scrapes answered)" % scr.ok if scr else ""),
                    flush=True)
            except RuntimeError as e:
                raise RuntimeError("%s, %s run %d: %s" % (key, name, i + 1, e))
            finally:
                for x in (relay, sink):
                    if x:
                        x.stop()
    return title, n, results, peaks


def fmt(rates):
    if not rates:
        return "-"
    return "%.0f (%.0f-%.0f)" % (statistics.median(rates), min(rates),
                                 max(rates))


def ratio(a, b):
    return "%.2f" % (a / b) if a and b else "-"


def table_rows(rows):
    """(scenario, msgs, rb rates, pf rates, rb peak KiB, pf peak KiB); the
    rate scenario gives two rows, against Postfix's end-to-end figure."""
    out = []
    pf_e2e = pf_acc = ([], 0)
    for key, title, n, res, peaks in rows:
        if key == "end-to-end":
            pf_e2e = (res.get("postfix", []), peaks.get("postfix", 0))
        if key == "accept":
            pf_acc = (res.get("postfix", []), peaks.get("postfix", 0))
        if key == "fair":
            continue  # latencies, not rates: a line of its own
        if key in PAIRS:
            for name in PAIRS[key]:
                out.append((name, n, res[name], pf_acc[0], peaks[name],
                            pf_acc[1]))
            continue
        if key in ("rate", "metrics"):
            for name in (key + "-on", key + "-off"):
                out.append((name, n, res[name], pf_e2e[0], peaks[name],
                            pf_e2e[1]))
            continue
        out.append((key, n, res["relaybox"], res.get("postfix", []),
                    peaks["relaybox"], peaks.get("postfix", 0)))
    return out


def format_table(rows, serial, par):
    lines = ["%-13s %6s %18s %18s %6s %7s %7s %6s" % (
        "scenario", "msgs", "relaybox msg/s", "postfix msg/s", "ratio",
        "rb MiB", "pf MiB", "mem")]
    for key, n, rb, pf, rbk, pfk in table_rows(rows):
        med = [statistics.median(x) if x else 0 for x in (rb, pf)]
        lines.append("%-13s %6d %18s %18s %6s %7.1f %7s %6s" % (
            key, n, fmt(rb), fmt(pf), ratio(*med), rbk / 1024,
            "%.1f" % (pfk / 1024) if pfk else "-", ratio(rbk, pfk)))
    what = {"rate": "rate accounting",
            "metrics": "relay-metrics scraped every second"}
    for key, title, n, res, peaks in rows:
        on_k, off_k = key + "-on", key + "-off"
        if key in what and res[on_k] and res[off_k]:
            on, off = (statistics.median(res[k]) for k in (on_k, off_k))
            overlap = (min(res[on_k]) <= max(res[off_k]) and
                       min(res[off_k]) <= max(res[on_k]))
            lines.append("%s costs %.1f%% of end-to-end "
                         "throughput (on %.0f, off %.0f msg/s, same runs%s)"
                         % (what[key], 100 * (1 - on / off), on, off,
                            "; the ranges overlap: within the noise"
                            if overlap else ""))
    for key, title, n, res, peaks in rows:
        names = PAIRS.get(key, ())
        if names and all(res[k] for k in names):
            base, other = (statistics.median(res[k]) for k in names)
            lines.append("%s: %.2f of %s (%.0f vs %.0f msg/s, same runs)"
                         % (names[1], other / base, names[0], other, base))
    for key, title, n, res, peaks in rows:
        if key == "fair":
            lines.append(bench_fair.table_line(res))
    lines.append("msg/s: median (min-max) of the runs; ratio = relaybox / "
                 "postfix medians; MiB = peak PSS over all processes of "
                 "the instance; mem = rb / pf")
    lines.append("rate-on/off, metrics-on/off: postfix column = its "
                 "end-to-end figure; "
                 "accept/local, accept/redis, accept/multi, accept/single:"
                 " its accept figure")
    lines.append("disk fsync bound (4 KiB write+fsync+rename): %.0f/s serial,"
                 " %.0f/s with 20 in parallel" % (serial, par))
    return "\n".join(lines) + "\n"


def snapshot_bins(src, workdir):
    dst = os.path.join(workdir, "bin")
    os.mkdir(dst)
    os.chmod(dst, 0o755)
    missing = [p for p in PROGRAMS
               if not os.access(os.path.join(src, p), os.X_OK)]
    if missing:
        raise RuntimeError("missing in %s: %s (did the build fail?)"
                           % (src, " ".join(missing)))
    for p in PROGRAMS:
        shutil.copy2(os.path.join(src, p), dst)
    return dst


def measure_disk(workdir, scale):
    fsdir = os.path.join(workdir, "fsync")
    os.mkdir(fsdir)
    cnt = max(100, int(2000 * min(1.0, scale * 4)))
    serial = fsync_rate(fsdir, cnt // 4, 1)
    par = fsync_rate(fsdir, cnt, 20)
    print("disk: 4 KiB write+fsync+rename: %.0f/s serial, %.0f/s with "
          "20 in parallel" % (serial, par), flush=True)
    return serial, par


def run_all(args, workdir):
    ctx = {"workdir": workdir, "root": os.geteuid() == 0,
           "bin": snapshot_bins(args.bin, workdir), "tls": None,
           "count": args.count}
    keys = [k for k in SCENARIOS if not args.only or k in args.only.split(",")]
    serial, par = measure_disk(workdir, args.scale)
    if not ctx["root"]:
        print("not root: Postfix cannot run a private instance; "
              "relaybox only", flush=True)
    if "tls" in keys or "tls-resume" in keys:
        ctx["tls"] = bench_tls.TlsSetup(workdir, ctx["bin"])
    rows = []
    try:
        for key in keys:
            print("== %s: %s" % (key, SCENARIOS[key][0]), flush=True)
            rows.append((key,) + run_scenario(key, ctx, args.runs,
                                              args.scale))
            write_table(args, format_table(rows, serial, par), keys, rows)
    except BaseException:
        if rows:  # what finished is still worth reading
            print("\nscenarios completed before the failure:")
            print(format_table(rows, serial, par), end="", flush=True)
        raise
    finally:
        if ctx.get("redis"):
            ctx["redis"].close()
        if ctx.get("rspamd"):
            ctx["rspamd"].stop()
            ctx["rspamd"].remove()
    return format_table(rows, serial, par)


def write_table(args, table, keys, rows):
    """The table so far, rewritten after every scenario."""
    left = [k for k in keys[len(rows):]]
    with open(args.out, "w") as f:
        f.write("make bench %s, scale %g, %d runs%s\n" % (
            time.strftime("%Y-%m-%d %H:%M:%S"), args.scale, args.runs,
            ", not yet run: " + " ".join(left) if left else ""))
        f.write(table)


def on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through every finally


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin"))
    ap.add_argument("--out", default=os.path.join(HERE, "last-run.txt"))
    ap.add_argument("--count", default="", help="KEY=N,...: the messages "
                    "of a scenario at scale 1 (e.g. tls=2000)")
    args = ap.parse_args()
    try:
        args.count = {k: int(v) for k, v in (item.split("=") for item in
                                             args.count.split(",") if item)}
    except ValueError:
        ap.error("--count wants KEY=N,...")
    if not 0 < args.scale <= 10 or not 1 <= args.runs <= 20:
        ap.error("--scale must be in (0, 10], --runs in [1, 20]")
    signal.signal(signal.SIGTERM, on_sigterm)
    workdir = tempfile.mkdtemp(prefix="relaybox-bench.")
    os.chmod(workdir, 0o755)
    status = 0
    try:
        table = run_all(args, workdir)
        print()
        print(table, end="")
        print("table written to %s" % args.out)
    except RuntimeError as e:
        print("bench: FAILED: %s" % e, file=sys.stderr, flush=True)
        status = 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr, flush=True)
        status = 130
    except SystemExit as e:  # SIGTERM
        print("bench: terminated", file=sys.stderr, flush=True)
        status = e.code
    finally:
        for x in list(inst.LIVE):  # whatever an interruption left running
            x.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
