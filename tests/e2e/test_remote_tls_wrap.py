#!/usr/bin/python3
"""test_remote_tls_wrap.py: relay-remote's implicit TLS (a route's
tls_wrap=yes, RFC 8314 section 3: TLS from the first byte, the SMTP
greeting inside it), against aiosmtpd servers that speak TLS from the
first byte and a raw plain-text server that records every byte it gets.

Checks: the message arrives over TLS with AUTH, the result's tls= says
"implicit", and a STARTTLS the server offers inside TLS is not taken;
tls=verify refuses a certificate for another name and one from a CA
nobody trusts (deferred 4.7.5 naming the host, no AUTH, no message);
tls=encrypt takes a certificate for another name, but AUTH still needs
a verified one unless the job says auth_tls=unverified; a plain-text
server on the port gets a TLS ClientHello and nothing else (no EHLO, no
MAIL, no AUTH): deferred, never delivered in clear.  The harness is
test_remote.py's, the test CA test_remote_tls.py's.
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_remote as h  # noqa: E402
from test_remote_tls import AUTH_SEEN, authenticator, make_ca  # noqa: E402

ZONE = {
    "mx.tls.test": {"A": ["127.0.0.5"]},
    "wrong.tls.test": {"A": ["127.0.0.5"]},    # not in the certificate
    "rogue.tls.test": {"A": ["127.0.0.9"]},    # a CA nobody trusts
    "plain.tls.test": {"A": ["127.0.0.7"]},    # plain text on the port
}


def make_rogue(d):
    """A self-signed certificate for rogue.tls.test: its name is right,
    its issuer is in no store relay-remote trusts."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "rogue.key",
                    "-out", "rogue.pem", "-days", "2", "-subj", "/CN=rogue.tls.test",
                    "-addext", "subjectAltName=DNS:rogue.tls.test"],
                   check=True, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return os.path.join(d, "rogue.pem"), os.path.join(d, "rogue.key")


class TlsSink(h.Sink):
    """Records whether the message came over TLS (an implicit-TLS
    session has no session.ssl in aiosmtpd: ask the transport)."""

    def __init__(self):
        super().__init__()
        self.starttls = 0

    async def handle_DATA(self, server, session, envelope):
        r = await super().handle_DATA(server, session, envelope)
        self.msgs[-1]["tls"] = server.transport.get_extra_info("ssl_object") is not None
        return r


class WrapController(h.CountingController):
    """Counts STARTTLS commands: the server offers STARTTLS inside the
    implicit TLS, and the client must not take it."""

    def factory(self):
        smtp = super().factory()
        plain_starttls = smtp.smtp_STARTTLS

        async def starttls(arg):
            self.handler.starttls += 1
            return await plain_starttls(arg)
        smtp.smtp_STARTTLS = starttls
        return smtp


def start_wrap_sink(ip, port, ctx):
    s = TlsSink()
    c = WrapController(s, hostname=ip, port=port, ssl_context=ctx, tls_context=ctx,
                       authenticator=authenticator, auth_require_tls=False)
    c.start()
    s.connections = 0  # the controller's own readiness probe
    return s, c


class PlainRecorder:
    """A plain-text SMTP server: greets, then records what the client
    sends until it hangs up (at most 5 s a connection)."""

    def __init__(self, ip, port):
        self.got = []
        self.sock = socket.create_server((ip, port))
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            with c:
                data = b""
                c.settimeout(5)
                try:
                    c.sendall(b"220 plain.tls.test ESMTP\r\n")
                    while len(data) < 65536:
                        b = c.recv(4096)
                        if not b:
                            break
                        data += b
                except OSError:
                    pass
                self.got.append(data)

    def close(self):
        self.stop = True
        self.thread.join(timeout=5)
        self.sock.close()


def deliver(inst, host, tls="verify", auth="", auth_tls=None):
    return h.one(inst, "u@dest.test", host=host, port=str(inst.smtp_port), tls=tls,
                 auth=auth, auth_tls=auth_tls, tls_wrap="yes")


def test_delivered(inst, t):
    check = h.check
    inst.secret("up", "user\ns3cret pass\n")
    seen = len(AUTH_SEEN)
    r, res = deliver(inst, "mx.tls.test", auth="up")
    got = t.msgs[-1] if t.msgs else {}
    check("implicit: delivered over TLS with AUTH",
          res[0] == "D" and got.get("tls") and got.get("auth") is not None and
          got["auth"].login == b"user" and len(AUTH_SEEN) == seen + 1, "%r %r" % (r, got))
    check("implicit: the result's tls= names the TLS and says implicit",
          r.get("tls", "").startswith("TLS") and r["tls"].endswith(" implicit"), "%r" % (r,))
    check("implicit: a STARTTLS offered inside TLS is not taken", t.starttls == 0,
          "%d STARTTLS" % t.starttls)
    r, res = deliver(inst, "127.0.0.5")
    check("implicit: an IP literal host is checked against the certificate's IP",
          res[0] == "D", "%r" % (r,))


def test_refused(inst, t, rogue):
    check = h.check
    for host, what in (("wrong.tls.test", "a certificate for another name"),
                       ("rogue.tls.test", "a certificate from an untrusted CA")):
        n, seen, nr = len(t.msgs), len(AUTH_SEEN), len(rogue.msgs)
        r, res = deliver(inst, host, auth="up")
        check("implicit verify: %s deferred 4.7.5 naming the host" % what,
              res[0] == "T" and res[1] == 421 and "4.7.5 implicit TLS with %s[" % host in res[2],
              "%r" % (r,))
        check("implicit verify: %s: no AUTH, no message" % what,
              len(AUTH_SEEN) == seen and len(t.msgs) == n and len(rogue.msgs) == nr,
              "%r" % (AUTH_SEEN[seen:],))
    n = len(t.msgs)
    r, res = deliver(inst, "wrong.tls.test", tls="encrypt")
    check("implicit encrypt: the name is not checked", res[0] == "D" and len(t.msgs) == n + 1,
          "%r" % (r,))
    seen = len(AUTH_SEEN)
    r, res = deliver(inst, "wrong.tls.test", tls="encrypt", auth="up")
    check("implicit encrypt: AUTH still needs a verified certificate",
          res[0] == "T" and "auth_tls" in res[2] and len(AUTH_SEEN) == seen, "%r" % (r,))
    r, res = deliver(inst, "wrong.tls.test", tls="encrypt", auth="up", auth_tls="unverified")
    check("implicit encrypt: auth_tls=unverified sends AUTH",
          res[0] == "D" and len(AUTH_SEEN) == seen + 1, "%r" % (r,))


def test_plain_server(inst, plain):
    check = h.check
    for tls in ("verify", "encrypt"):
        n = len(plain.got)
        r, res = deliver(inst, "plain.tls.test", tls=tls, auth="up")
        for _ in range(100):  # the recorder sees the hang-up
            if len(plain.got) > n:
                break
            h.time.sleep(0.1)
        got = b"".join(plain.got[n:])
        check("implicit tls=%s, plain-text server: deferred 4.7.5 naming the host" % tls,
              res[0] == "T" and "4.7.5 implicit TLS with plain.tls.test[" in res[2], "%r" % (r,))
        check("implicit tls=%s, plain-text server: it got a TLS ClientHello only" % tls,
              len(plain.got) > n and got[:1] == b"\x16" and
              not any(w in got.upper() for w in (b"EHLO", b"HELO", b"MAIL", b"AUTH", b"STARTTLS")),
              "%r" % got[:200])


def main():
    cadir = tempfile.mkdtemp(prefix="relay-remote-wrap-ca-")
    ctls, plain = [], None
    inst = None
    try:
        ca = make_ca(cadir)  # root-only ca.pem: loaded before the drop
        inst = h.Instance(ZONE, conf={"tls_ca": ca})
        sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        sctx.load_cert_chain(os.path.join(cadir, "srv.pem"), os.path.join(cadir, "srv.key"))
        rctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        rctx.load_cert_chain(*make_rogue(cadir))
        t, c1 = start_wrap_sink("127.0.0.5", inst.smtp_port, sctx)
        rogue, c2 = start_wrap_sink("127.0.0.9", inst.smtp_port, rctx)
        ctls = [c1, c2]
        plain = PlainRecorder("127.0.0.7", inst.smtp_port)
        test_delivered(inst, t)
        test_refused(inst, t, rogue)
        test_plain_server(inst, plain)
    except Exception as e:
        h.check("no exception (%s: %s)" % (type(e).__name__, e), False)
    finally:
        if h.FAILS and inst:
            print(inst.logtext()[-4000:])
        for c in ctls:
            c.stop()
        if plain:
            plain.close()
        if inst:
            inst.close()
        shutil.rmtree(cadir, ignore_errors=True)
    return 1 if h.FAILS else 0


if __name__ == "__main__":
    signal.alarm(300)
    sys.exit(main())
