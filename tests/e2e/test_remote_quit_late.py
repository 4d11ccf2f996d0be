#!/usr/bin/python3
"""test_remote_quit_late.py: relay-remote answers a job's result before
it closes the used-up connection.  With conn_cache_max = 1 every
connection is closed with QUIT after its one message, and the server
here holds its reply to QUIT for QUIT_DELAY s: the result frame must
come well before that reply (it used to wait for it, which delayed every
conn_cache_max-th result and widened the window in which a killed worker
makes a delivered message go again).  A job sent as soon as the result
is in is read and delivered once the QUIT is done, on a new connection;
each message arrives once, and both "status=sent" log lines are
written.  The harness is test_remote.py's; the server is a raw script."""
import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_remote as h  # noqa: E402
from harness import ThreadServer  # noqa: E402

QUIT_DELAY = 1.5
IP = "127.0.0.41"


class SlowQuitServer(ThreadServer):
    """SMTP without PIPELINING; QUIT is answered QUIT_DELAY s late.
    Records when each QUIT came and was answered, and the Subjects of
    the messages taken."""

    def __init__(self, ip, port):
        self.subjects, self.quit_at, self.bye_at = [], [], []
        super().__init__(ip, port)

    def command(self, c, line):
        verb = line.split(b" ")[0].upper().decode("ascii", "replace")
        if verb == "QUIT":
            self.quit_at.append(time.monotonic())
            time.sleep(QUIT_DELAY)
            self.bye_at.append(time.monotonic())
        rep = {"EHLO": "250 script", "DATA": "354 go",
               "QUIT": "221 bye"}.get(verb, "250 ok")
        c.sendall(rep.encode() + b"\r\n")
        return verb

    def session(self, c):
        buf, in_data = b"", False
        c.sendall(b"220 script\r\n")
        while True:
            data = c.recv(65536)
            if not data:
                return
            buf += data
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                if in_data and line.startswith(b"Subject: "):
                    self.subjects.append(line[9:].decode())
                elif in_data and line == b".":
                    in_data = False
                    c.sendall(b"250 2.0.0 queued\r\n")
                elif not in_data:
                    verb = self.command(c, line)
                    in_data = verb == "DATA"
                    if verb == "QUIT":
                        return


def send(inst, s, n):
    rcpt = "r%d@late.test" % n
    qid, path = inst.queue_file("a@relay.test", [rcpt],
                                b"Subject: late-%d\r\n\r\nhello\r\n" % n)
    h.send_job(s, ["qid=%s" % qid, "file=%s" % path, "host=%s" % IP,
                   "port=%d" % inst.smtp_port, "tls=may", "auth=",
                   "domain=late.test", "rcpt=0 %s" % rcpt], path)


def result(s):
    res = h.read_netstring(s).decode().splitlines()
    st = [ln.split(" ", 3) for ln in res if ln.startswith("rcpt=")]
    return (st[0][1], int(st[0][2])) if st else ("?", 0)


def test_result_before_quit(inst):
    srv = SlowQuitServer(IP, inst.smtp_port)
    s = inst.connect()
    try:
        t0 = time.monotonic()
        send(inst, s, 0)
        r0 = result(s)
        took = time.monotonic() - t0
        h.check("delivered", r0 == ("D", 250), "%r" % (r0,))
        h.check("the result came before the reply to QUIT (%.2f s; the "
                "server holds it %.1f s)" % (took, QUIT_DELAY),
                took < QUIT_DELAY * 0.6 and not srv.bye_at,
                "%.2f s, bye %r" % (took, srv.bye_at))
        send(inst, s, 1)  # at once, while the QUIT is under way
        r1 = result(s)
        h.check("the next job, sent during the QUIT: delivered",
                r1 == ("D", 250), "%r" % (r1,))
        h.check("on a new connection, after the QUIT was answered",
                srv.conns == 2 and len(srv.bye_at) >= 1,
                "conns=%d bye=%r" % (srv.conns, srv.bye_at))
        h.check("each message once", srv.subjects == ["late-0", "late-1"],
                "%r" % srv.subjects)
    finally:
        s.close()
        srv.stop.set()
    deadline = time.time() + 10
    while time.time() < deadline and \
            inst.logtext().count("status=sent") < 2:
        time.sleep(0.05)
    h.check("both results logged: status=sent, once each",
            [inst.logtext().count("to=<r%d@late.test>" % i)
             for i in (0, 1)] == [1, 1] and
            inst.logtext().count("status=sent") == 2,
            inst.logtext()[-2000:])


def main():
    return h.run(h.Instance({}, {"conn_cache_max": 1}),
                 test_result_before_quit)


if __name__ == "__main__":
    signal.alarm(120)
    sys.exit(main())
