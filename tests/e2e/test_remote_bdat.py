#!/usr/bin/python3
"""test_remote_bdat.py: relay-remote sends with BDAT (RFC 3030) to a next
hop that offers CHUNKING, and with DATA otherwise.

The next hop is a small scripted receiver (aiosmtpd and Postfix's
smtp-sink do not take BDAT) that records what each read brought, the
commands and each message as received.  A message of up to 64 KiB goes as
one "BDAT n LAST", pipelined in the same write as MAIL and RCPT (one round
trip instead of DATA's two), byte-exact: its dot lines untouched (no
stuffing on BDAT), a bare LF from the queue file made CRLF as on DATA, n
the exact size.  Without PIPELINING, BDAT follows the RCPT replies.  A
bigger message, or a receiver without CHUNKING, gets DATA.  Jobs waiting
on the connection: the next one's MAIL, RCPT, BDAT and message go in the
write of the previous message's dot.  The reply to BDAT maps like the
reply to the dot (4xx T, 5xx B); when every recipient was refused the
chunk is still sent (pipelined) and the connection is reset (RSET)
before the next message uses it.  The harness is test_remote.py's
(relay-remote alone, jobs on its socket)."""
import os
import signal
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_remote as h  # noqa: E402
from harness import ThreadServer  # noqa: E402


class BdatServer(ThreadServer):
    """SMTP with CHUNKING and PIPELINING (each may be left out).  RCPT to
    an address in refuse gets 550; the final reply to a message is
    final_reply.  Records reads, verbs and (how, bytes) per message."""

    def __init__(self, ip, port, chunking=True, pipelining=True,
                 refuse=(), final_reply="250 2.0.0 taken"):
        self.chunking, self.pipelining = chunking, pipelining
        self.refuse, self.final_reply = set(refuse), final_reply
        self.reads, self.verbs, self.msgs = [], [], []
        super().__init__(ip, port)

    def ehlo(self):
        ext = ["SIZE 10000000", "8BITMIME"]
        ext += ["PIPELINING"] if self.pipelining else []
        ext += ["CHUNKING"] if self.chunking else []
        return "\r\n".join(["250-script"] + ["250-" + e for e in ext[:-1]] +
                           ["250 " + ext[-1]])

    def session(self, c):
        self.c, self.buf, self.rcpts = c, b"", 0
        c.sendall(b"220 script\r\n")
        while True:
            line = self.line()
            if line is None:
                return
            verb = line.split(b" ")[0].upper().decode("ascii", "replace")
            self.verbs.append(verb)
            if verb == "QUIT":
                c.sendall(b"221 bye\r\n")
                return
            c.sendall(self.command(verb, line).encode() + b"\r\n")

    def command(self, verb, line):
        if verb == "EHLO":
            return self.ehlo()
        if verb in ("MAIL", "RSET"):
            self.rcpts, self.chunks = 0, b""
            return "250 ok"
        if verb == "RCPT":
            addr = line.split(b"<")[1].split(b">")[0].decode()
            if addr in self.refuse:
                return "550 5.1.1 no such user"
            self.rcpts += 1
            return "250 ok"
        if verb == "DATA":
            if not self.rcpts:
                return "554 5.5.1 no valid recipients"
            self.c.sendall(b"354 go\r\n")
            return self.data()
        if verb == "BDAT":
            return self.bdat(line)
        return "250 ok"

    def data(self):
        lines = []
        while True:
            line = self.line()
            if line is None or line == b".":
                break
            lines.append(line[1:] if line.startswith(b".") else line)
        self.msgs.append(("DATA", b"".join(l + b"\r\n" for l in lines)))
        return self.final_reply

    def bdat(self, line):
        words = line.split(b" ")
        n, last = int(words[1]), len(words) > 2
        while len(self.buf) < n:
            more = self.c.recv(65536)
            if not more:
                return "421 lost"
            self.reads.append(more)
            self.buf += more
        self.chunks += self.buf[:n]
        self.buf = self.buf[n:]
        if not self.rcpts:
            return "554 5.5.1 no valid recipients"
        if not last:
            return "250 2.0.0 %d octets" % n
        self.msgs.append(("BDAT", self.chunks))
        return self.final_reply

    def line(self):
        while b"\r\n" not in self.buf:
            more = self.c.recv(65536)
            if not more:
                return None
            self.reads.append(more)
            self.buf += more
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line


def jobs(inst, ip, bodies, rcpts=("u@b.test",)):
    """Jobs one after the other on one relay-remote connection (one
    worker, so one connection cache); the result of each."""
    s = inst.connect()
    try:
        return [h.job(inst, s, list(rcpts), body=b, host=ip,
                      port=str(inst.smtp_port), domain="b.test")
                for b in bodies]
    finally:
        s.close()


BODY = (b"Subject: chunk\r\nMessage-ID: <c@test>\r\n\r\n.\r\n..two\r\n"
        b".\r\nMAIL FROM:<x@evil>\r\nbare\nlf\r\nend")
WANT = (b"Subject: chunk\r\nMessage-ID: <c@test>\r\n\r\n.\r\n..two\r\n"
        b".\r\nMAIL FROM:<x@evil>\r\nbare\r\nlf\r\nend\r\n")


def test_bdat(inst):
    srv = BdatServer("127.0.0.41", inst.smtp_port)
    try:
        res = jobs(inst, "127.0.0.41", [BODY])
        st = res[0]["rcpt"]["u@b.test"]
        h.check("CHUNKING offered: delivered", st[:2] == ("D", 250), repr(res))
        h.check("sent with BDAT, not DATA", "BDAT" in srv.verbs and
                "DATA" not in srv.verbs, repr(srv.verbs))
        h.check("byte-exact: dots untouched, bare LF made CRLF, a CRLF "
                "at the end", srv.msgs == [("BDAT", WANT)], repr(srv.msgs))
        h.check("BDAT announces the exact size, LAST",
                any(b"BDAT %d LAST\r\n" % len(WANT) in r for r in srv.reads),
                repr(srv.reads))
        h.check("MAIL, RCPT, BDAT and the message in one write",
                any(b"MAIL FROM:" in r and b"RCPT TO:" in r and
                    r.endswith(WANT) for r in srv.reads), repr(srv.reads))
    finally:
        srv.stop.set()


def test_big_and_plain(inst):
    big = b"Subject: big\r\n\r\n" + (b"x" * 78 + b"\r\n") * 1000
    srv = BdatServer("127.0.0.42", inst.smtp_port)
    try:
        res = jobs(inst, "127.0.0.42", [big])
        h.check("over 64 KiB: delivered with DATA",
                res[0]["rcpt"]["u@b.test"][0] == "D" and
                srv.msgs == [("DATA", big)], repr(srv.verbs))
    finally:
        srv.stop.set()
    srv = BdatServer("127.0.0.43", inst.smtp_port, chunking=False)
    try:
        res = jobs(inst, "127.0.0.43", [BODY])
        h.check("no CHUNKING: DATA, dot-stuffed and unstuffed byte-exact",
                res[0]["rcpt"]["u@b.test"][0] == "D" and
                srv.msgs == [("DATA", WANT)] and "BDAT" not in srv.verbs,
                repr(srv.msgs))
    finally:
        srv.stop.set()
    srv = BdatServer("127.0.0.44", inst.smtp_port, pipelining=False)
    try:
        res = jobs(inst, "127.0.0.44", [BODY])
        h.check("CHUNKING without PIPELINING: BDAT after the RCPT reply",
                res[0]["rcpt"]["u@b.test"][0] == "D" and
                srv.msgs == [("BDAT", WANT)] and
                not any(b"RCPT" in r and b"BDAT" in r for r in srv.reads),
                repr(srv.reads))
    finally:
        srv.stop.set()


def test_queued_jobs(inst):
    """Jobs waiting on the connection: the next one's MAIL, RCPT, BDAT
    and message go out with the previous message's end, and its replies
    come with that one's (test_remote_pipeline.py for DATA)."""
    big = b"Subject: big\r\n\r\n" + (b"x" * 78 + b"\r\n") * 1000
    bodies = [big, BODY, BODY]
    srv = BdatServer("127.0.0.49", inst.smtp_port)
    s = inst.connect()
    try:
        rcpts = []
        for i, b in enumerate(bodies):
            rcpt = "q%d@b.test" % i
            qid, path = inst.queue_file("a@relay.test", [rcpt], b)
            h.send_job(s, ["qid=%s" % qid, "file=%s" % path,
                           "host=127.0.0.49", "port=%d" % inst.smtp_port,
                           "tls=may", "auth=", "domain=b.test",
                           "rcpt=0 %s" % rcpt], path)
            rcpts.append(rcpt)
        res = [h.read_netstring(s).decode() for _ in bodies]
        h.check("queued jobs: DATA, then BDAT, BDAT, all delivered",
                all("rcpt=0 D 250" in r for r in res) and
                [m[0] for m in srv.msgs] == ["DATA", "BDAT", "BDAT"] and
                [m[1] for m in srv.msgs] == [big, WANT, WANT], repr(res))
        h.check("the next job's BDAT and message in the write of a dot",
                any(b"\r\n.\r\nMAIL FROM:" in r and r.endswith(WANT)
                    for r in srv.reads), repr([r[-200:] for r in srv.reads]))
        h.check("one connection", srv.conns == 1, str(srv.conns))
    finally:
        s.close()
        srv.stop.set()


def test_refusals(inst):
    srv = BdatServer("127.0.0.45", inst.smtp_port, refuse={"u@b.test"})
    try:
        res = jobs(inst, "127.0.0.45", [BODY, BODY],
                   rcpts=("u@b.test", "v@b.test"))
        h.check("one recipient refused, the other delivered by BDAT",
                [r["rcpt"]["u@b.test"][:2] for r in res] == [("B", 550)] * 2 and
                [r["rcpt"]["v@b.test"][:2] for r in res] == [("D", 250)] * 2 and
                srv.msgs == [("BDAT", WANT)] * 2, repr(res))
    finally:
        srv.stop.set()
    srv = BdatServer("127.0.0.46", inst.smtp_port, refuse={"u@b.test"})
    try:
        res = jobs(inst, "127.0.0.46", [BODY, BODY],
                   rcpts=("u@b.test",))
        h.check("every recipient refused: B 550, nothing taken",
                [r["rcpt"]["u@b.test"][:2] for r in res] == [("B", 550)] * 2 and
                not srv.msgs, repr(res))
        h.check("... then RSET before the connection is used again",
                srv.conns == 1 and srv.verbs.count("RSET") >= 1 and
                srv.verbs.index("RSET") < len(srv.verbs) - 1 and
                srv.verbs.count("MAIL") == 2, repr(srv.verbs))
    finally:
        srv.stop.set()
    for ip, rep, want in (("127.0.0.47", "452 4.3.1 full", ("T", 452)),
                          ("127.0.0.48", "554 5.6.0 no", ("B", 554))):
        srv = BdatServer(ip, inst.smtp_port, final_reply=rep)
        try:
            res = jobs(inst, ip, [BODY])
            h.check("reply to BDAT %s: %s" % (rep[:3], want[0]),
                    res[0]["rcpt"]["u@b.test"][:2] == want, repr(res))
        finally:
            srv.stop.set()


def test_turned_off():
    """remote_chunking = no: DATA, CHUNKING or not."""
    inst = h.Instance({}, {"remote_chunking": "no"})

    def off(inst):
        srv = BdatServer("127.0.0.50", inst.smtp_port)
        try:
            res = jobs(inst, "127.0.0.50", [BODY])
            h.check("remote_chunking = no: DATA to a server with CHUNKING",
                    res[0]["rcpt"]["u@b.test"][0] == "D" and
                    srv.msgs == [("DATA", WANT)], repr(srv.verbs))
        finally:
            srv.stop.set()
    return h.run(inst, off)


def main():
    rc = h.run(h.Instance({}), test_bdat, test_big_and_plain,
               test_queued_jobs, test_refusals)
    return test_turned_off() or rc


if __name__ == "__main__":
    signal.alarm(120)
    sys.exit(main())
