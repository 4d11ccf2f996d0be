#!/usr/bin/python3
"""test_remote_hostile.py: relay-remote against peers that misbehave: a
malformed job frame, a connection from a foreign uid, a server that says
nothing (timeout -> T), one that refuses to talk (554/421 greeting: next
MX, else T), a server without EHLO (HELO fallback), and one that trickles an endless greeting (the job
stops within its time budget, before relay-send's deadline; also when
the budget's alarm was set by an earlier job on the same worker).  The
harness is test_remote.py's.
"""
import os
import signal
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_remote as h  # noqa: E402
from harness import ThreadServer  # noqa: E402


def slow_server(ip, port, trickle, greeting=None):
    """Accepts connections; says nothing, trickles an endless greeting, or
    sends one greeting and hangs up."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((ip, port))
    ls.listen(8)
    ls.settimeout(0.5)
    stop = threading.Event()

    def serve():
        conns = []
        while not stop.is_set():
            try:
                c, _ = ls.accept()
                if greeting:
                    c.sendall(greeting)
                    c.close()
                else:
                    conns.append(c)
            except OSError:
                pass
            for c in conns:
                if trickle:
                    try:
                        c.sendall(b"220-still here\r\n")
                    except OSError:
                        pass
        for c in conns:
            c.close()
        ls.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return stop


class ScriptServer(ThreadServer):
    """A raw SMTP server answering each verb from a table (EHLO refused,
    say), recording every line it read; enough SMTP to take a message."""

    DEFAULT = {"EHLO": "250 ok", "HELO": "250 ok", "MAIL": "250 ok", "RCPT": "250 ok",
               "DATA": "354 go", "RSET": "250 ok", "QUIT": "221 bye", ".": "250 queued"}

    def __init__(self, ip, port, replies, delay=0):
        self.delay = delay  # seconds before each reply (greeting too)
        self.replies = dict(self.DEFAULT, **replies)
        self.lines = []
        super().__init__(ip, port, backlog=4)

    def session(self, c):
        f = c.makefile("rb")
        time.sleep(self.delay)
        c.sendall(b"220 script\r\n")
        in_data = False
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.lines.append(line)
            if in_data and line != ".":
                continue
            verb = "." if in_data else line.split(" ")[0].upper()
            in_data = False
            rep = self.replies.get(verb, "502 no")
            time.sleep(self.delay)
            c.sendall(rep.encode() + b"\r\n")
            in_data = verb == "DATA" and rep.startswith("354")
            if verb == "QUIT":
                break
        c.close()



def test_helo():
    """EHLO refused with a 5xx: HELO, then plain SMTP (no extensions)."""
    inst = h.Instance({"old.test": {"A": ["127.0.0.19"]}})
    srv = ScriptServer("127.0.0.19", inst.smtp_port, {"EHLO": "502 5.5.1 what is EHLO"})
    try:
        r, res = h.one(inst, "u@old.test")
        verbs = [l.split(" ")[0] for l in srv.lines]
        h.check("EHLO refused: HELO fallback delivers", res[0] == "D" and "HELO" in verbs, "%r %r" % (r, srv.lines))
        mail = [l for l in srv.lines if l.startswith("MAIL")]
        h.check("HELO session: MAIL without ESMTP parameters", mail == ["MAIL FROM:<a@relay.test>"], "%r" % mail)
    finally:
        srv.stop.set()
        inst.close()


def test_greeting():
    """A server that refuses to talk (554 or 421 greeting) is skipped for
    the next MX; alone, it defers (Postfix's smtp_skip_5xx_greeting)."""
    zone = {"greet.test": {"MX": [[10, "no.greet.test"], [20, "yes.greet.test"]]},
            "no.greet.test": {"A": ["127.0.0.14"]}, "yes.greet.test": {"A": ["127.0.0.15"]},
            "busy.test": {"MX": [[10, "busy.greet.test"], [20, "yes.greet.test"]]},
            "busy.greet.test": {"A": ["127.0.0.16"]}}
    inst = h.Instance(zone)
    stops = [slow_server("127.0.0.14", inst.smtp_port, False, b"554 5.7.1 go away\r\n"),
             slow_server("127.0.0.16", inst.smtp_port, False, b"421 4.3.2 busy\r\n")]
    good, c = h.start_sink("127.0.0.15", inst.smtp_port)
    try:
        r, res = h.one(inst, "u@greet.test")
        h.check("554 greeting: next MX used", res[0] == "D" and len(good.msgs) == 1, "%r" % (r,))
        r, res = h.one(inst, "u@busy.test")
        h.check("421 greeting: next MX used", res[0] == "D" and len(good.msgs) == 2, "%r" % (r,))
        r, res = h.one(inst, "u@x.test", host="no.greet.test", port=str(inst.smtp_port))
        h.check("554 greeting alone: deferred", res[0] == "T" and "go away" in res[2], "%r" % (res,))
    finally:
        for st in stops:
            st.set()
        c.stop()
        inst.close()


def job_closed(inst, s, rcpt):
    """A job on s: ("closed" or "a result", seconds it took)."""
    t0 = time.time()
    try:
        h.job(inst, s, [rcpt])
        got = "a result"
    except (EOFError, OSError):
        got = "closed"
    return got, time.time() - t0


def test_slow():
    """Hostile servers: silence is a timeout (T); an endless greeting is cut
    off by the job's time budget before relay-send's deadline."""
    zone = {"silent.test": {"A": ["127.0.0.12"]}, "trickle.test": {"A": ["127.0.0.13"]}}
    inst = h.Instance(zone, {"connect_timeout": 1, "remote_timeout": 2,
                                "remote_data_done_timeout": 2})
    budget = (4 * 1 + 3 * 2 + 2) * 9 // 10 + 1
    stops = [slow_server("127.0.0.12", inst.smtp_port, False), slow_server("127.0.0.13", inst.smtp_port, True)]
    try:
        t0 = time.time()
        r, res = h.one(inst, "u@silent.test")
        h.check("silent server: deferred on timeout", res[0] == "T" and "timeout" in res[2] and time.time() - t0 < 8,
              "%r after %.1fs" % (res, time.time() - t0))
        s = inst.connect()
        got, took = job_closed(inst, s, "u@trickle.test")
        s.close()
        h.check("endless greeting: worker stops within its budget", got == "closed" and took < budget + 3,
              "%s after %.1fs (budget %ds)" % (got, took, budget))
        h.check("endless greeting: logged", "over its time budget" in inst.logtext(), inst.logtext()[-300:])
    finally:
        for st in stops:
            st.set()
        inst.close()


def test_budget_spans_jobs():
    """The budget's alarm is set once and left pending between jobs (no
    system call per job): when it goes off during a later, younger job
    it is set again for that job's own budget, never stopping it early;
    and a job that does run over is still stopped at its budget."""
    zone = {"fast.test": {"A": ["127.0.0.20"]}, "slow.test": {"A": ["127.0.0.21"]},
            "trickle2.test": {"A": ["127.0.0.22"]}}
    inst = h.Instance(zone, {"connect_timeout": 1, "remote_timeout": 2,
                                "remote_data_done_timeout": 2})
    budget = (4 * 1 + 3 * 2 + 2) * 9 // 10 + 1  # 11 s
    fast = ScriptServer("127.0.0.20", inst.smtp_port, {})
    slow = ScriptServer("127.0.0.21", inst.smtp_port, {}, delay=1.4)
    stop = slow_server("127.0.0.22", inst.smtp_port, True)
    s = inst.connect()
    try:
        t0 = time.time()
        r = h.job(inst, s, ["u@fast.test"])  # sets the alarm: off at t0 + 11
        h.check("budget: first job delivered", r["rcpt"]["u@fast.test"][0] == "D", "%r" % (r,))
        time.sleep(max(0, t0 + 5 - time.time()))
        t1 = time.time()  # about 8 s of 1.4 s replies: runs past t0 + 12
        r = h.job(inst, s, ["u@slow.test"])
        took = time.time() - t1
        h.check("budget: a later job running when the alarm goes off is not stopped",
                r["rcpt"]["u@slow.test"][0] == "D" and t1 + took > t0 + budget + 1,
                "%r after %.1fs" % (r, took))
        got, took = job_closed(inst, s, "u@trickle2.test")
        h.check("budget: the next job is stopped at its own budget, not before",
                got == "closed" and budget - 2 <= took < budget + 3,
                "%s after %.1fs (budget %ds)" % (got, took, budget))
    finally:
        s.close()
        fast.stop.set()
        slow.stop.set()
        stop.set()
        inst.close()


def test_peer_uid(inst):
    """The socket is 0666 but only root, relay-remote's uid and relaysend
    may talk to it: a connection from nobody is closed unanswered."""
    mode = os.stat(inst.sock_path).st_mode & 0o777
    h.check("remote.sock is mode 0666", mode == 0o666, oct(mode))
    if os.geteuid() != 0:
        return
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child becomes nobody and tries
        os.close(r)
        try:
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(inst.sock_path)
            s.sendall(h.netstring(b"qid=Q\nfile=/x\ndomain=x.test\nrcpt=0 a@x.test\n"))
            os.write(w, b"eof" if s.recv(100) == b"" else b"answered")
        except (BrokenPipeError, ConnectionResetError):
            os.write(w, b"eof")  # closed before the frame was even sent
        except Exception as e:
            os.write(w, ("error %s" % e).encode())
        os._exit(0)
    os.close(w)
    got = os.read(r, 200).decode()
    os.close(r)
    os.waitpid(pid, 0)
    h.check("a foreign uid is refused", got == "eof", got)
    h.check("a foreign uid is logged", "unexpected uid" in inst.logtext(), inst.logtext()[-300:])


def test_bad_frame(inst):
    s = inst.connect()
    s.sendall(h.netstring(b"qid=Q\nfile=relative\nrcpt=0 a@b\n"))
    s.settimeout(10)
    try:
        data = s.recv(100)
    except OSError:
        data = b"?"
    s.close()
    h.check("bad job frame: connection dropped", data == b"", repr(data))


def main():
    return h.run(h.Instance({}), test_bad_frame, test_peer_uid,
                 lambda _: test_greeting(), lambda _: test_helo(),
                 lambda _: test_slow(), lambda _: test_budget_spans_jobs())


if __name__ == "__main__":
    signal.alarm(300)
    sys.exit(main())
