#!/usr/bin/python3
"""test_tlsrpt.py: TLS-RPT (RFC 8460) reports, a whole relay (relay-master)
with tls_rpt = yes and a 2-second tls_rpt_period (the test-only short
period; a day otherwise).  Two messages go through the relay to MX hosts
under MTA-STS (test_mx_security.py's certificates and policy server):
enf.test (enforce, the certificate verifies: a success) and tst.test
(testing, a certificate for another name: sent, a failure of type
certificate-host-mismatch).  Both domains publish
"v=TLSRPTv1; rua=mailto:rpt@reports.test"; the reports, delivered by the
relay itself to reports.test's MX, must be multipart/report;
report-type=tlsrpt with an application/tlsrpt+json part that Python's
email and json packages read, with those counts; enf.test's https: rua
gets the JSON by POST (relay-remote posts it for relay-send).  A period left behind
by a crash (tlsrpt/records.<start>) is reported when relay-send starts,
and a domain whose TLSRPT record gets SERVFAIL is kept, alone, and
reported once the record answers.  With tls_rpt = no the
same run gets no report (run with TLSRPT_OFF=1 to see the checks fail).
"""
import email
import email.policy
import json
import os
import pwd
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_mx_security as mxs  # noqa: E402
import test_remote as h  # noqa: E402
from dnsserver import DnsServer  # noqa: E402

NET = "127.0.18."
RUA = "v=TLSRPTv1; rua=mailto:rpt@reports.test"


def zone(web, post_port):
    z = {}
    for dom, ip, sid in (("enf.test", "2", "e1"), ("tst.test", "3", "t1")):
        z[dom] = {"MX": [[10, "mx." + dom]]}
        z["mx." + dom] = {"A": [NET + ip]}
        z["_mta-sts." + dom] = {"TXT": ["v=STSv1; id=%s;" % sid]}
        z["mta-sts." + dom] = {"A": [web]}
        z["_smtp._tls." + dom] = {"TXT": [RUA]}
    # enf.test also wants its reports by HTTPS POST
    z["_smtp._tls.enf.test"] = {"TXT": [RUA + ",https://rpt.reports.test:%d/v1/tlsrpt" % post_port]}
    z["rpt.reports.test"] = {"A": [NET + "101"]}
    z["reports.test"] = {"MX": [[10, "mx.reports.test"]]}
    z["mx.reports.test"] = {"A": [NET + "4"]}
    return z


POSTS = []  # (path, content type, body) of every POST received


class PostHandler(mxs.http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        POSTS.append((self.path, self.headers.get("Content-Type"), self.rfile.read(n)))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def start_post_server(d, ip):
    srv = mxs.http.server.ThreadingHTTPServer((ip, 0), PostHandler)
    srv.daemon_threads = True
    srv.socket = mxs.server_ctx(d, "good.pem", "good.key").wrap_socket(srv.socket, server_side=True)
    mxs.threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def reports(sink):
    """The JSON reports among the messages the report host received."""
    out = []
    for m in sink.msgs:
        msg = email.message_from_bytes(m["data"], policy=email.policy.default)
        if msg.get_content_type() != "multipart/report" or \
                msg.get_param("report-type") != "tlsrpt":
            continue
        for part in msg.iter_parts():
            if part.get_content_type() == "application/tlsrpt+json":
                out.append((msg, json.loads(part.get_content())))
    return out


def totals(reps):
    """{(domain, policy-type): [ok, failed, {result-type: count}]}"""
    t = {}
    for _, r in reps:
        for p in r["policies"]:
            key = (p["policy"]["policy-domain"], p["policy"]["policy-type"])
            e = t.setdefault(key, [0, 0, {}])
            e[0] += p["summary"]["total-successful-session-count"]
            e[1] += p["summary"]["total-failure-session-count"]
            for f in p.get("failure-details", []):
                e[2][f["result-type"]] = e[2].get(f["result-type"], 0) + f["failed-session-count"]
    return t


def leftover(inst):
    """A period a crash left renamed but not reported (records.<start>):
    relay-send reports it when it starts."""
    d = inst.path("tlsrpt")
    os.makedirs(d, mode=0o700)
    with open(os.path.join(d, "records.86400"), "w") as f:
        f.write("tst.test sts certificate-expired mx.tst.test 127.0.18.3 testing,86400,mx.tst.test\n")
    if os.geteuid() == 0:
        pw = pwd.getpwnam("relaysend")
        for p in (d, os.path.join(d, "records.86400")):
            os.chown(p, pw.pw_uid, pw.pw_gid)


def run(d, web, sinks, dns):
    conf = {"resolver": "127.0.0.1:%d" % dns.port, "smtp_port": sinks["port"],
            "mta_sts_port": web.server_address[1],
            "mta_sts_timeout": 5, "tls_rpt": "no" if os.environ.get("TLSRPT_OFF") else "yes",
            "tls_rpt_period": 2}
    # the test CA as the system store: MX hosts, policy server and the
    # https: rua are all checked against it (tls_ca is for fixed hosts)
    inst = harness.Instance(conf, env={"SSL_CERT_FILE": os.path.join(d, "ca.pem")}).prepare()
    leftover(inst)
    with inst:
        for dom in ("enf.test", "tst.test"):
            with harness.smtp_session(inst.port) as s:
                s.sendmail("sender@example.com", ["u@" + dom],
                           "From: sender@example.com\r\nSubject: t\r\n\r\nhi\r\n")
        ok = harness.wait_until(lambda: len(sinks["2"].msgs) >= 1 and len(sinks["3"].msgs) >= 1, 60)
        h.check("both messages delivered under MTA-STS", ok)
        want = {("enf.test", "sts"), ("tst.test", "sts")}
        # each period's report goes out when the period ends (2 s), not at
        # relay-send's next wake-up for other work (its scan, 30 s later)
        harness.wait_until(lambda: want <= set(totals(reports(sinks["4"]))), 20)
        reps = reports(sinks["4"])
        t = totals(reps)
        h.check("a report per policy domain reached its rua", want <= set(t), "%r" % (t,))
        h.check("enf.test: one successful session",
                t.get(("enf.test", "sts"), [0, 0])[:2] == [1, 0], "%r" % (t,))
        harness.wait_until(lambda: totals(reports(sinks["4"])).get(("tst.test", "sts"), [0, 0])[1] >= 2,
                           20)
        reps = reports(sinks["4"])
        t = totals(reps)
        h.check("tst.test: one certificate-host-mismatch, and the leftover period's "
                "certificate-expired",
                t.get(("tst.test", "sts"), [0, 0, {}])[1:] ==
                [2, {"certificate-host-mismatch": 1, "certificate-expired": 1}], "%r" % (t,))
        h.check("the leftover period's report has its own date range",
                any(r["date-range"]["start-datetime"] == "1970-01-02T00:00:00Z" for _, r in reps),
                "%r" % ([r["date-range"] for _, r in reps],))
        pols = [p["policy"] for _, r in reps for p in r["policies"]
                if p["policy"]["policy-domain"] == "enf.test"]
        h.check("the sts policy applied: policy-string and mx-host",
                pols and pols[0].get("policy-string") == ["version: STSv1", "mode: enforce",
                                                          "mx: mx.enf.test", "max_age: 86400"]
                and pols[0].get("mx-host") == ["mx.enf.test"], "%r" % (pols,))
        harness.wait_until(lambda: POSTS, 30)
        got = [json.loads(b) for path, ct, b in POSTS
               if path == "/v1/tlsrpt" and ct == "application/tlsrpt+json"]
        h.check("https: rua: the report POSTed as application/tlsrpt+json",
                any(p["policy"]["policy-domain"] == "enf.test" for r in got for p in r["policies"]),
                "%r" % (POSTS,))
        if reps:
            msg, r = reps[0]
            h.check("report headers (RFC 8460 5.3)",
                    msg["TLS-Report-Submitter"] == "relaybox.test" and
                    msg["TLS-Report-Domain"] in ("enf.test", "tst.test") and
                    "Report-ID:" in msg["Subject"], str(msg)[:600])
            h.check("report fields", r["organization-name"] == "relaybox.test" and
                    r["date-range"]["start-datetime"].endswith("Z") and r["report-id"],
                    "%r" % (r,))
        retried(inst, sinks)
        dns_later(inst, sinks, dns)
        if h.FAILS:
            print(inst.log_tail(60))


def retried(inst, sinks):
    """A report that cannot be queued (relay-queue out of reach when
    relay-send starts) is kept and tried again, not lost."""
    sock = inst.path("run/queue.sock")
    d = inst.path("tlsrpt")
    path = os.path.join(d, "records.172800")
    with open(path, "w") as f:
        f.write("tst.test sts certificate-expired mx.tst.test 127.0.18.3 testing,86400,mx.tst.test\n")
    if os.geteuid() == 0:
        pw = pwd.getpwnam("relaysend")
        os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(sock, 0)  # relay-send's connect: EACCES
    try:
        os.kill(inst.status()["relay-send"][0], signal.SIGKILL)
        refused = harness.wait_until(
            lambda: "tls-rpt: domain=tst.test to=<rpt@reports.test>: "
            in inst.log(), 20)
        h.check("a report relay-queue cannot take is kept for later",
                refused and os.path.exists(path), inst.log_tail(25))
    finally:
        os.chmod(sock, 0o666)
    got = harness.wait_until(
        lambda: any(r["date-range"]["start-datetime"] == "1970-01-03T00:00:00Z"
                    for _, r in reports(sinks["4"])), 30)
    h.check("... and sent once relay-queue takes it again",
            got and not os.path.exists(path))


def dns_later(inst, sinks, dns):
    """A policy domain whose TLSRPT record cannot be looked up for now
    (SERVFAIL) keeps its records for a later try, and only its own: the
    other domain of that period is reported once, the first once its
    record answers again."""
    with open(dns.path) as f:
        z = json.load(f)
    z["_smtp._tls.flaky.test"] = "SERVFAIL"
    dns.set(z)
    start = int(time.time()) // 2 * 2 - 4  # ended 2 s ago (a 2 s period)
    begins = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    path = os.path.join(inst.path("tlsrpt"), "records.%d" % start)
    with open(path, "w") as f:
        f.write("tst.test sts certificate-expired mx.tst.test 127.0.18.3 testing,86400,mx.tst.test\n"
                "flaky.test sts certificate-expired mx.flaky.test 127.0.18.5 testing,86400,mx.flaky.test\n")
    if os.geteuid() == 0:
        pw = pwd.getpwnam("relaysend")
        os.chown(path, pw.pw_uid, pw.pw_gid)

    def sent(domain):
        return [r for _, r in reports(sinks["4"])
                if r["date-range"]["start-datetime"] == begins and
                any(p["policy"]["policy-domain"] == domain for p in r["policies"])]
    os.kill(inst.status()["relay-send"][0], signal.SIGKILL)
    failed = harness.wait_until(
        lambda: "tls-rpt: domain=flaky.test: its TLSRPT record could not "
        "be looked up" in inst.log(), 20)
    harness.wait_until(lambda: sent("tst.test"), 20)
    kept = open(path).read() if os.path.exists(path) else ""
    h.check("a SERVFAIL for the TLSRPT record: logged, the domain's "
            "records kept, alone", failed and kept.startswith("flaky.test ")
            and "tst.test" not in kept, inst.log_tail(20) + "\n" + kept)
    h.check("... the period's other domain reported meanwhile",
            len(sent("tst.test")) == 1, "%r" % (sent("tst.test"),))
    z["_smtp._tls.flaky.test"] = {"TXT": [RUA]}
    dns.set(z)
    got = harness.wait_until(lambda: sent("flaky.test"), 30)
    time.sleep(1)
    h.check("... and reported once the record answers, the other domain "
            "not again", got and len(sent("flaky.test")) == 1 and
            len(sent("tst.test")) == 1 and not os.path.exists(path),
            "%r %r" % (sent("flaky.test"), sent("tst.test")))


def main():
    d = h.tempfile.mkdtemp(prefix="relay-tlsrpt-")
    os.chmod(d, 0o755)
    ctls, web, dns, post = [], None, None, None
    try:
        mxs.make_certs(d)
        web = mxs.start_policy_server(d, NET + "100")
        post = start_post_server(d, NET + "101")
        dns = DnsServer(zone(NET + "100", post.server_address[1]), d)
        port = h.free_port()
        sinks = {"port": port}
        for ip, ctx in (("2", mxs.server_ctx(d, "good.pem", "good.key")),
                        ("3", mxs.server_ctx(d, "wrong.pem", "wrong.key")), ("4", None)):
            s, c = h.start_sink(NET + ip, port, **({"tls_context": ctx} if ctx else {}))
            ctls.append(c)
            sinks[ip] = s
        run(d, web, sinks, dns)
    except Exception as e:
        h.check("no exception (%s: %s)" % (type(e).__name__, e), False)
    finally:
        for c in ctls:
            c.stop()
        for srv in (web, post):
            if srv:
                srv.shutdown()
        if dns:
            dns.stop()
        h.shutil.rmtree(d, ignore_errors=True)
    return 1 if h.FAILS else 0


if __name__ == "__main__":
    signal.alarm(300)
    sys.exit(main())
