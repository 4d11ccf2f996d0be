#!/usr/bin/python3
"""dkimrelay.py: a relaybox instance that DKIM-signs, for the signing tests.

    with DkimRelay(keys, conf_overrides={}) as r:
        r.send("case1", msg_bytes, domain="rsa.example")  # over SMTP
        m = r.wait("case1")                               # sink's message
        ok, why = all_pass(r.verify(m.data), want=[...])

keys: (domain, selector, alg) triples.  Each key is made by `relayctl dkim
keygen` before the relay starts (so this also tests that makecdb and the
signer take keygen's keys), its printed TXT record is served by
dnsserver.py (so the verifiers check what keygen told the operator to
publish), and its dkim line goes into relay.rules, in the order given.
Every domain belongs to the harness' customer "example" (example.com is
already its); mail is sent from postmaster@<domain> to <case>@example.org
and the sink keeps it.  .inst .sink .dns .verifiers .work; .keygen(),
.set_rules(extra_lines) (makecdb, no restart), .inject() (relay-queue's
socket, for bytes SMTP cannot carry).  msg() makes a test message,
signatures() lists a message's DKIM-Signature values.
"""
import os
import re
import shutil
import socket
import subprocess
import tempfile

from harness import (BIN, DEFAULT_RULES, Instance, Sink, queue_inject,
                     smtp_session, wait_until)
from dnsserver import DnsServer
from dkimverify import Verifiers

ZONE_LINE = re.compile(r'^(\S+)\. IN TXT((?: "[^"]*")+)$', re.M)


def msg(frm=b"Alice <alice@example.com>", headers=b"", body=b"Hello.\r\n",
        subject=b"dkim test", msgid=b"t"):
    return (b"From: " + frm + b"\r\nTo: Bob <bob@example.org>\r\n"
            b"Subject: " + subject + b"\r\n"
            b"Date: Sun, 6 Dec 2026 09:00:00 +0000\r\n"
            b"Message-ID: <" + msgid + b"@example.com>\r\nMIME-Version: 1.0\r\n" + headers + b"\r\n" +
            body)


def signatures(data):
    """The DKIM-Signature values of a message, top first."""
    head = data.split(b"\r\n\r\n", 1)[0]
    return [v for k, v in re.findall(
        rb"(?im)^(dkim-signature):([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)",
        head)]


class DkimRelay:
    def __init__(self, keys, conf_overrides=None):
        self.keys = list(keys)
        self.conf = dict(conf_overrides or {})
        self.work = tempfile.mkdtemp(prefix="dkim-relay-")
        os.chmod(self.work, 0o755)
        self.zone = {}
        self.sink = self.inst = self.dns = None

    def __enter__(self):
        try:
            self.sink = Sink().start()
            self.dns = DnsServer({}, self.work)
            self.verifiers = Verifiers(self.dns.port, self.work)
            self.conf.setdefault("resolver", "127.0.0.1:%d" % self.dns.port)
            self.inst = Instance(sink=self.sink, conf_overrides=self.conf)
            self.inst.prepare()
            for domain, sel, alg in self.keys:
                self.keygen(domain, sel, alg)
            self.set_rules(self.rule_lines(self.keys))
            self.inst.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for x in (self.inst, self.sink, self.dns):
            if x:
                x.stop()
        if self.inst:
            self.inst._cleanup(exc[0] is not None)
        shutil.rmtree(self.work, ignore_errors=True)
        return False

    def keygen(self, domain, sel, alg):
        """relayctl dkim keygen; its record published in our DNS."""
        args = ["dkim", "keygen", domain, sel]
        if alg == "ed25519":
            args.append("--ed25519")
        r = self.inst.relayctl(*args)
        m = ZONE_LINE.search(r.stdout)
        if r.returncode != 0 or not m:
            raise RuntimeError("keygen %s %s: %s%s" % (domain, sel,
                                                       r.stdout, r.stderr))
        self.publish(m.group(1), "".join(re.findall(r'"([^"]*)"',
                                                    m.group(2))))

    def publish(self, name, record):
        self.zone[name] = {"TXT": [record]}
        self.dns.set(self.zone)

    @staticmethod
    def rule_lines(keys):
        out = []
        for domain, sel, alg in keys:
            out.append("dkim %s %s alg=%s" % (domain, sel, alg))
        return out

    def set_rules(self, dkim_lines):
        """relay.rules = the harness' rules + a domain line per domain +
        dkim_lines; compiled by makecdb (a running relay sees it without
        a restart)."""
        doms = []
        for line in dkim_lines:
            d = line.split()[1]
            if d != "example.com" and d not in doms:
                doms.append(d)
        text = DEFAULT_RULES + "".join(
            "domain %s customer=example\n" % d for d in doms) + \
            "".join(line + "\n" for line in dkim_lines)
        tmp = self.inst.path("relay.rules.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.inst.path("relay.rules"))
        r = subprocess.run([os.path.join(BIN, "makecdb"), "-d",
                            self.inst.dir], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("makecdb: " + r.stdout)

    def send(self, case, msg, domain="example.com"):
        with smtp_session(self.inst.port) as c:
            c.sendmail("postmaster@" + domain, [case + "@example.org"], msg)

    def inject(self, case, msg, domain="example.com"):
        """Straight into relay-queue (root may), as relay-smtpd would."""
        env = (b"Iip=127.0.0.1\0Ihelo=dkim.test\0Icustomer=example\0"
               b"Fpostmaster@" + domain.encode() + b"\0T" + case.encode() +
               b"@example.org\0\0")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        try:
            s.connect(self.inst.path("run/queue.sock"))
            return queue_inject(s, msg, env)
        finally:
            s.close()

    def wait(self, case, timeout=60):
        """The sink's message for <case>@example.org, or None."""
        rcpt = case + "@example.org"

        def find():
            with self.sink.lock:
                for m in self.sink.messages:
                    if rcpt in m.rcpts:
                        return m
            return None
        return wait_until(find, timeout)

    def verify(self, data):
        return self.verifiers.verify(data)

    def queue_pid(self):
        return self.inst.status().get("relay-queue", (0, 0))[0]
