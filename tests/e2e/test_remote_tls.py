#!/usr/bin/python3
"""test_remote_tls.py: relay-remote's STARTTLS policies and upstream AUTH,
against aiosmtpd servers with a test CA made here with openssl.

Checks: may uses TLS when offered and plaintext when not, and falls back
to plaintext after a failed handshake; encrypt refuses a server without
STARTTLS; verify accepts the right name under cf.tls_ca and refuses a
wrong one; AUTH PLAIN (and LOGIN) to an upstream works, a wrong password and AUTH
without TLS are deferred, a credentials file readable by others is
refused; a route with auth= sends AUTH only to a server whose
certificate verifies, whatever its tls= (may, encrypt), and the server
never sees an AUTH command otherwise, unless the job says
auth_tls=unverified; a job with auth= for the MX hosts (no fixed host)
is deferred without a connection.  The harness is test_remote.py's.
"""
import os
import signal
import ssl
import subprocess
import sys

from aiosmtpd.smtp import AuthResult

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_remote as h  # noqa: E402


def make_ca(d):
    """A CA and a server certificate for mx.tls.test (EC keys: fast)."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, cwd=d,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=relaybox test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=mx.tls.test")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:mx.tls.test,DNS:login.tls.test,IP:127.0.0.5\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf")
    # ca.pem only root can read: relay-remote loads it before dropping
    # privileges (the verify tests pass only if it did)
    os.chmod(os.path.join(d, "ca.pem"), 0o600)
    return os.path.join(d, "ca.pem")


AUTH_SEEN = []  # (server address, login) of every AUTH a sink received


def authenticator(server, session, envelope, mechanism, auth_data):
    AUTH_SEEN.append((session.host_name, auth_data.login))
    ok = auth_data.login == b"user" and auth_data.password == b"s3cret pass"
    return AuthResult(success=ok, auth_data=auth_data)


ZONE = {
    "mx.tls.test": {"A": ["127.0.0.5"]},
    "wrong.tls.test": {"A": ["127.0.0.5"]},
    "plain.tls.test": {"A": ["127.0.0.7"]},
    "broken.tls.test": {"A": ["127.0.0.8"]},
    "login.tls.test": {"A": ["127.0.0.18"]},
    "stranger.test": {"MX": [[10, "mx.tls.test"]]},  # its MX verifies for its name
}


def deliver(inst, host, tls, auth="", auth_tls=None):
    return h.one(inst, "u@dest.test", host=host, port=str(inst.smtp_port), tls=tls, auth=auth,
                 auth_tls=auth_tls)


def test_policies(inst, t, p, b):
    r, res = deliver(inst, "mx.tls.test", "may")
    check = h.check
    check("may: TLS used when offered", res[0] == "D" and r["tls"].startswith("TLS") and t.msgs[-1]["tls"],
          "%r" % (r,))
    r, res = deliver(inst, "plain.tls.test", "may")
    check("may: plaintext when STARTTLS is not offered", res[0] == "D" and r["tls"] == "none", "%r" % (r,))
    r, res = deliver(inst, "broken.tls.test", "may")
    check("may: plaintext after a failed handshake", res[0] == "D" and r["tls"] == "none" and len(b.msgs) == 1,
          "%r" % (r,))
    n = len(p.msgs)
    r, res = deliver(inst, "plain.tls.test", "encrypt")
    check("encrypt: refuses a server without STARTTLS", res[0] == "T" and "STARTTLS" in res[2] and len(p.msgs) == n,
          "%r" % (r,))
    r, res = deliver(inst, "wrong.tls.test", "encrypt")
    check("encrypt: does not check the name", res[0] == "D" and r["tls"].startswith("TLS"), "%r" % (r,))
    r, res = deliver(inst, "mx.tls.test", "verify")
    check("verify: right name, chain from tls_ca", res[0] == "D" and t.msgs[-1]["tls"], "%r" % (r,))
    r, res = deliver(inst, "127.0.0.5", "verify")
    check("verify: IP literal host checked against the IP in the certificate", res[0] == "D", "%r" % (r,))
    r, res = deliver(inst, "[127.0.0.5]", "verify")
    check("verify: bracketed literal too", res[0] == "D", "%r" % (r,))
    n = len(t.msgs)
    r, res = deliver(inst, "wrong.tls.test", "verify")
    check("verify: wrong name refused", res[0] == "T" and len(t.msgs) == n, "%r" % (r,))


def test_auth(inst, t, p, lg):
    check = h.check
    inst.secret("up", "user\ns3cret pass\n")
    inst.secret("bad", "user\nwrong\n")
    inst.secret("open", "user\ns3cret pass\n", mode=0o644)
    r, res = deliver(inst, "mx.tls.test", "verify", auth="up")
    got = t.msgs[-1]["auth"] if t.msgs else None
    check("auth: AUTH to the upstream works", res[0] == "D" and got is not None and got.login == b"user",
          "%r auth=%r" % (r, got))
    n = len(t.msgs)
    r, res = deliver(inst, "mx.tls.test", "encrypt", auth="bad")
    check("auth: wrong password deferred", res[0] == "T" and "AUTH" in res[2] and len(t.msgs) == n, "%r" % (r,))
    n = len(p.msgs)
    r, res = deliver(inst, "plain.tls.test", "may", auth="up")
    check("auth: never over plaintext", res[0] == "T" and "without TLS" in res[2] and len(p.msgs) == n,
          "%r" % (r,))
    r, res = deliver(inst, "login.tls.test", "encrypt", auth="up")
    got = lg.msgs[-1]["auth"] if lg.msgs else None
    check("auth: LOGIN when PLAIN is not offered", res[0] == "D" and got is not None and got.login == b"user",
          "%r auth=%r" % (r, got))
    r, res = deliver(inst, "mx.tls.test", "encrypt", auth="open")
    check("auth: credentials readable by others refused", res[0] == "T" and "0600" in res[2], "%r" % (r,))
    r, res = deliver(inst, "mx.tls.test", "encrypt", auth="missing")
    check("auth: missing credentials deferred", res[0] == "T", "%r" % (r,))
    test_auth_unverified(inst, t)
    test_auth_mx(inst, t)


def test_auth_unverified(inst, t):
    """wrong.tls.test answers with a certificate for another name: TLS
    works, verification fails, so the password must not go."""
    check = h.check
    for tls in ("may", "encrypt"):
        n, seen = len(t.msgs), len(AUTH_SEEN)
        r, res = deliver(inst, "wrong.tls.test", tls, auth="up")
        check("auth: tls=%s, unverified certificate: deferred, no AUTH sent" % tls,
              res[0] == "T" and "verif" in res[2] and len(AUTH_SEEN) == seen and len(t.msgs) == n,
              "%r auth=%r" % (r, AUTH_SEEN[seen:]))
    n, seen = len(t.msgs), len(AUTH_SEEN)
    r, res = deliver(inst, "mx.tls.test", "may", auth="up")
    check("auth: tls=may, verified certificate: AUTH sent",
          res[0] == "D" and len(AUTH_SEEN) == seen + 1, "%r" % (r,))
    seen = len(AUTH_SEEN)
    r, res = deliver(inst, "wrong.tls.test", "encrypt", auth="up", auth_tls="unverified")
    check("auth: auth_tls=unverified accepts the risk: AUTH sent, delivered",
          res[0] == "D" and len(AUTH_SEEN) == seen + 1, "%r" % (r,))
    seen = len(AUTH_SEEN)
    try:
        r = deliver(inst, "wrong.tls.test", "encrypt", auth="up", auth_tls="maybe")
    except EOFError:
        r = "closed"
    check("auth: an unknown auth_tls value is a bad frame (no answer, no AUTH)",
          r == "closed" and len(AUTH_SEEN) == seen, "%r" % (r,))


def test_auth_mx(inst, t):
    """A job with auth= and no fixed host (what an older makecdb let
    "route default mx auth=NAME" compile to): the credentials would go
    to whatever MX each recipient's domain names, whose certificate
    verifies for that name as any domain owner's can.  Deferred before
    any connection, and the MX never sees an AUTH."""
    n, seen, conns = len(t.msgs), len(AUTH_SEEN), t.connections
    r, res = h.one(inst, "someone@stranger.test", host="", tls="may", auth="up")
    h.check("auth: a job to the MX hosts with auth= is deferred, no AUTH, no connection",
            res[0] == "T" and "4.3.5" in res[2] and "auth=up" in res[2] and
            len(AUTH_SEEN) == seen and len(t.msgs) == n and t.connections == conns,
            "%r auth=%r" % (r, AUTH_SEEN[seen:]))
    warned = [l for l in inst.logtext().splitlines() if "warning:" in l and "auth=up" in l]
    h.check("auth: ... and relay-remote warns naming the credentials", len(warned) == 1,
            inst.logtext()[-800:])


def main():
    inst = h.Instance(ZONE)
    ctls = []
    try:
        ca = make_ca(inst.dir)
        with open(os.path.join(inst.dir, "relay.conf"), "a") as f:
            f.write("tls_ca = %s\n" % ca)
        inst.proc.terminate()
        inst.proc.wait(timeout=5)
        os.unlink(inst.sock_path)
        inst.proc = subprocess.Popen([h.BIN, "-d", inst.dir], stderr=inst.log)
        for _ in range(100):
            if os.path.exists(inst.sock_path):
                break
            h.time.sleep(0.05)
        sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        sctx.load_cert_chain(os.path.join(inst.dir, "srv.pem"), os.path.join(inst.dir, "srv.key"))
        bad = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # no certificate: every handshake fails
        t, c1 = h.start_sink("127.0.0.5", inst.smtp_port, tls_context=sctx, authenticator=authenticator,
                             auth_require_tls=True)
        p, c2 = h.start_sink("127.0.0.7", inst.smtp_port, authenticator=authenticator, auth_require_tls=True)
        b, c3 = h.start_sink("127.0.0.8", inst.smtp_port, tls_context=bad)
        ctls = [c1, c2, c3]
        test_policies(inst, t, p, b)
        lg, c4 = h.start_sink("127.0.0.18", inst.smtp_port, tls_context=sctx, authenticator=authenticator,
                              auth_require_tls=True, auth_exclude_mechanism=["PLAIN"])
        ctls.append(c4)
        test_auth(inst, t, p, lg)
    except Exception as e:
        h.check("no exception (%s: %s)" % (type(e).__name__, e), False)
    finally:
        if h.FAILS:
            print(inst.logtext()[-4000:])
        for c in ctls:
            c.stop()
        inst.close()
    return 1 if h.FAILS else 0


if __name__ == "__main__":
    signal.alarm(300)
    sys.exit(main())
