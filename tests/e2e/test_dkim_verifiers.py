#!/usr/bin/python3
"""test_dkim_verifiers: the test verifiers of dkimverify.py themselves,
without a relay.  Messages signed here with dkimpy (RSA-2048, Ed25519,
both) must pass both verifiers with the keys served by dnsserver.py as
TXT records (one RSA record longer than 255 bytes, so several strings);
a tampered body or From:, a record that is absent or holds another key
must fail in both -- proof that each verifier really fetches the record
from our server and can say no."""
import base64
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish  # noqa: E402
from dnsserver import DnsServer  # noqa: E402
from dkimverify import Verifiers, all_pass, any_pass, public_record  # noqa: E402

import dkim  # noqa: E402

MSG = (b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\n"
       b"Subject: verifier self-test\r\nDate: Sun, 6 Dec 2026 08:00:00 +0000\r\n"
       b"Message-ID: <t1@example.com>\r\n\r\nHello.\r\n\r\nBye.\r\n")
HEADERS = [b"from", b"to", b"subject", b"date", b"message-id"]


def genkey(workdir, name, alg):
    path = os.path.join(workdir, name + ".pem")
    args = ["openssl", "genpkey", "-out", path]
    args += (["-algorithm", "ED25519"] if alg == "ed25519" else
             ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
    subprocess.run(args, check=True, stderr=subprocess.DEVNULL, timeout=60)
    return path


def sign(msg, selector, path, alg):
    if alg == "ed25519":  # dkimpy wants the base64 32-byte seed
        der = subprocess.run(["openssl", "pkey", "-in", path, "-outform",
                              "DER"], stdout=subprocess.PIPE, check=True,
                             timeout=30).stdout
        key, a = base64.b64encode(der[-32:]), b"ed25519-sha256"
    else:
        with open(path, "rb") as f:
            key, a = f.read(), b"rsa-sha256"
    return dkim.sign(msg, selector.encode(), b"example.com", key,
                     canonicalize=(b"relaxed", b"relaxed"),
                     signature_algorithm=a, include_headers=HEADERS) + msg


def main():
    work = tempfile.mkdtemp(prefix="dkim-verifiers-")
    try:
        rsa = genkey(work, "rsa", "rsa")
        ed = genkey(work, "ed", "ed25519")
        other = genkey(work, "other", "rsa")
        zone = {"r1._domainkey.example.com": {"TXT": [public_record(rsa)]},
                "e1._domainkey.example.com": {"TXT": [public_record(ed)]},
                "bad._domainkey.example.com": {"TXT": [public_record(other)]}}
        check("an RSA-2048 record takes more than one 255-byte string",
              len(public_record(rsa)) > 255)
        with DnsServer(zone, work) as dns:
            run(Verifiers(dns.port, work), rsa, ed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(v, rsa, ed):
    signed_rsa = sign(MSG, "r1", rsa, "rsa")
    signed_ed = sign(MSG, "e1", ed, "ed25519")
    dual = sign(signed_rsa, "e1", ed, "ed25519")
    for name, msg, want in (
            ("RSA", signed_rsa, [("example.com", "r1")]),
            ("Ed25519", signed_ed, [("example.com", "e1")]),
            ("dual", dual, [("example.com", "r1"), ("example.com", "e1")])):
        ok, why = all_pass(v.verify(msg), want)
        check("%s: both verifiers pass" % name, ok, why)

    def fails(name, msg):
        res = v.verify(msg)
        check("%s: both verifiers fail" % name, any_pass(res) == [], res)

    fails("tampered body", signed_rsa.replace(b"Hello.", b"Hellp."))
    fails("tampered From:", signed_ed.replace(b"alice@", b"mallory@"))
    fails("tampered dual", dual.replace(b"Bye.", b"Bye!"))
    fails("record absent", sign(MSG, "absent", rsa, "rsa"))
    bad = sign(MSG, "bad", rsa, "rsa")  # signed with rsa, DNS has other
    fails("record holds another key", bad)
    res = v.verify(MSG)
    check("unsigned: no signature found by either",
          res == {"dkimpy": [], "opendkim": []}, res)
    ok, why = all_pass(res)
    check("unsigned: all_pass says so", not ok and "no signature" in why, why)


if __name__ == "__main__":
    main()
    finish()
