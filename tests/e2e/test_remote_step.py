#!/usr/bin/python3
"""test_remote_step.py: relay-remote never reads one reply for another.
A final reply that comes after remote_timeout, a malformed one, or a
reply nobody asked for leaves the connection's reply stream in an
unknown state: the connection must be closed, never RSET, cached or
reused.  Else (as once) the next job on it takes the late reply for its
MAIL's, its MAIL's for its RCPT's, and a BDAT the server refused is
recorded delivered; or, with the next job's commands pipelined after the
dot, the RSET lands inside that job's DATA and becomes the first line of
its message.  The reply to the end of a message has a wait of its own,
remote_data_done_timeout.  The harness is test_remote.py's; the server
is a raw script, one thread per connection, that acts on the message's
Subject."""
import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_remote as h  # noqa: E402
from harness import ThreadServer  # noqa: E402

# the reply to the end of a message, by its Subject
FINAL = {
    b"slow": [2.6, b"250 2.0.0 late but queued\r\n"],  # > remote_timeout 2
    b"malformed": [0, b"250-message queued\r\n251-odd\r\n250 end\r\n"],
    b"extra": [0, b"250 2.0.0 queued\r\n", 0.05, b"250 2.0.0 unasked\r\n"],
    b"refuse": [0, b"554 5.7.1 refused\r\n"],
}


class StepServer(ThreadServer):
    """PIPELINING (and CHUNKING when chunking), every connection on a
    thread of its own.  Records the commands, and each message taken."""

    def __init__(self, ip, port, chunking):
        self.chunking = chunking
        self.verbs, self.msgs = [], []
        super().__init__(ip, port, threaded=True)

    def final(self, c, body):
        subject = body.split(b"\r\n", 1)[0].split(b": ", 1)[-1]
        steps = FINAL.get(subject, [0, b"250 2.0.0 queued\r\n"])
        if steps[1].startswith(b"250"):
            self.msgs.append(body)
        for i in range(0, len(steps), 2):
            time.sleep(steps[i])
            c.sendall(steps[i + 1])

    def data(self, c, f):
        c.sendall(b"354 go\r\n")
        body = b""
        for x in f:
            if x == b".\r\n":
                return self.final(c, body)
            body += x[1:] if x.startswith(b".") else x

    def session(self, c):
        f = c.makefile("rb")
        ext = b"250-PIPELINING\r\n250 CHUNKING\r\n" if self.chunking \
            else b"250 PIPELINING\r\n"
        c.sendall(b"220 step\r\n")
        for line in f:
            verb = line.split(b" ")[0].strip().upper()
            self.verbs.append(verb)
            if verb == b"EHLO":
                c.sendall(b"250-step\r\n" + ext)
            elif verb == b"BDAT":
                self.final(c, f.read(int(line.split()[1])))
            elif verb == b"DATA":
                self.data(c, f)
            elif verb == b"QUIT":
                return c.sendall(b"221 bye\r\n")
            else:  # an RSET's reply apart from a late one before it
                time.sleep(0.05 if verb == b"RSET" else 0)
                c.sendall(b"250 ok " + verb + b"\r\n")


def body(subject):
    return b"Subject: %s\r\n\r\nhello\r\n" % subject


def send(inst, s, ip, subject, rcpt):
    qid, path = inst.queue_file("a@relay.test", [rcpt], body(subject))
    lines = ["qid=%s" % qid, "file=%s" % path, "host=%s" % ip,
             "port=%d" % inst.smtp_port, "tls=may", "auth=",
             "domain=example.org", "rcpt=0 %s" % rcpt]
    h.send_job(s, lines, path)


def result(s):
    res = h.read_netstring(s).decode().splitlines()
    st = [ln[5:].split(" ", 3) for ln in res if ln.startswith("rcpt=")]
    return (st[0][1], int(st[0][2]), st[0][3]) if st else ("?", 0, "")


def two_jobs(inst, ip, chunking, first, second):
    """Two jobs sent back to back on one connection; their results."""
    srv = StepServer(ip, inst.smtp_port, chunking)
    s = inst.connect()
    try:
        send(inst, s, ip, first, "one@example.org")
        send(inst, s, ip, second, "two@example.org")
        return srv, result(s), result(s)
    finally:
        s.close()
        srv.stop.set()


def test_bad_final_bdat(inst):
    """A late reply to BDAT, then a malformed one: the job deferred, the
    next one's refusal seen on a new connection."""
    for ip, first, what, said in (("127.0.0.41", b"slow", "late", "timeout"),
                                  ("127.0.0.42", b"malformed", "malformed",
                                   "malformed")):
        srv, r1, r2 = two_jobs(inst, ip, True, first, b"refuse")
        h.check("%s reply to BDAT: deferred, and said so" % what,
                r1[:2] == ("T", 421) and said in r1[2], "%r" % (r1,))
        h.check("%s reply to BDAT: the next message's 554 is seen (B)" % what,
                r2[:2] == ("B", 554), "%r" % (r2,))
        h.check("%s reply to BDAT: connection closed, not RSET" % what,
                srv.conns == 2 and b"RSET" not in srv.verbs,
                "conns=%d %r" % (srv.conns, srv.verbs))


def test_late_dot_pipelined(inst):
    srv, r1, r2 = two_jobs(inst, "127.0.0.43", False, b"slow", b"next")
    h.check("late reply to the dot: that job deferred", r1[0] == "T",
            "%r" % (r1,))
    h.check("late reply to the dot: the pipelined job delivered on a new "
            "connection", r2[0] == "D" and srv.conns == 2,
            "%r conns=%d" % (r2, srv.conns))
    h.check("late reply to the dot: no RSET inside the next message",
            [m for m in srv.msgs if m != body(b"slow")] == [body(b"next")],
            "%r" % srv.msgs)


def test_unasked_reply(inst):
    """A reply line after the final one, in a packet of its own, before
    the connection is taken again within the same second."""
    ip = "127.0.0.44"
    srv = StepServer(ip, inst.smtp_port, True)
    s = inst.connect()
    try:
        frac = time.time() % 1
        time.sleep((1.02 - frac) if frac > 0.02 else 0)  # a second's start
        send(inst, s, ip, b"extra", "one@example.org")
        r1 = result(s)
        time.sleep(0.2)  # the unasked line is in by now
        send(inst, s, ip, b"refuse", "two@example.org")
        r2 = result(s)
    finally:
        s.close()
        srv.stop.set()
    h.check("unasked reply: first job delivered", r1[0] == "D", "%r" % (r1,))
    h.check("unasked reply: the next message's 554 is seen (B), on a new "
            "connection", r2[:2] == ("B", 554) and srv.conns == 2,
            "%r conns=%d" % (r2, srv.conns))


def test_data_done_timeout(_):
    """The reply to the end of the message is waited for
    remote_data_done_timeout, not remote_timeout (RFC 5321 4.5.3.2.6):
    a next hop that takes 2.6 s to take it, with remote_timeout 2, is not
    deferred (and sent the message again at every retry)."""
    inst = h.Instance({}, {"remote_timeout": 2, "remote_data_done_timeout": 5})
    try:
        for ip, chunking in (("127.0.0.45", True), ("127.0.0.46", False)):
            srv, r1, r2 = two_jobs(inst, ip, chunking, b"slow", b"next")
            what = "BDAT LAST" if chunking else "the dot"
            h.check("slow reply to %s within remote_data_done_timeout: "
                    "delivered" % what, r1[0] == "D" and r2[0] == "D",
                    "%r %r" % (r1, r2))
            h.check("slow reply to %s: one connection, each message once"
                    % what, srv.conns == 1 and sorted(srv.msgs) ==
                    [body(b"next"), body(b"slow")],
                    "conns=%d %r" % (srv.conns, srv.msgs))
    finally:
        inst.close()


def main():
    return h.run(h.Instance({}, {"remote_timeout": 2,
                                 "remote_data_done_timeout": 2}),
                 test_bad_final_bdat, test_late_dot_pipelined,
                 test_unasked_reply, test_data_done_timeout)


if __name__ == "__main__":
    signal.alarm(120)
    sys.exit(main())
