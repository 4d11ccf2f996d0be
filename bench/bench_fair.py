"""bench_fair.py: the row "two customers, one bursting" of make bench.

Customer A (smtp-source from 127.0.0.1) bursts n messages to a receiving
server that takes DELAY s per DATA, over CONCURRENCY connections on both
relays (relaybox remote_workers and dest_concurrency, Postfix's smtp
destination concurrency); right after A's burst was accepted, customer B
(127.0.0.2, its own customer in relaybox's rules) sends B_MSGS messages
in one session.  Measured: each of B's messages from its 250 at the relay
to its arrival at the receiver; the row gives the median (p50) and the
99th percentile (p99) of a run, and the runs' medians of those.  The run
ends when all of B's messages arrived (A's backlog is not waited for).

relaybox takes the customers in turn (fair_delivery), so B waits for a
few slots; Postfix schedules per destination only, so B waits behind
what is left of A's burst.  The receiver is the tests' sink (aiosmtpd,
tests/e2e/sink.py) with its slow handler, on loopback, on a free port,
stopped after every run."""
import os
import smtplib
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))
import sink as sinkmod  # noqa: E402

DELAY = 0.05        # s per DATA at the receiver
CONCURRENCY = 4     # connections to it, both relays
B_MSGS = 50
A_MIN = 200         # A's burst at least (2.5 s of the receiver's time),
                    # so that a short --scale run still has a backlog

RELAYBOX_CONF = "remote_workers = %d\ndest_concurrency = %d\n" % (
    CONCURRENCY, CONCURRENCY)
RELAYBOX_RULES = """\
customer quiet licenses=100000 paid=yes daily=1000000000 peak=1000000000
domain quiet.example customer=quiet
rule quiet device senders=domain auth=ip
ip quiet device 127.0.0.2
"""
POSTFIX_MAIN = ("smtp_destination_concurrency_limit = %d\n"
                "smtp_initial_destination_concurrency = %d\n"
                % (CONCURRENCY, CONCURRENCY))


class SlowSink:
    """The receiver: aiosmtpd taking DELAY s per DATA; records when each
    message arrived (SinkMessage.time)."""

    def __init__(self, workdir):
        del workdir
        self.sink = sinkmod.Sink()
        self.sink.busy = self.sink.peak = 0
        self.sink.delay = DELAY
        handler = sinkmod._Handler
        sinkmod._Handler = sinkmod.SlowHandler  # for this start only
        try:
            self.sink.start()
        finally:
            sinkmod._Handler = handler
        self.port = self.sink.port

    def arrivals(self, prefix):
        """recipient -> arrival time, for the recipients with prefix."""
        with self.sink.lock:
            return {r: m.time for m in self.sink.messages for r in m.rcpts
                    if r.startswith(prefix)}

    def wait_for(self, n, timeout):
        if not self.sink.wait_for(n, timeout):
            raise RuntimeError("the sink got %d of %d messages within %d s"
                               % (self.sink.count(), n, timeout))

    def stop(self):
        self.sink.stop()


def send_b(port):
    """B's messages in one session from 127.0.0.2: recipient -> the time
    of its 250."""
    accepted = {}
    with smtplib.SMTP("127.0.0.1", port, source_address=("127.0.0.2", 0),
                      timeout=60) as c:
        for i in range(B_MSGS):
            rcpt = "quiet%d@example.org" % i
            c.sendmail("b@quiet.example", [rcpt],
                       b"Subject: quiet %d\r\n\r\npassword reset\r\n" % i)
            accepted[rcpt] = time.time()
    return accepted


def percentile(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def run(relay, sink, n, smtp_source, bound):
    """A's burst of n (at least A_MIN), then B's messages; (p50, p99) of
    B's latency in s."""
    smtp_source(relay.port, max(n, A_MIN), 20)
    accepted = send_b(relay.port)
    deadline = time.monotonic() + bound
    while True:
        got = sink.arrivals("quiet")
        if len(got) >= B_MSGS:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("B: %d of %d messages arrived within %d s"
                               % (len(got), B_MSGS, bound))
        time.sleep(0.05)
    lat = [got[r] - accepted[r] for r in accepted]
    return percentile(lat, 50), percentile(lat, 99)


def table_line(res):
    """The row below the table: each relay's medians over the runs."""
    parts = []
    for name in ("relaybox", "postfix"):
        runs = res.get(name) or []
        if runs:
            p50 = statistics.median(r[0] for r in runs)
            p99 = statistics.median(r[1] for r in runs)
            parts.append("%s p50 %.2f s, p99 %.2f s" % (name, p50, p99))
    return ("two customers, one bursting: B's delivery latency (%d msgs "
            "after A's burst, %d connections at %.0f ms a message): %s"
            % (B_MSGS, CONCURRENCY, DELAY * 1000, "; ".join(parts) or "-"))
