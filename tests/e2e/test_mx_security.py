#!/usr/bin/python3
"""test_mx_security.py: MTA-STS (RFC 8461) and DANE (RFC 7672) for
deliveries to MX hosts, relay-remote driven over run/remote.sock (the
harness of test_remote.py) against aiosmtpd receivers on 127.0.17.x, our
DNS server (dnsserver.py, which sets the AD bit for the names marked
"AD", as a validating resolver would) and an HTTPS policy server (Python's
http.server with ssl) on a loopback address.  The policy port is the
test-only setting mta_sts_port: relaybox fetches from 443 otherwise.

MTA-STS: enforce with the right certificate -> sent (tls= says
mta-sts); enforce with a wrong certificate, without STARTTLS, or with an
MX the policy does not list -> deferred, the receiver got nothing;
testing with a wrong certificate -> sent, and the log says what would
have failed; none -> sent, nothing logged; the policy is cached in
DIR/mta-sts/ and used when the policy server is gone; a new TXT id makes
it fetched again; a fetch that fails or a policy that does not parse is
no policy (sent as usual, logged); no record, no fetch; a cached policy
past its max_age is not used.
DANE (dnssec = trust_ad): DANE-EE 3 1 1 matching a self-signed
certificate -> sent (tls= says dane); a TLSA record that does not match
-> deferred; DANE-TA 2 1 1 -> sent; no TLSA -> the route's usual TLS; a
TLSA record and no STARTTLS -> deferred; an MX answer, or the MX host's
address, without AD -> no DANE; DANE wins over MTA-STS; a fixed host keeps its own tls=.
Controls: the same jobs with mta_sts = no and dnssec = off are sent
(in clear where the server has no TLS), so each check above fails when
its mechanism is turned off.
The test CA stands for the public CAs of the system store (SSL_CERT_FILE
in relay-remote's environment).  tls_ca set to another, private CA (a
smarthost's own): the policy of an enforce domain is still fetched and
its MX without STARTTLS is still refused (never sent in clear), an MX
that verifies against the system store is accepted; a fixed host is
verified against either CA; an MX whose certificate only the private CA
signed is refused under enforce (tls_ca does not vouch for the MX names
a recipient's domain publishes); but an MX of a domain a rcpt route
names (route rcpt corp.test mx tls=verify, and a .parent route) verifies
against it, while route default, a sender route, a rcpt route's key
for another domain and plain MX delivery to that same host are refused
(also when a connection verified with tls_ca is cached).
"""
import hashlib
import http.server
import os
import signal
import ssl
import subprocess
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_remote as h  # noqa: E402

check = h.check
NET = "127.0.17."
GOOD_NAMES = ["mx.enf.test", "mx.enfplain.test", "other.host.test", "mx.tst.test",
              "mx.none.test", "mx.dta.test", "mx.dnone.test", "mx.dinsec.test", "mx.daddr.test",
              "mx.cache.test", "mta-sts.enf.test", "mta-sts.enfbad.test",
              "mta-sts.enfplain.test", "mta-sts.enfmx.test", "mta-sts.tst.test",
              "mta-sts.none.test", "mta-sts.both.test", "mta-sts.cache.test",
              "mta-sts.fetchfail.test", "mta-sts.badpol.test", "mta-sts.short.test",
              "rpt.reports.test", "mx.manymx.test", "mta-sts.manymx.test",
              "mta-sts.privmx.test"]
PRIV_NAMES = ["mx.privmx.test", "smart.priv.test"]  # signed by priv.pem only


def openssl(d, *args):
    subprocess.run(["openssl"] + list(args), check=True, cwd=d,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(d):
    """A CA; 'good' (every name above), 'wrong' (another name), both
    CA-signed; 'self' (self-signed, trusted by nobody)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(d, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=relaybox sec CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, sans in (("good", GOOD_NAMES), ("wrong", ["elsewhere.test"])):
        openssl(d, "req", *ec, "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + sans[0])
        with open(os.path.join(d, name + ".cnf"), "w") as f:
            f.write("subjectAltName=%s\n" % ",".join("DNS:" + n for n in sans))
        openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".cnf")
    with open(os.path.join(d, "chain.pem"), "w") as f:  # DANE-TA: the anchor is sent
        f.write(open(os.path.join(d, "good.pem")).read() + open(os.path.join(d, "ca.pem")).read())
    openssl(d, "req", "-x509", *ec, "-keyout", "self.key", "-out", "self.pem", "-days", "2",
            "-subj", "/CN=nobody.test")
    # a second CA: the private CA of a smarthost, an operator's tls_ca
    openssl(d, "req", "-x509", *ec, "-keyout", "priv.key", "-out", "priv.pem", "-days", "2",
            "-subj", "/CN=smarthost private CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl(d, "req", *ec, "-keyout", "privsrv.key", "-out", "privsrv.csr", "-subj", "/CN=" + PRIV_NAMES[0])
    with open(os.path.join(d, "privsrv.cnf"), "w") as f:
        f.write("subjectAltName=%s\n" % ",".join("DNS:" + n for n in PRIV_NAMES))
    openssl(d, "x509", "-req", "-in", "privsrv.csr", "-CA", "priv.pem", "-CAkey", "priv.key",
            "-CAcreateserial", "-out", "privsrv.pem", "-days", "2", "-extfile", "privsrv.cnf")


def spki_sha256(d, pem):
    """The TLSA 1 1 data of a certificate: SHA-256 of its public key."""
    pub = subprocess.run(["openssl", "x509", "-in", os.path.join(d, pem), "-noout", "-pubkey"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def server_ctx(d, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, cert), os.path.join(d, key))
    return ctx


POLICIES = {}   # domain -> policy text served (absent: 404)
FETCHES = []    # domains fetched


class PolicyHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        dom = host[len("mta-sts."):] if host.startswith("mta-sts.") else ""
        FETCHES.append(dom)
        text = POLICIES.get(dom)
        if self.path != "/.well-known/mta-sts.txt" or text is None:
            self.send_error(404)
            return
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def start_policy_server(d, ip):
    srv = http.server.ThreadingHTTPServer((ip, 0), PolicyHandler)
    srv.daemon_threads = True
    srv.socket = server_ctx(d, "good.pem", "good.key").wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def policy(mode, *mx, max_age=86400):
    return "version: STSv1\r\nmode: %s\r\n%smax_age: %d\r\n" % (
        mode, "".join("mx: %s\r\n" % m for m in mx), max_age)


def zone(port, ee_hash, ca_hash, web):
    """MX names -> receivers: .2 good certificate, .3 wrong certificate,
    .4 no STARTTLS, .5 self-signed, .6 good certificate with its CA, .7 a
    certificate of the private CA."""
    z = {}

    def mx(dom, host, ip, ad=False, sts_id=None, tlsa=None):
        z[dom] = {"MX": [[10, host]], "AD": ad}
        z[host] = {"A": [NET + ip], "AD": ad}
        if sts_id:
            z["_mta-sts." + dom] = {"TXT": ["v=STSv1; id=%s;" % sts_id]}
            z["mta-sts." + dom] = {"A": [web]}
        if tlsa is not None:
            z["_%d._tcp.%s" % (port, host)] = {"TLSA": tlsa, "AD": ad}
    mx("enf.test", "mx.enf.test", "2", sts_id="e1")
    mx("enfbad.test", "mx.enfbad.test", "3", sts_id="e1")
    mx("enfplain.test", "mx.enfplain.test", "4", sts_id="e1")
    mx("enfmx.test", "other.host.test", "2", sts_id="e1")
    mx("tst.test", "mx.tst.test", "3", sts_id="t1")
    mx("none.test", "mx.none.test", "3", sts_id="n1")
    mx("cache.test", "mx.cache.test", "3", sts_id="c1")
    mx("fetchfail.test", "mx.fetchfail.test", "3", sts_id="f1")
    mx("badpol.test", "mx.badpol.test", "3", sts_id="b1")
    mx("short.test", "mx.short.test", "3", sts_id="s1")
    mx("nosts.test", "mx.nosts.test", "3")
    mx("manymx.test", "mx.manymx.test", "2", sts_id="m1")
    mx("dee.test", "mx.dee.test", "5", ad=True, tlsa=["3 1 1 " + ee_hash])
    mx("dbad.test", "mx.dbad.test", "5", ad=True, tlsa=["3 1 1 " + "00" * 32])
    mx("dta.test", "mx.dta.test", "6", ad=True, tlsa=["2 1 1 " + ca_hash])
    mx("dnone.test", "mx.dnone.test", "2", ad=True, tlsa=[])
    mx("dplain.test", "mx.dplain.test", "4", ad=True, tlsa=["3 1 1 " + ee_hash])
    mx("dinsec.test", "mx.dinsec.test", "2", ad=False, tlsa=["3 1 1 " + "00" * 32])
    mx("daddr.test", "mx.daddr.test", "2", ad=True, tlsa=["3 1 1 " + "00" * 32])
    z["mx.daddr.test"]["AD"] = False  # the host's address is not validated
    mx("both.test", "mx.both.test", "5", ad=True, sts_id="b1", tlsa=["3 1 1 " + ee_hash])
    mx("privmx.test", "mx.privmx.test", "7", sts_id="p1")
    z["smart.priv.test"] = {"A": [NET + "7"]}
    for dom in ("corp.test", "sub.corp.test", "open.test"):
        z[dom] = {"MX": [[10, "smart.priv.test"]]}
    return z


POLICIES.update({
    "enf.test": policy("enforce", "mx.enf.test"),
    "enfbad.test": policy("enforce", "mx.enfbad.test"),
    "enfplain.test": policy("enforce", "*.enfplain.test"),
    "enfmx.test": policy("enforce", "mx.enfmx.test"),
    "tst.test": policy("testing", "mx.tst.test"),
    "none.test": policy("none"),
    "cache.test": policy("enforce", "mx.cache.test"),
    "both.test": policy("enforce", "mx.both.test"),
    "badpol.test": policy("strict", "mx.badpol.test"),
    "short.test": policy("enforce", "mx.short.test", max_age=1),
    # RFC 8461 sets no limit on mx lines: the MX is the 41st
    "manymx.test": policy("enforce", *["farm%02d.manymx.test" % i for i in range(40)],
                          "mx.manymx.test"),
    "privmx.test": policy("enforce", "mx.privmx.test"),
})


def got(sinks, ip, n0):
    return len(sinks[ip].msgs) - n0


def send(inst, sinks, dom, ip, **kw):
    n0 = len(sinks[ip].msgs)
    r, res = h.one(inst, "u@" + dom, **kw)
    return r, res, got(sinks, ip, n0)


def test_sts(inst, sinks):
    r, res, n = send(inst, sinks, "enf.test", "2")
    check("sts enforce, certificate verifies: sent", res[0] == "D" and n == 1 and
          r["tls"].endswith("mta-sts"), "%r" % (r,))
    r, res, n = send(inst, sinks, "enfbad.test", "3")
    check("sts enforce, wrong certificate: deferred, nothing sent",
          res[0] == "T" and "MTA-STS" in res[2] and n == 0, "%r" % (r,))
    r, res, n = send(inst, sinks, "enfplain.test", "4")
    check("sts enforce, no STARTTLS: deferred, never sent in clear",
          res[0] == "T" and "MTA-STS" in res[2] and n == 0, "%r" % (r,))
    r, res, n = send(inst, sinks, "enfmx.test", "2")
    check("sts enforce, MX not in the policy: deferred", res[0] == "T" and
          "not in the policy" in res[2] and n == 0, "%r" % (r,))
    r, res, n = send(inst, sinks, "tst.test", "3")
    log = inst.logtext()
    check("sts testing, wrong certificate: sent", res[0] == "D" and n == 1, "%r" % (r,))
    check("sts testing: the log says what would have failed",
          "mta-sts=testing domain=tst.test mx=mx.tst.test would fail:" in log, log[-1500:])
    r, res, n = send(inst, sinks, "none.test", "3")
    check("sts none: sent, nothing logged", res[0] == "D" and n == 1 and
          "domain=none.test mx" not in inst.logtext(), "%r" % (r,))
    r, res, n = send(inst, sinks, "manymx.test", "2")
    check("sts enforce, the MX listed after 40 other patterns: sent",
          res[0] == "D" and n == 1 and r["tls"].endswith("mta-sts"), "%r" % (r,))
    cache = os.path.join(inst.dir, "mta-sts", "enf.test")
    check("sts: the policy is cached", os.path.exists(cache) and
          "mode: enforce" in open(cache).read())


def test_sts_cache(inst, sinks):
    r, res, n = send(inst, sinks, "cache.test", "3")
    check("sts cache: first fetch enforced", res[0] == "T" and n == 0 and
          FETCHES.count("cache.test") == 1, "%r %r" % (r, FETCHES))
    POLICIES.pop("cache.test")  # the server has it no more: the cache holds
    r, res, n = send(inst, sinks, "cache.test", "3")
    check("sts cache: used without a fetch while the id is the same",
          res[0] == "T" and n == 0 and FETCHES.count("cache.test") == 1, "%r %r" % (r, FETCHES))
    POLICIES["cache.test"] = policy("testing", "mx.cache.test")
    z = dict(inst.cur_zone)
    z["_mta-sts.cache.test"] = {"TXT": ["v=STSv1; id=c2;"]}
    inst.set_zone(z)
    r, res, n = send(inst, sinks, "cache.test", "3")
    check("sts cache: a new id is fetched again (now testing: sent)",
          res[0] == "D" and n == 1 and FETCHES.count("cache.test") == 2, "%r %r" % (r, FETCHES))


def test_sts_fetch(inst, sinks):
    """No usable policy: sent as usual (RFC 8461 fails open without
    one), logged; a cached policy past its max_age is not used."""
    r, res, n = send(inst, sinks, "fetchfail.test", "3")
    check("sts: policy fetch fails (404), none cached: sent as usual",
          res[0] == "D" and n == 1 and "domain=fetchfail.test policy fetch failed: "
          in inst.logtext(), "%r" % (r,))
    r, res, n = send(inst, sinks, "badpol.test", "3")
    check("sts: a policy that does not parse strictly is none: sent, logged",
          res[0] == "D" and n == 1 and "unknown mode" in inst.logtext(), "%r" % (r,))
    n0 = len(FETCHES)
    r, res, n = send(inst, sinks, "nosts.test", "3")
    check("sts: no _mta-sts record: no fetch, sent", res[0] == "D" and n == 1 and
          len(FETCHES) == n0, "%r %r" % (r, FETCHES[n0:]))
    r, res, n = send(inst, sinks, "short.test", "3")
    check("sts: max_age 1 policy enforced at first", res[0] == "T" and n == 0, "%r" % (r,))
    POLICIES.pop("short.test")
    h.time.sleep(2.2)
    r, res, n = send(inst, sinks, "short.test", "3")
    check("sts: past its max_age the cached policy is not used (refetch fails: sent)",
          res[0] == "D" and n == 1 and FETCHES.count("short.test") == 2, "%r %r" % (r, FETCHES))


def test_dane(inst, sinks):
    r, res, n = send(inst, sinks, "dee.test", "5")
    check("dane-ee 3 1 1 match (self-signed): sent, authenticated by DANE",
          res[0] == "D" and n == 1 and r["tls"].endswith("dane"), "%r" % (r,))
    r, res, n = send(inst, sinks, "dbad.test", "5")
    check("dane: TLSA mismatch: deferred, nothing sent", res[0] == "T" and "DANE" in res[2] and n == 0,
          "%r" % (r,))
    r, res, n = send(inst, sinks, "dta.test", "6")
    check("dane-ta 2 1 1 match: sent", res[0] == "D" and n == 1 and r["tls"].endswith("dane"), "%r" % (r,))
    r, res, n = send(inst, sinks, "dnone.test", "2")
    check("dane: no TLSA: the route's usual TLS", res[0] == "D" and n == 1 and
          r["tls"].startswith("TLS") and "dane" not in r["tls"], "%r" % (r,))
    r, res, n = send(inst, sinks, "dplain.test", "4")
    check("dane: TLSA and no STARTTLS: deferred, never sent in clear",
          res[0] == "T" and "DANE" in res[2] and n == 0, "%r" % (r,))
    r, res, n = send(inst, sinks, "dinsec.test", "2")
    check("dane: MX answer not validated (no AD): DANE does not apply",
          res[0] == "D" and n == 1 and "dane" not in r["tls"], "%r" % (r,))
    r, res, n = send(inst, sinks, "daddr.test", "2")
    check("dane: MX host's address not validated: DANE does not apply",
          res[0] == "D" and n == 1 and "dane" not in r["tls"], "%r" % (r,))
    r, res, n = send(inst, sinks, "both.test", "5")
    check("dane wins over an enforced MTA-STS policy", res[0] == "D" and n == 1 and
          r["tls"].endswith("dane"), "%r" % (r,))
    r, res, n = send(inst, sinks, "dbad.test", "5", host="mx.dbad.test", port=str(inst.smtp_port),
                     tls="encrypt")
    check("a fixed host keeps its own tls= (no DANE)", res[0] == "D" and n == 1, "%r" % (r,))


def test_controls(inst, sinks):
    """With mta_sts = no and dnssec = off each refused job above goes."""
    for dom, ip in (("enfbad.test", "3"), ("enfplain.test", "4"), ("enfmx.test", "2"),
                    ("dbad.test", "5"), ("dplain.test", "4")):
        r, res, n = send(inst, sinks, dom, ip)
        check("control (checks off): %s is sent" % dom, res[0] == "D" and n == 1, "%r" % (r,))
    check("control: nothing logged as testing", "mta-sts=testing" not in inst.logtext())


def test_private_ca(inst, sinks):
    """tls_ca = the private CA, the test CA in the system store."""
    r, res, n = send(inst, sinks, "enfplain.test", "4")
    check("private tls_ca: enforce domain, MX without STARTTLS: still deferred, never in clear",
          res[0] == "T" and "MTA-STS" in res[2] and n == 0, "%r" % (r,))
    r, res, n = send(inst, sinks, "enf.test", "2")
    check("private tls_ca: enforce domain, MX verified by the system store: sent over MTA-STS",
          res[0] == "D" and n == 1 and r["tls"].endswith("mta-sts"), "%r" % (r,))
    r, res, n = send(inst, sinks, "privmx.test", "7")
    check("private tls_ca: an MX only the private CA signed is refused under enforce",
          res[0] == "T" and "MTA-STS" in res[2] and n == 0, "%r" % (r,))
    r, res, n = send(inst, sinks, "x.test", "7", host="smart.priv.test", port=str(inst.smtp_port),
                     tls="verify")
    check("private tls_ca: a fixed host signed by it verifies", res[0] == "D" and n == 1, "%r" % (r,))
    r, res, n = send(inst, sinks, "x.test", "2", host="mx.enf.test", port=str(inst.smtp_port),
                     tls="verify")
    check("private tls_ca: a fixed host signed by a system CA still verifies",
          res[0] == "D" and n == 1, "%r" % (r,))
    check("private tls_ca: no policy fetch failed",
          "policy fetch failed" not in inst.logtext(), inst.logtext()[-1500:])


def test_routed_mx_ca(inst, sinks):
    """route rcpt corp.test mx tls=verify: the operator named the
    domain, its internal MX (smart.priv.test) has a certificate of the
    private tls_ca.  Every other MX job stays on the system store, and
    a connection verified with tls_ca never serves one of them (all the
    jobs go to one worker, whose cache holds that connection)."""
    sink = sinks["7"]
    s = inst.connect()
    try:
        def one(dom, via):
            n0 = len(sink.msgs)
            r = h.job(inst, s, ["u@" + dom], tls="verify", via=via)
            return r, r["rcpt"]["u@" + dom], len(sink.msgs) - n0
        sink.connections = 0
        r, res, n = one("corp.test", "route:rcpt:corp.test")
        check("private tls_ca: route rcpt <domain> mx tls=verify, MX signed by tls_ca: sent",
              res[0] == "D" and n == 1, "%r" % (r,))
        r, res, n = one("sub.corp.test", "route:rcpt:.corp.test")
        check("private tls_ca: route rcpt .<parent> mx tls=verify, MX signed by tls_ca: sent",
              res[0] == "D" and n == 1, "%r" % (r,))
        check("private tls_ca: the routed domains' jobs share one cached connection",
              sink.connections == 1, "connections=%d" % sink.connections)
        # the same MX host for domains the operator did not name
        for via in ("route:default", "route:sender:relay.test", "route:rcpt:corp.test", "mx"):
            r, res, n = one("open.test", via)
            check("private tls_ca: via %s, MX signed only by tls_ca: refused" % via,
                  res[0] == "T" and n == 0, "%r" % (r,))
    finally:
        s.close()


def start(d, conf, web_ip, web_port, ca, tls_ca=None):
    """relay-remote with ca as its system store (SSL_CERT_FILE), and
    tls_ca when given."""
    conf = dict({"mta_sts_port": web_port, "mta_sts_timeout": 5}, **conf)
    if tls_ca:
        conf["tls_ca"] = tls_ca
    inst = h.Instance({}, conf, env={"SSL_CERT_FILE": ca})
    os.makedirs(os.path.join(inst.dir, "mta-sts"), mode=0o700)
    inst.chown_remote(os.path.join(inst.dir, "mta-sts"))
    z = zone(inst.smtp_port, spki_sha256(d, "self.pem"), spki_sha256(d, "ca.pem"), web_ip)
    inst.cur_zone = z
    inst.set_zone(z)
    return inst


def run_all(d, web, ctls, sinks_by_port):
    ca = os.path.join(d, "ca.pem")
    inst = start(d, {"dnssec": "trust_ad"}, NET + "100", web.server_address[1], ca)
    insts = [inst]
    try:
        sinks = sinks_by_port(inst.smtp_port)
        test_sts(inst, sinks)
        test_sts_cache(inst, sinks)
        test_sts_fetch(inst, sinks)
        test_dane(inst, sinks)
        if h.FAILS:
            print(inst.logtext()[-4000:])
        off = start(d, {"dnssec": "off", "mta_sts": "no"}, NET + "100", web.server_address[1], ca)
        insts.append(off)
        test_controls(off, sinks_by_port(off.smtp_port))
        priv = start(d, {}, NET + "100", web.server_address[1], ca, os.path.join(d, "priv.pem"))
        insts.append(priv)
        priv_sinks = sinks_by_port(priv.smtp_port)
        test_private_ca(priv, priv_sinks)
        test_routed_mx_ca(priv, priv_sinks)
    finally:
        for i in insts:
            i.close()


def main():
    d = h.tempfile.mkdtemp(prefix="relay-mxsec-")
    os.chmod(d, 0o755)
    ctls = []
    web = None
    try:
        make_certs(d)
        for pem in ("ca.pem", "priv.pem"):
            os.chmod(os.path.join(d, pem), 0o644)
        web = start_policy_server(d, NET + "100")
        ctxs = {"2": server_ctx(d, "good.pem", "good.key"), "3": server_ctx(d, "wrong.pem", "wrong.key"),
                "4": None, "5": server_ctx(d, "self.pem", "self.key"),
                "6": server_ctx(d, "chain.pem", "good.key"),
                "7": server_ctx(d, "privsrv.pem", "privsrv.key")}

        def sinks_by_port(port):
            sinks = {}
            for ip, ctx in ctxs.items():
                kw = {"tls_context": ctx} if ctx else {}
                s, c = h.start_sink(NET + ip, port, **kw)
                ctls.append(c)
                sinks[ip] = s
            return sinks
        run_all(d, web, ctls, sinks_by_port)
    except Exception as e:
        check("no exception (%s: %s)" % (type(e).__name__, e), False)
    finally:
        for c in ctls:
            c.stop()
        if web:
            web.shutdown()
        h.shutil.rmtree(d, ignore_errors=True)
    return 1 if h.FAILS else 0


if __name__ == "__main__":
    signal.alarm(300)
    sys.exit(main())
