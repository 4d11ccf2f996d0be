#!/usr/bin/python3
"""test_dkim_odd: what relaybox signs verifies with two independent
verifiers (dkimverify.py: dkimpy and OpenDKIM), with the keys relayctl
dkim keygen made and the records it printed, served by dnsserver.py
(test_dkim_sign covers the signing rules: who signs, dkim_fail, no From:).

- RSA-2048 only (rsa.example), Ed25519 only (ed.example), dual (example.com:
  RSA and Ed25519): exactly the expected signatures, all pass; the tags a
  careful signer writes (relaxed/relaxed, t=, no l=, From: oversigned).
- odd messages still verify: 8-bit body, a 998-octet line, folded headers
  with tabs, trailing blank lines, an empty body, headers in odd case,
  lines of dots (dot-stuffing undone before hashing), no final CRLF
  (injected straight into relay-queue: SMTP always ends with one), a
  message that already carries another domain's DKIM-Signature (both
  verify).
- a tampered body, From: or an added From: fails in both verifiers: the
  checks above can fail.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish, skip  # noqa: E402
from dkimrelay import DkimRelay, msg, signatures  # noqa: E402
from dkimverify import all_pass, any_pass, public_record, sig_tags  # noqa: E402

import dkim  # noqa: E402

KEYS = [("example.com", "s1", "rsa"), ("example.com", "e1", "ed25519"),
        ("rsa.example", "r1", "rsa"), ("ed.example", "e1", "ed25519")]
DUAL = [("example.com", "s1"), ("example.com", "e1")]


ODD = {
    "eightbit": msg(headers=b"Content-Type: text/plain; charset=utf-8\r\n"
                    b"Content-Transfer-Encoding: 8bit\r\n",
                    body="Grüße, ça va? Ελληνικά\r\n".encode() +
                    bytes(range(0x80, 0x100)) + b"\r\n"),
    "line998": msg(body=b"x" * 998 + b"\r\n" + b"y" * 997 + b"\r\n"),
    "folded": msg(subject=b"a subject\r\n\tfolded with a tab\r\n \tand more",
                  headers=b"X-Folded:\t\tvalue \t \r\n\tcontinued\t\r\n"),
    "trailing": msg(body=b"text\r\n\r\n\r\n\r\n"),
    "trailingws": msg(body=b"text \t\r\n  more\t\r\n"),
    "emptybody": msg(body=b""),
    "oddcase": (b"fROM: Alice <alice@example.com>\r\nTO: bob@example.org\r\n"
                b"sUbJeCt: odd case\r\nDATE: Sun, 6 Dec 2026 09:00:00 +0000"
                b"\r\nmessage-id: <odd@example.com>\r\n\r\nbody\r\n"),
    "dots": msg(body=b".\r\n..\r\n.hidden\r\n. \r\n...\r\nend\r\n"),
}


def check_sigs(r, name, m, want):
    if not m:
        check("%s: arrived" % name, False, r.inst.log_tail())
        return
    ok, why = all_pass(r.verify(m.data), want)
    check("%s: both verifiers pass %s" % (name, want), ok, why)


def test_algorithms(r):
    for case, domain, want in (
            ("rsa", "rsa.example", [("rsa.example", "r1")]),
            ("ed", "ed.example", [("ed.example", "e1")]),
            ("dual", "example.com", DUAL)):
        r.send(case, msg(frm=b"Alice <alice@" + domain.encode() + b">",
                         subject=case.encode()), domain)
        check_sigs(r, case, r.wait(case), want)
    m = r.wait("dual")
    if not m:
        return
    for v in signatures(m.data):
        t = sig_tags(v)
        h = t.get("h", "").lower().split(":")
        check("dual %s: c=relaxed/relaxed, t=, no l=" % t.get("a"),
              t.get("c") == "relaxed/relaxed" and "t" in t and "l" not in t,
              v)
        check("dual %s: From: oversigned, To/Subject/Date/Message-ID "
              "signed" % t.get("a"), h.count("from") >= 2 and all(
                  x in h for x in ("to", "subject", "date", "message-id")),
              v)
    sigs = [sig_tags(v).get("a") for v in signatures(m.data)]
    check("dual: one rsa-sha256 and one ed25519-sha256 signature",
          sorted(sigs) == ["ed25519-sha256", "rsa-sha256"], sigs)


def test_odd(r):
    for case, data in ODD.items():
        r.send(case, data)
    for case in ODD:
        check_sigs(r, case, r.wait(case), DUAL)
    rep = r.inject("nofinalcrlf", msg(body=b"no final CRLF"))
    check("no final CRLF: relay-queue takes it", rep and
          rep.get("status") == "0", repr(rep))
    check_sigs(r, "no final CRLF", r.wait("nofinalcrlf"), DUAL)


def test_presigned(r):
    key = os.path.join(r.work, "foreign.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", key], check=True,
                   stderr=subprocess.DEVNULL, timeout=60)
    r.publish("f1._domainkey.foreign.example", public_record(key))
    base = msg(subject=b"presigned")
    with open(key, "rb") as f:
        signed = dkim.sign(base, b"f1", b"foreign.example", f.read(),
                           canonicalize=(b"relaxed", b"relaxed"),
                           include_headers=[b"from", b"to", b"subject"])
    r.send("presigned", signed + base)
    m = r.wait("presigned")
    check_sigs(r, "already signed by foreign.example", m,
               DUAL + [("foreign.example", "f1")])
    if m:
        doms = [sig_tags(v).get("d") for v in signatures(m.data)]
        check("already signed: ours above the one it came with",
              doms[-1:] == ["foreign.example"] and
              doms[:2] == ["example.com", "example.com"], doms)


def test_tampered(r):
    m = r.wait("dual")
    if not m:
        skip("tampering", "the dual message did not arrive")
        return
    d = m.data
    for what, bad in (
            ("body", d.replace(b"Hello.", b"Hello!")),
            ("From:", d.replace(b"alice@example.com", b"mallory@example.com")),
            ("an added From:", d.replace(b"\r\nFrom: ", b"\r\nFrom: "
                                         b"mallory@example.com\r\nFrom: ",
                                         1))):
        res = r.verify(bad)
        check("tampered %s: both verifiers fail" % what,
              bad != d and any_pass(res) == [], res)


def main():
    with DkimRelay(KEYS) as r:
        test_algorithms(r)
        test_odd(r)
        test_presigned(r)
        test_tampered(r)


if __name__ == "__main__":
    main()
    finish()
