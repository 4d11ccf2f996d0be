#!/usr/bin/python3
"""test_remote.py: relay-remote end to end, driven over run/remote.sock as
relay-send drives it, against real receiving servers (aiosmtpd) on
127.0.0.x and our own DNS server (dnsserver.py).

Checks: MX preference and fallback, the implicit MX, null MX, NXDOMAIN and
SERVFAIL, malformed MX or address records (deferred), more MX records than are
kept (the most preferred kept), an MX that is this relay (bounced 5.4.6), 550 -> B and 451 -> T, several recipients in one transaction,
byte-exact delivery of dot-stuffed lines, connection reuse (N jobs -> one
connection) and a dead cached connection retried transparently, a fixed
host with its port; a fixed host without an address deferred (not
bounced) with a warning naming its setting.  test_remote_tls.py,
test_remote_tls_wrap.py and test_remote_hostile.py import the harness
below.

Every receiver listens on the same random port P on a different loopback
address (MX deliveries go to cf.smtp_port, one port for all hosts).
"""
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from aiosmtpd.controller import Controller

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import free_port, have_ipv6, ns_frame, ns_read  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(os.environ.get("RELAYBOX_BIN") or
                   os.path.join(ROOT, "build", "asan", "bin"), "relay-remote")
FAILS = []


def check(name, cond, detail=""):
    print(("PASS %s" if cond else "FAIL %s") % name + ("" if cond or not detail else " -- %s" % detail))
    if not cond:
        FAILS.append(name)
    sys.stdout.flush()


class Sink:
    """aiosmtpd handler: records messages; per-address RCPT replies."""

    def __init__(self, pipelining=True):
        self.msgs = []
        self.rcpt_replies = {}
        self.connections = 0
        self.pipelining = pipelining
        self.mail_options = []
        self.quits = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:  # aiosmtpd reads commands one by one anyway
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_QUIT(self, server, session, envelope):
        self.quits += 1
        return "221 Bye"

    async def handle_MAIL(self, server, session, envelope, address, options):
        self.mail_options.append(options)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        rep = self.rcpt_replies.get(address)
        if rep:
            return rep
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.msgs.append({
            "from": envelope.mail_from,
            "rcpt": list(envelope.rcpt_tos),
            "data": envelope.original_content,
            "tls": session.ssl is not None,
            "auth": getattr(session, "auth_data", None),
            "authenticated": getattr(session, "authenticated", False),
        })
        return "250 2.0.0 queued as X"


class CountingController(Controller):
    """Counts the connections the server accepted."""

    def factory(self):
        self.handler.connections += 1
        return super().factory()


def start_sink(ip, port, pipelining=True, **smtp_kw):
    h = Sink(pipelining)
    c = CountingController(h, hostname=ip, port=port, **smtp_kw)
    c.start()
    h.connections = 0  # the controller's own readiness probe
    return h, c


class Instance:
    """A temporary relaybox instance running relay-remote and a DNS server.
    env: more environment for relay-remote (SSL_CERT_FILE: a test CA as
    OpenSSL's system store)."""

    def __init__(self, zone, conf=None, dns_host="127.0.0.1", env=None):
        self.dir = tempfile.mkdtemp(prefix="relay-remote-test-")
        for d in ("run", "queue/new"):
            os.makedirs(os.path.join(self.dir, d))
        os.makedirs(os.path.join(self.dir, "secrets"), mode=0o700)
        if os.geteuid() == 0:  # relay-remote drops to relayremote:relayq
            os.chmod(self.dir, 0o755)
            gid = grp.getgrnam("relayq").gr_gid
            for d in ("queue", "queue/new"):
                os.chown(os.path.join(self.dir, d), 0, gid)
                os.chmod(os.path.join(self.dir, d), 0o750)
            self.chown_remote(os.path.join(self.dir, "secrets"))
        self.zone_path = os.path.join(self.dir, "zone.json")
        self.set_zone(zone)
        self.dns = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(ROOT, "tests/e2e/dnsserver.py"),
             "--watch-stdin", "--host", dns_host, "--zone", self.zone_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.dns_port = int(self.dns.stdout.readline().split()[1])
        self.smtp_port = free_port()
        resolver = ("[%s]:%d" if ":" in dns_host else "%s:%d") % (dns_host, self.dns_port)
        # the test's MX hosts are loopback addresses, which an MX job
        # refuses by default; conf's None leaves a setting out
        settings = {"hostname": "relay.test", "resolver": resolver,
                    "smtp_port": self.smtp_port, "connect_timeout": 3,
                    "remote_timeout": 10, "conn_cache_idle": 30, "conn_cache_max": 20,
                    "remote_private_addresses": "allow"}
        settings.update(conf or {})
        with open(os.path.join(self.dir, "relay.conf"), "w") as f:
            for k, v in settings.items():
                if v is not None:
                    f.write("%s = %s\n" % (k, v))
        self.log = open(os.path.join(self.dir, "remote.log"), "w+")
        self.proc = subprocess.Popen([BIN, "-d", self.dir], stderr=self.log,
                                     env=dict(os.environ, **(env or {})))
        # the log line comes after listen(): the socket's name exists from
        # bind() on, and a connect between the two is refused
        deadline = time.time() + 20
        while time.time() < deadline and "listening on" not in self.logtext():
            time.sleep(0.05)
        self.sock_path = os.path.join(self.dir, "run", "remote.sock")
        self.nq = 0

    @staticmethod
    def chown_remote(path):
        """Secrets are read by the worker after the drop: owned by it."""
        if os.geteuid() == 0:
            pw = pwd.getpwnam("relayremote")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def secret(self, name, text, mode=0o600):
        path = os.path.join(self.dir, "secrets", name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        self.chown_remote(path)
        return path

    def set_zone(self, zone):
        tmp = self.zone_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(zone, f)
        os.rename(tmp, self.zone_path)
        os.utime(self.zone_path, ns=(time.time_ns(), time.time_ns()))

    def queue_file(self, sender, rcpts, body):
        self.nq += 1
        qid = "Q%04d" % self.nq
        path = os.path.join(self.dir, "queue", "new", qid)
        head = "relaybox-queue 1\nqid=%s\ntime=%d\nfrom=%s\n" % (qid, time.time(), sender)
        head += "".join("rcpt=%s\n" % r for r in rcpts) + "\n"
        with open(path, "wb") as f:
            f.write(head.encode() + body)
        if os.geteuid() == 0:  # queue files are 0640 root:relayq
            os.chown(path, 0, grp.getgrnam("relayq").gr_gid)
        os.chmod(path, 0o640)
        return qid, path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(self.sock_path)
        return s

    def logtext(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def close(self):
        for p in (self.proc, self.dns):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


netstring = ns_frame


def run(inst, *tests):
    """Each test(inst) in turn; an exception is a failure; the end of the
    log when anything failed; inst closed.  Returns the exit status."""
    try:
        for t in tests:
            t(inst)
    except Exception as e:  # a crash is a failure, with the log to see why
        check("no exception (%s: %s)" % (type(e).__name__, e), False)
    finally:
        if FAILS:
            print(inst.logtext()[-4000:])
        inst.close()
    return 1 if FAILS else 0


def read_netstring(s):
    data = ns_read(s)
    if data is None:
        raise EOFError("relay-remote closed the connection")
    return data


def send_job(sock, lines, path):
    """One job frame with its queue file attached, as relay-send sends it
    (relay-remote has no access to the queue itself)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        socket.send_fds(sock, [netstring(("\n".join(lines) + "\n").encode())], [fd])
    finally:
        os.close(fd)


def job(inst, sock, rcpts, body=b"Subject: t\r\n\r\nhello\r\n", sender="a@relay.test",
        domain=None, host="", port="", tls="may", auth="", auth_tls=None, via=None,
        tls_wrap=None):
    """Send one job, return {'rcpt': {addr: (status, code, text)}, 'relay':, 'tls':}."""
    qid, path = inst.queue_file(sender, rcpts, body)
    domain = domain or rcpts[0].split("@")[1]
    lines = ["qid=%s" % qid, "file=%s" % path, "host=%s" % host, "port=%s" % port,
             "tls=%s" % tls, "auth=%s" % auth, "domain=%s" % domain]
    if auth_tls is not None:
        lines.append("auth_tls=%s" % auth_tls)
    if via is not None:
        lines.append("via=%s" % via)
    if tls_wrap is not None:
        lines.append("tls_wrap=%s" % tls_wrap)
    lines += ["rcpt=%d %s" % (i, r) for i, r in enumerate(rcpts)]
    send_job(sock, lines, path)
    out = {"rcpt": {}}
    for line in read_netstring(sock).decode().splitlines():
        k, v = line.split("=", 1)
        if k == "rcpt":
            idx, st, code, text = (v.split(" ", 3) + [""])[:4]
            out["rcpt"][rcpts[int(idx)]] = (st, int(code), text)
        else:
            out[k] = v
    return out


def one(inst, rcpt, **kw):
    s = inst.connect()
    try:
        r = job(inst, s, [rcpt], **kw)
    finally:
        s.close()
    return r, r["rcpt"][rcpt]


ZONE = {
    "pref.test": {"MX": [[20, "mx2.pref.test"], [10, "mx1.pref.test"]]},
    "mx1.pref.test": {"A": ["127.0.0.2"]},
    "mx2.pref.test": {"A": ["127.0.0.3"]},
    "fb.test": {"MX": [[10, "dead.fb.test"], [20, "mx2.pref.test"]]},
    "dead.fb.test": {"A": ["127.0.0.9"]},
    "implicit.test": {"A": ["127.0.0.2"]},
    "nullmx.test": {"MX": [[0, "."]]},
    "broken.test": "SERVFAIL",
    "nohost.test": {"MX": [[10, "gone.nohost.test"]]},
    # 30 MX records do not fit in 512 bytes: the answer comes over TCP
    "big.test": {"MX": [[5, "mx1.pref.test"]] + [[20, "backup%02d.big.test" % i] for i in range(29)]},
}


def wire_name(name):
    """A domain name in DNS wire form, uncompressed, as hex."""
    return "".join("%02x%s" % (len(l), l.encode().hex()) for l in name.split(".")) + "00"


def raw_mx(pref, name):
    return ["MX", "%04x" % pref + wire_name(name)]


def test_malformed(inst, a):
    """Malformed records are a DNS failure (deferred), never "no record":
    MX records none of which is usable must not send the mail to the
    domain's A record (RFC 5321 5.1), and a malformed A/AAAA answer for
    an MX host is no "host not found" bounce."""
    inst.set_zone(dict(ZONE, **{
        "badmx.test": {"RAW": [["MX", "000a"]], "A": ["127.0.0.2"]},
        "shorta.test": {"MX": [[10, "h.shorta.test"]]},
        "h.shorta.test": {"RAW": [["A", "7f0000"], ["AAAA", "00" * 15]]},
        "mixed.test": {"RAW": [["MX", "00"], raw_mx(10, "mx1.pref.test")]}}))
    n = len(a.msgs)
    r, res = one(inst, "u@badmx.test")
    check("malformed MX records only: deferred 4.4.3, not the domain's A",
          res[:2] == ("T", 451) and res[2].startswith("4.4.3 ") and len(a.msgs) == n,
          "%r (the A host got %d)" % (r, len(a.msgs) - n))
    r, res = one(inst, "u@shorta.test")
    check("malformed A/AAAA of an MX host: deferred 4.4.3, not bounced",
          res[:2] == ("T", 451) and res[2].startswith("4.4.3 "), "%r" % (r,))
    n = len(a.msgs)
    r, res = one(inst, "u@mixed.test")
    check("one malformed MX beside a good one: the good one used",
          res[0] == "D" and len(a.msgs) == n + 1, "%r" % (r,))


def test_many_mx(inst, a):
    """More MX records than relay-remote keeps (REMOTE_MX_MAX, 32), the
    most preferred last in the answer: it is kept, the cut drops the
    least preferred (RFC 5321 5.1)."""
    backups = [raw_mx(20, "backup%02d.many.test" % i) for i in range(39)]
    zone = dict(ZONE, **{"many.test": {"RAW": backups + [raw_mx(5, "mx1.pref.test")]}})
    for i in range(39):
        zone["backup%02d.many.test" % i] = {"A": ["127.0.0.9"]}
    inst.set_zone(zone)
    n = len(a.msgs)
    r, res = one(inst, "u@many.test")
    check("40 MX records, the primary last in the answer: delivered to it",
          res[0] == "D" and len(a.msgs) == n + 1 and r["relay"].startswith("mx1.pref.test["),
          "%r" % (r,))


def test_self():
    """An MX that is this relay (an address it listens on at smtp_port)
    is never connected to: it would take the message back and send it
    again, up to hops_max times.  RFC 5321 5.1: that MX and every less
    preferred one are dropped; none left: bounced 5.4.6.  One that
    answers EHLO with this relay's hostname is this relay too (behind
    NAT): bounced 5.4.6 before MAIL."""
    port = free_port()
    zone = {
        "loop.test": {"MX": [[10, "mx.loop.test"]]},
        "mx.loop.test": {"A": ["127.0.0.5"]},
        "nat.test": {"MX": [[10, "mx.nat.test"]]},
        "mx.nat.test": {"A": ["127.0.0.7"]},
        "primary.test": {"MX": [[10, "mx1.pref.test"], [20, "mx.loop.test"]]},
        "mx1.pref.test": {"A": ["127.0.0.2"]},
        "backup.test": {"MX": [[10, "dead.fb.test"], [20, "mx.loop.test"], [30, "mx1.pref.test"]]},
        "dead.fb.test": {"A": ["127.0.0.9"]},
        "other.test": {"MX": [[10, "mx.loop.test"]]},
    }
    inst = Instance(zone, {"smtp_port": port, "listen": "127.0.0.5:%d" % port})
    me, cme = start_sink("127.0.0.5", port)   # stands for relay-smtpd
    a, ca = start_sink("127.0.0.2", port)
    # this relay reached through an address it cannot know as its own
    # (NAT): its EHLO reply names relay-remote's own hostname
    nat, cnat = start_sink("127.0.0.7", port, server_hostname="relay.test")
    try:
        r, res = one(inst, "u@loop.test")
        check("MX is this relay's listener: bounced 5.4.6, no connection",
              res[:2] == ("B", 554) and res[2].startswith("5.4.6 mail for loop.test loops back to myself")
              and me.connections == 0, "%r connections=%d" % (r, me.connections))
        check("MX is this relay: relay= names it", r["relay"] == "mx.loop.test[127.0.0.5]:%d" % port, r["relay"])
        r, res = one(inst, "u@nat.test")
        check("MX answering EHLO with this relay's hostname: bounced 5.4.6, no MAIL",
              res[:2] == ("B", 554) and res[2].startswith("5.4.6 mail for nat.test loops back to myself")
              and not nat.msgs and not nat.mail_options, "%r" % (r,))
        r, res = one(inst, "u@other.test", host="127.0.0.7", port=str(port))
        check("a fixed host answering with this relay's hostname: not checked",
              res[0] == "D" and len(nat.msgs) == 1, "%r" % (r,))
        r, res = one(inst, "u@primary.test")
        check("this relay as a backup MX: the primary used",
              res[0] == "D" and len(a.msgs) == 1 and me.connections == 0, "%r" % (r,))
        r, res = one(inst, "u@backup.test")
        check("MX less preferred than this relay not tried, primary down: deferred",
              res[0] == "T" and "4.4.1" in res[2] and len(a.msgs) == 1 and me.connections == 0,
              "%r msgs=%d" % (r, len(a.msgs)))
        r, res = one(inst, "u@other.test", host="127.0.0.5", port=str(port))
        check("a fixed host is the operator's: not checked", res[0] == "D" and me.connections == 1,
              "%r" % (r,))
    finally:
        ca.stop()
        cme.stop()
        cnat.stop()
        inst.close()
    test_self_localhost(zone, port)


def test_self_localhost(zone, port):
    """A relay whose hostname is no name of its own ("localhost") does not
    take a server answering EHLO "localhost" (a misconfigured one, not
    rare) for itself."""
    inst = Instance(zone, {"smtp_port": port, "hostname": "localhost"})
    srv, csrv = start_sink("127.0.0.7", port, server_hostname="localhost")
    try:
        r, res = one(inst, "u@nat.test")
        check("hostname localhost: an MX answering EHLO localhost is used",
              res[0] == "D" and len(srv.msgs) == 1, "%r" % (r,))
    finally:
        csrv.stop()
        inst.close()


def test_routing(inst, a, b):
    r, res = one(inst, "u@pref.test")
    check("mx preference: lowest preference used", res[0] == "D" and len(a.msgs) == 1 and not b.msgs,
          "%r" % (r,))
    check("mx preference: relay= names the host", r.get("relay", "").startswith("mx1.pref.test[127.0.0.2]:"), r.get("relay"))
    r, res = one(inst, "u@fb.test")
    check("mx fallback: next MX after a refused connection", res[0] == "D" and len(b.msgs) == 1, "%r" % (r,))
    r, res = one(inst, "u@implicit.test")
    check("implicit mx: A record used", res[0] == "D" and len(a.msgs) == 2, "%r" % (r,))
    r, res = one(inst, "u@nullmx.test")
    check("null mx: bounced at once", res[0] == "B" and "5.1.10" in res[2], "%r" % (res,))
    r, res = one(inst, "u@nx.test")
    check("nxdomain: bounced", res[0] == "B" and res[1] >= 500, "%r" % (res,))
    r, res = one(inst, "u@broken.test")
    check("servfail: deferred", res[0] == "T" and res[1] >= 400 and res[1] < 500, "%r" % (res,))
    r, res = one(inst, "u@big.test")
    check("large MX answer (truncated UDP, then TCP)", res[0] == "D" and "[127.0.0.2]" in r.get("relay", ""),
          "%r" % (r,))
    r, res = one(inst, "u@nohost.test")
    check("mx host without address: bounced", res[0] == "B", "%r" % (res,))
    n = len(a.msgs)
    r, res = one(inst, "u@whatever.test", host="127.0.0.2", port=str(inst.smtp_port))
    check("fixed host: IP literal and port", res[0] == "D" and len(a.msgs) == n + 1, "%r" % (r,))
    r, res = one(inst, "u@whatever.test", host="127.0.0.9", port=str(inst.smtp_port))
    check("fixed host down: deferred", res[0] == "T" and "4.4.1" in res[2], "%r" % (res,))
    check("fixed host down: relay= names it", r["relay"] == "127.0.0.9[127.0.0.9]:%d" % inst.smtp_port, r["relay"])
    # a fixed next hop without an address is the operator's setting (or
    # DNS) gone wrong, not the recipients': deferred, and the log names it
    r, res = one(inst, "u@whatever.test", host="smarthost.nx.test", via="relayhost")
    check("fixed host NXDOMAIN: deferred 4.4.4, not bounced",
          res[:2] == ("T", 451) and res[2].startswith("4.4.4 ") and "NXDOMAIN" in res[2], "%r" % (res,))
    check("fixed host NXDOMAIN: a warning names relayhost",
          "next hop smarthost.nx.test set by relayhost not found (NXDOMAIN)" in inst.logtext(),
          inst.logtext()[-800:])
    r, res = one(inst, "u@whatever.test", host="nohost.test", via="route:rcpt:.whatever.test")
    check("fixed host without an address record: deferred",
          res[:2] == ("T", 451) and "4.4.4" in res[2] and "no address" in res[2], "%r" % (res,))
    check("fixed host without an address: the warning names the route",
          "set by route rcpt .whatever.test not found" in inst.logtext(), inst.logtext()[-800:])


def test_replies(inst, a):
    a.rcpt_replies = {"bad@pref.test": "550 5.1.1 no such user",
                      "later@pref.test": "451 4.2.0 try later"}
    s = inst.connect()
    n0 = len(a.msgs)
    r = job(inst, s, ["ok1@pref.test", "bad@pref.test", "later@pref.test", "ok2@pref.test"])
    s.close()
    rc = r["rcpt"]
    check("550 on RCPT -> B", rc["bad@pref.test"][:2] == ("B", 550) and "no such user" in rc["bad@pref.test"][2], "%r" % rc)
    check("451 on RCPT -> T", rc["later@pref.test"][:2] == ("T", 451), "%r" % rc)
    check("accepted recipients -> D", rc["ok1@pref.test"][0] == "D" and rc["ok2@pref.test"][0] == "D", "%r" % rc)
    check("several recipients in one transaction",
          len(a.msgs) == n0 + 1 and a.msgs[-1]["rcpt"] == ["ok1@pref.test", "ok2@pref.test"],
          "%r" % (a.msgs[n0:],))
    check("envelope sender kept", a.msgs[-1]["from"] == "a@relay.test", a.msgs[-1]["from"])
    # RFC 821's 552 for "too many recipients" is temporary (RFC 5321
    # 4.5.3.1.10); refused again in the new transaction tried at once
    # (no one accepted there), it stays T and the rounds stop
    a.rcpt_replies = {"many@pref.test": "552 5.5.3 Too many recipients",
                      "big@pref.test": "552 5.3.4 too much mail data"}
    s = inst.connect()
    n0 = len(a.msgs)
    r = job(inst, s, ["ok3@pref.test", "many@pref.test", "big@pref.test"])
    s.close()
    rc = r["rcpt"]
    check("552 5.5.3 on RCPT -> T 452 4.5.3",
          rc["many@pref.test"][:2] == ("T", 452) and rc["many@pref.test"][2].startswith("4.5.3 "), "%r" % rc)
    check("other 552 on RCPT -> B", rc["big@pref.test"][:2] == ("B", 552), "%r" % rc)
    check("too many recipients: the others delivered once",
          rc["ok3@pref.test"][0] == "D" and len(a.msgs) == n0 + 1, "%r %r" % (rc, a.msgs[n0:]))
    a.rcpt_replies = {}
    r, res = one(inst, "x@pref.test", sender="")
    check("null sender delivered", res[0] == "D" and a.msgs[-1]["from"] in ("", "<>"),
          "%r from=%r" % (res, a.msgs[-1]["from"]))
    log = inst.logtext()
    check("log line per attempt", "to=<bad@pref.test> relay=mx1.pref.test[127.0.0.2]:" in log
          and "status=bounced (550" in log and "status=sent (250" in log, log[-500:])


def test_bytes(inst, a):
    body = (b"Received: from x\r\nSubject: dots\r\n\r\n.\r\n..\r\n.leading dot\r\n"
            b"middle . dot\r\n. \r\n" + b"x" * 990 + b"\r\n\xc3\xa9t\xc3\xa9 8-bit\r\n"
            + b"".join(b"line %d\r\n" % i for i in range(3000)) + b".\r\nend\r\n")
    r, res = one(inst, "bytes@pref.test", body=body)
    got = a.msgs[-1]["data"] if a.msgs else b""
    check("dot-stuffed lines arrive byte for byte", res[0] == "D" and got == body,
          "%r: got %d bytes, want %d" % (res, len(got), len(body)))


def test_reuse(inst, a):
    a.connections = 0
    n0 = len(a.msgs)
    s = inst.connect()
    results = [job(inst, s, ["r%d@pref.test" % i])["rcpt"]["r%d@pref.test" % i][0] for i in range(5)]
    check("connection reuse: 5 jobs delivered", results == ["D"] * 5 and len(a.msgs) == n0 + 5, "%r" % results)
    check("connection reuse: 5 jobs, 1 connection", a.connections == 1, "connections=%d" % a.connections)
    s.close()


def test_reuse_equal_pref(inst, a, b):
    """Equal-preference MXs are shuffled per job, yet one cached connection
    to either of them serves every job."""
    inst.set_zone(dict(ZONE, **{"eq.test": {"MX": [[10, "mx1.pref.test"], [10, "mx2.pref.test"]]}}))
    a.connections = b.connections = 0
    s = inst.connect()
    results = [job(inst, s, ["e%d@eq.test" % i])["rcpt"]["e%d@eq.test" % i][0] for i in range(6)]
    s.close()
    check("equal preference: one connection for 6 jobs", results == ["D"] * 6 and a.connections + b.connections == 1,
          "%r connections %d+%d" % (results, a.connections, b.connections))


def test_cache_limits():
    """conn_cache_max transactions per connection; an idle connection is
    closed with QUIT after conn_cache_idle seconds."""
    inst = Instance({"lim.test": {"A": ["127.0.0.17"]}}, {"conn_cache_idle": 1, "conn_cache_max": 2})
    h, c = start_sink("127.0.0.17", inst.smtp_port)
    try:
        s = inst.connect()
        results = [job(inst, s, ["l%d@lim.test" % i])["rcpt"]["l%d@lim.test" % i][0] for i in range(5)]
        check("conn_cache_max 2: 5 jobs, 3 connections", results == ["D"] * 5 and h.connections == 3,
              "%r connections=%d" % (results, h.connections))
        check("conn_cache_max: a used-up connection gets QUIT", h.quits == 2, "quits=%d" % h.quits)
        time.sleep(2.5)
        check("conn_cache_idle: idle connection closed with QUIT", h.quits == 3, "quits=%d" % h.quits)
        s.close()
    finally:
        c.stop()
        inst.close()


def test_ipv6(inst):
    """An MX with only an AAAA record, and an IPv6 literal host."""
    h6, c = start_sink("::1", inst.smtp_port)
    try:
        inst.set_zone(dict(ZONE, **{"v6.test": {"MX": [[10, "mx.v6.test"]]}, "mx.v6.test": {"AAAA": ["::1"]}}))
        r, res = one(inst, "u@v6.test")
        check("IPv6: AAAA-only MX host", res[0] == "D" and len(h6.msgs) == 1 and "[::1]" in r["relay"], "%r" % (r,))
        r, res = one(inst, "u@v6.test", host="[IPv6:::1]", port=str(inst.smtp_port))
        check("IPv6: address literal host", res[0] == "D" and len(h6.msgs) == 2, "%r" % (r,))
    finally:
        c.stop()


def test_resolver_ipv6():
    """resolver = [::1]:port: the MX lookup goes to a DNS server on ::1."""
    if not have_ipv6():
        print("SKIP resolver on ::1: no IPv6 loopback")
        return
    inst = Instance(ZONE, dns_host="::1")
    a, ca = start_sink("127.0.0.2", inst.smtp_port)
    try:
        r, res = one(inst, "u@pref.test")
        check("resolver [::1]:port: MX found, delivered", res[0] == "D" and
              len(a.msgs) == 1 and r.get("relay", "").startswith("mx1.pref.test["),
              "%r\n%s" % (r, inst.logtext()[-2000:]))
    finally:
        ca.stop()
        inst.close()


def test_stale(inst, port):
    """A cached connection the server closed (idle timeout) is replaced."""
    h, c = start_sink("127.0.0.6", port, timeout=1)
    try:
        inst.set_zone(dict(ZONE, **{"stale.test": {"A": ["127.0.0.6"]}}))
        s = inst.connect()
        r1 = job(inst, s, ["a@stale.test"])["rcpt"]["a@stale.test"][0]
        time.sleep(2.5)  # the server drops the idle connection
        r2 = job(inst, s, ["b@stale.test"])["rcpt"]["b@stale.test"][0]
        s.close()
        check("dead cached connection retried on a fresh one", r1 == "D" and r2 == "D" and len(h.msgs) == 2,
              "%s %s msgs=%d" % (r1, r2, len(h.msgs)))
        check("dead cached connection: two connections", h.connections == 2, "connections=%d" % h.connections)
    finally:
        c.stop()


def test_nopipe(inst, port):
    """The same reply mapping one command at a time (no PIPELINING)."""
    h, c = start_sink("127.0.0.10", port, pipelining=False)
    try:
        h.rcpt_replies = {"bad@np.test": "550 5.1.1 no such user", "later@np.test": "452 4.2.2 full"}
        inst.set_zone(dict(ZONE, **{"np.test": {"A": ["127.0.0.10"]}}))
        s = inst.connect()
        rc = job(inst, s, ["ok@np.test", "bad@np.test", "later@np.test"])["rcpt"]
        rc2 = job(inst, s, ["bad@np.test"])["rcpt"]
        s.close()
        check("no pipelining: D/B/T per recipient",
              [rc[a][0] for a in ("ok@np.test", "bad@np.test", "later@np.test")] == ["D", "B", "T"]
              and len(h.msgs) == 1 and h.msgs[0]["rcpt"] == ["ok@np.test"], "%r" % rc)
        check("no pipelining: no recipient accepted, no DATA", rc2["bad@np.test"][0] == "B" and len(h.msgs) == 1,
              "%r" % rc2)
        check("MAIL carries SIZE= and BODY=8BITMIME",
              any(o.startswith("SIZE=") for o in h.mail_options[0]) and "BODY=8BITMIME" in h.mail_options[0],
              "%r" % h.mail_options)
    finally:
        c.stop()


def main():
    inst = Instance(ZONE)
    a, ca = start_sink("127.0.0.2", inst.smtp_port)
    b, cb = start_sink("127.0.0.3", inst.smtp_port)
    try:
        return run(inst, lambda i: test_routing(i, a, b),
                   lambda i: test_malformed(i, a), lambda i: test_many_mx(i, a),
                   lambda i: test_replies(i, a), lambda i: test_bytes(i, a),
                   lambda i: test_reuse(i, a),
                   lambda i: test_reuse_equal_pref(i, a, b),
                   lambda i: test_stale(i, i.smtp_port),
                   lambda i: test_nopipe(i, i.smtp_port),
                   lambda _: test_cache_limits(), lambda _: test_self(), test_ipv6,
                   lambda _: test_resolver_ipv6())
    finally:
        ca.stop()
        cb.stop()


if __name__ == "__main__":
    signal.alarm(300)
    sys.exit(main())
