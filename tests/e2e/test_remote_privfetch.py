#!/usr/bin/python3
"""test_remote_privfetch.py: remote_private_addresses covers the HTTPS
connections a recipient's domain chooses, not only its MX hosts: the
MTA-STS policy fetch (https://mta-sts.<domain>/) and the POST of a
TLS-RPT report to an https: rua.  relay-remote alone, driven over
run/remote.sock (test_remote.py's harness), with our DNS server, the
certificates of test_mx_security.py and HTTPS servers on 127.0.19.x.

refuse (the default): a policy host whose two addresses are loopback is
not connected to (the server sees no request), one warning names the
domain and the first address refused, the job goes on without a policy; a rua
on loopback, by name or as a literal address, gets no POST (post=failed,
a warning).  A domain the operator routes by name (route rcpt <domain>
mx) vouches for its own DNS: its policy is fetched.
allow: the same policy is fetched and the same report is POSTed, and a
redirect from the policy server is not followed (RFC 8461 3.3).  A
proxy in the environment (https_proxy, HTTPS_PROXY, ALL_PROXY) is not
used: the policy and the report go straight to their servers.
"""
import http.server
import os
import signal
import socket
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_mx_security as mxs  # noqa: E402
import test_remote as h  # noqa: E402
import test_tlsrpt as rpt  # noqa: E402

check = h.check
NET = "127.0.19."
WEB, WEB2, POST, PROXY = NET + "100", NET + "99", NET + "101", NET + "102"
GETS = []  # (Host, path) of every GET the policy server answered


class Handler(http.server.BaseHTTPRequestHandler):
    """enf.test and none.test have a policy; tst.test's server answers
    with a redirect to a path that would serve one."""

    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        GETS.append((host, self.path))
        dom = host[len("mta-sts."):]
        if dom == "tst.test" and self.path == "/.well-known/mta-sts.txt":
            self.send_response(301)
            self.send_header("Location", "/moved")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = mxs.policy("testing" if dom == "tst.test" else "none").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def start_https(d, ip, port, handler):
    srv = http.server.ThreadingHTTPServer((ip, port), handler)
    srv.daemon_threads = True
    srv.socket = mxs.server_ctx(d, "good.pem", "good.key").wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class Proxy:
    """A listener that counts the connections made to it (a proxy the
    environment names): relay-remote must not make any."""

    def __init__(self, ip):
        self.sock = socket.socket()
        self.sock.bind((ip, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            c.close()

    def close(self):
        self.sock.close()


def zone(rua_port):
    z = {}
    for dom, ip, sid in (("enf.test", "2", "e1"), ("none.test", "3", "n1"), ("tst.test", "3", "t1")):
        z[dom] = {"MX": [[10, "mx." + dom]]}
        z["mx." + dom] = {"A": [NET + ip]}
        z["_mta-sts." + dom] = {"TXT": ["v=STSv1; id=%s;" % sid]}
        z["mta-sts." + dom] = {"A": [WEB]}
    z["mta-sts.enf.test"] = {"A": [WEB, WEB2]}  # two addresses, one warning
    z["rpt.reports.test"] = {"A": [POST]}
    return z


def post(inst, url):
    """A TLS-RPT report handed over as relay-send does (a post frame, the
    JSON attached): relay-remote's answer as a dict."""
    fd = os.memfd_create("report")
    try:
        os.write(fd, b'{"report-id": "privfetch"}')
        os.lseek(fd, 0, os.SEEK_SET)
        s = inst.connect()
        try:
            socket.send_fds(s, [h.netstring(("post=%s\n" % url).encode())], [fd])
            data = h.read_netstring(s).decode()
        finally:
            s.close()
    finally:
        os.close(fd)
    return dict(line.partition("=")[::2] for line in data.splitlines())


def fetched(dom):
    return sum(1 for host, _ in GETS if host == "mta-sts." + dom)


def lines_with(inst, *words):
    return [ln for ln in inst.logtext().splitlines() if all(w in ln for w in words)]


def test_refuse(inst, rua):
    r, res = h.one(inst, "u@enf.test")
    check("refuse: the policy host on loopback gets no request",
          fetched("enf.test") == 0, "%r" % (GETS,))
    warn = lines_with(inst, "domain=enf.test", "remote_private_addresses is refuse")
    check("refuse: one warning names the domain and an address", len(warn) == 1 and
          (WEB in warn[0] or WEB2 in warn[0]), inst.logtext()[-1500:])
    check("refuse: no policy, the job goes on as without one (its MX is refused too)",
          res[0] == "B" and "5.4.4" in res[2] and "MTA-STS" not in res[2], "%r" % (r,))
    r, res = h.one(inst, "u@none.test", via="route:rcpt:none.test")
    check("refuse: a domain routed by name has its policy fetched",
          fetched("none.test") == 1 and
          lines_with(inst, "domain=none.test id=n1 mode=none", "fetched"),
          "%r %s" % (GETS, inst.logtext()[-1500:]))
    n0 = len(rpt.POSTS)
    for url in ("https://rpt.reports.test:%d/v1/tlsrpt" % rua,
                "https://%s:%d/v1/tlsrpt" % (POST, rua)):
        a = post(inst, url)
        check("refuse: no POST to a rua on loopback (%s)" % url.split("/")[2],
              a.get("post") == "failed" and "private address" in a.get("text", "") and
              len(rpt.POSTS) == n0, "%r %r" % (a, rpt.POSTS))
    check("refuse: each refused POST logged", len(lines_with(
        inst, "tls-rpt: post to https://", POST, "remote_private_addresses is refuse")) == 2,
        inst.logtext()[-1500:])


def test_allow(inst, rua):
    n0 = fetched("enf.test")
    h.one(inst, "u@enf.test")
    check("allow: the policy host on loopback is fetched", fetched("enf.test") == n0 + 1 and
          lines_with(inst, "domain=enf.test id=e1 mode=none", "fetched"),
          "%r %s" % (GETS, inst.logtext()[-1500:]))
    check("allow: nothing refused", "private address" not in inst.logtext())
    n0 = len(rpt.POSTS)
    a = post(inst, "https://rpt.reports.test:%d/v1/tlsrpt" % rua)
    check("allow: the report is POSTed", a.get("post") == "ok" and len(rpt.POSTS) == n0 + 1,
          "%r %r" % (a, inst.logtext()[-1500:]))
    h.one(inst, "u@tst.test")
    check("allow: a redirect from the policy server is not followed",
          [p for host, p in GETS if host == "mta-sts.tst.test"] == ["/.well-known/mta-sts.txt"]
          and lines_with(inst, "domain=tst.test policy fetch failed: ", "HTTP 301"),
          "%r" % (GETS,))


def test_proxy(inst, rua, proxy):
    """allow, and the environment names a proxy."""
    n0, p0 = fetched("enf.test"), len(rpt.POSTS)
    h.one(inst, "u@enf.test")
    a = post(inst, "https://rpt.reports.test:%d/v1/tlsrpt" % rua)
    check("proxy in the environment: not used", proxy.count == 0,
          "connections=%d" % proxy.count)
    check("proxy in the environment: the policy fetched from its server",
          fetched("enf.test") == n0 + 1, "%r %s" % (GETS, inst.logtext()[-1500:]))
    check("proxy in the environment: the report POSTed to its server",
          a.get("post") == "ok" and len(rpt.POSTS) == p0 + 1, "%r" % (a,))


def start(d, setting, web_port, proxy=None):
    env = {"SSL_CERT_FILE": os.path.join(d, "ca.pem")}
    if proxy:
        purl = "http://%s:%d" % (PROXY, proxy.port)
        env.update({"https_proxy": purl, "HTTPS_PROXY": purl, "ALL_PROXY": purl,
                    "all_proxy": purl, "no_proxy": "", "NO_PROXY": ""})
    return h.Instance({}, {"remote_private_addresses": setting, "mta_sts_port": web_port,
                           "mta_sts_timeout": 5}, env=env)


def main():
    d = h.tempfile.mkdtemp(prefix="relay-privfetch-")
    os.chmod(d, 0o755)
    servers, proxy, insts = [], None, []
    try:
        mxs.make_certs(d)
        os.chmod(os.path.join(d, "ca.pem"), 0o644)
        web = start_https(d, WEB, 0, Handler)
        servers.append(web)
        port = web.server_address[1]
        servers.append(start_https(d, WEB2, port, Handler))
        rua_srv = rpt.start_post_server(d, POST)
        servers.append(rua_srv)
        rua = rua_srv.server_address[1]
        proxy = Proxy(PROXY)
        runs = (("refuse", None, test_refuse), ("allow", None, test_allow),
                ("allow", proxy, lambda i, r: test_proxy(i, r, proxy)))
        for setting, px, test in runs:
            inst = start(d, setting, port, px)
            insts.append(inst)
            inst.set_zone(zone(rua))
            n0 = len(h.FAILS)
            test(inst, rua)
            if len(h.FAILS) > n0:
                print(inst.logtext()[-3000:])
    except Exception as e:
        check("no exception (%s: %s)" % (type(e).__name__, e), False)
    finally:
        for i in insts:
            i.close()
        for s in servers:
            s.shutdown()
        if proxy:
            proxy.close()
        h.shutil.rmtree(d, ignore_errors=True)
    return 1 if h.FAILS else 0


if __name__ == "__main__":
    signal.alarm(240)
    sys.exit(main())
