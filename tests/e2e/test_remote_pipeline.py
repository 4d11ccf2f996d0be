#!/usr/bin/python3
"""test_remote_pipeline.py: several jobs sent to relay-remote at once, as
relay-send does when a worker is busy with the same destination.  They
run in order, one result frame each; the next job's MAIL/RCPT/DATA go out
in the same write as the previous message's dot (the server reads
".\\r\\nMAIL FROM" in one chunk); no RSET between finished transactions.
When the server answers a dot with 421 and hangs up, the job whose
commands were already on the wire is retried on a new connection and
arrives exactly once; after a 554 to a dot the connection carries on.
The harness is test_remote.py's; the server is a raw script that records
what each read brought."""
import os
import signal
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_remote as h  # noqa: E402
from harness import ThreadServer  # noqa: E402


class ChunkServer(ThreadServer):
    """SMTP with PIPELINING; the n-th final dot (counted over every
    connection, from 0) is answered from dot_replies (default 250), and
    "close" after a reply hangs up.  Records each read's bytes, the
    commands, the connections and the messages taken (by Subject)."""

    def __init__(self, ip, port, dot_replies=None):
        self.dot_replies = dot_replies or {}
        self.chunks, self.verbs, self.subjects = [], [], []
        self.dots = 0
        super().__init__(ip, port)

    def reply_dot(self, c, body):
        rep = self.dot_replies.get(self.dots, "250 2.0.0 queued")
        self.dots += 1
        close = rep.endswith(" close")
        rep = rep[:-6] if close else rep
        if rep.startswith("250"):
            for line in body:
                if line.startswith(b"Subject: "):
                    self.subjects.append(line[9:].decode())
        c.sendall(rep.encode() + b"\r\n")
        return close

    def command(self, c, line):
        verb = line.split(b" ")[0].upper().decode("ascii", "replace")
        self.verbs.append(verb)
        rep = {"EHLO": "250-script\r\n250 PIPELINING", "DATA": "354 go",
               "QUIT": "221 bye"}.get(verb, "250 ok")
        c.sendall(rep.encode() + b"\r\n")
        return verb

    def session(self, c):
        buf, body, in_data = b"", [], False
        c.sendall(b"220 script\r\n")
        while True:
            data = c.recv(65536)
            if not data:
                return
            self.chunks.append(data)
            buf += data
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                if in_data and line != b".":
                    body.append(line)
                elif in_data:
                    in_data = False
                    if self.reply_dot(c, body):
                        return
                    body = []
                else:
                    verb = self.command(c, line)
                    in_data = verb == "DATA"
                    if verb == "QUIT":
                        return



def batch(inst, ip, n, tag):
    """n jobs written at once on one connection; their results in order."""
    s = inst.connect()
    names = []
    try:
        for i in range(n):
            rcpt = "r%d@%s.test" % (i, tag)
            body = b"Subject: %s-%d\r\n\r\nhello\r\n" % (tag.encode(), i)
            qid, path = inst.queue_file("a@relay.test", [rcpt], body)
            lines = ["qid=%s" % qid, "file=%s" % path, "host=%s" % ip,
                     "port=%d" % inst.smtp_port, "tls=may", "auth=",
                     "domain=%s.test" % tag, "rcpt=0 %s" % rcpt]
            h.send_job(s, lines, path)  # no waiting: pipelined
            names.append(rcpt)
        out = []
        for rcpt in names:
            res = h.read_netstring(s).decode().splitlines()
            st = [ln.split(" ", 3) for ln in res if ln.startswith("rcpt=")]
            out.append((rcpt, st[0][1], int(st[0][2])) if st else (rcpt, "?", 0))
        return out
    finally:
        s.close()


def test_pipelined(inst):
    srv = ChunkServer("127.0.0.31", inst.smtp_port)
    try:
        res = batch(inst, "127.0.0.31", 3, "p")
        h.check("3 queued jobs: all delivered, results in order",
                [r[1] for r in res] == ["D", "D", "D"] and
                [r[0] for r in res] == ["r0@p.test", "r1@p.test", "r2@p.test"],
                "%r" % res)
        h.check("next MAIL in the same read as the dot",
                any(b"\r\n.\r\nMAIL FROM:<a@relay.test>" in ch for ch in srv.chunks),
                "%r" % srv.chunks)
        h.check("one connection, no RSET",
                srv.conns == 1 and "RSET" not in srv.verbs, "%d %r" % (srv.conns, srv.verbs))
        h.check("each message once", sorted(srv.subjects) == ["p-0", "p-1", "p-2"],
                "%r" % srv.subjects)
    finally:
        srv.stop.set()


def test_421_after_dot(inst):
    srv = ChunkServer("127.0.0.32", inst.smtp_port,
                      {0: "421 4.3.2 shutting down close"})
    try:
        res = batch(inst, "127.0.0.32", 2, "q")
        h.check("421 to the dot: that job deferred", res[0][1:] == ("T", 421), "%r" % res)
        h.check("421 to the dot: the pipelined job delivered on a new connection",
                res[1][1] == "D" and srv.conns == 2, "%r conns=%d" % (res, srv.conns))
        h.check("421 to the dot: the pipelined job arrived once",
                srv.subjects == ["q-1"], "%r" % srv.subjects)
    finally:
        srv.stop.set()


def test_554_after_dot(inst):
    srv = ChunkServer("127.0.0.33", inst.smtp_port, {0: "554 5.7.1 no thanks"})
    try:
        res = batch(inst, "127.0.0.33", 2, "b")
        h.check("554 to the dot: B, the next job goes on, same connection",
                [r[1:] for r in res] == [("B", 554), ("D", 250)] and srv.conns == 1,
                "%r conns=%d" % (res, srv.conns))
        h.check("554 to the dot: only the next one taken", srv.subjects == ["b-1"],
                "%r" % srv.subjects)
    finally:
        srv.stop.set()


def main():
    return h.run(h.Instance({}), test_pipelined, test_421_after_dot,
                 test_554_after_dot)


if __name__ == "__main__":
    signal.alarm(120)
    sys.exit(main())
