#!/usr/bin/python3
"""test_dkim_ctl: relayctl dkim keygen, show and check, on an instance
directory (no relay running: none is needed).

keygen: the key file (PEM, owner = the signing uid when root, mode 0600,
DIR/dkim 0700), the printed record equal to the one the openssl command
derives from the file (independently of relayctl), cut in 255-byte
strings, the relay.rules line; never over an existing key or a planted
symlink; --bits limits.  show: every key with its record.  check: through
relay.conf's resolver (dnsserver.py on loopback) -- matching, another
key's record, absent, revoked, two records, SERVFAIL, and a 4096-bit key
whose answer only fits over TCP."""
import hashlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Instance, check, finish, is_root  # noqa: E402
from dnsserver import DnsServer  # noqa: E402
from dkimverify import public_record  # noqa: E402

ZONE_LINE = re.compile(r'^(\S+)\._domainkey\.(\S+)\. IN TXT((?: "[^"]*")+)$',
                       re.M)


def record_of(out):
    """(name, joined record, strings) of the zone line keygen printed."""
    m = ZONE_LINE.search(out)
    if not m:
        return None, None, []
    strings = re.findall(r'"([^"]*)"', m.group(3))
    return "%s._domainkey.%s" % (m.group(1), m.group(2)), "".join(strings), \
        strings


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_keygen(inst):
    r = inst.relayctl("dkim", "keygen", "Example.COM", "s1")
    check("keygen rsa: exit 0", r.returncode == 0, r.stderr)
    key = inst.path("dkim/example.com.s1.key")
    check("keygen: the domain lowercased in the file name",
          os.path.exists(key), os.listdir(inst.path("dkim")))
    if not os.path.exists(key):
        return
    st, dst = os.stat(key), os.stat(inst.path("dkim"))
    check("keygen: key mode 0600, dkim/ 0700",
          st.st_mode & 0o777 == 0o600 and dst.st_mode & 0o777 == 0o700,
          "%o %o" % (st.st_mode, dst.st_mode))
    if is_root():
        uid = pwd.getpwnam("relayqueue").pw_uid
        check("keygen: key and dkim/ owned by the signing uid",
              st.st_uid == uid and dst.st_uid == uid, "%d %d" % (st.st_uid, uid))
    name, rec, strings = record_of(r.stdout)
    check("keygen: the record names SELECTOR._domainkey.DOMAIN",
          name == "s1._domainkey.example.com", r.stdout)
    check("keygen: the record is the key's (openssl's view)",
          rec == public_record(key), rec + " / " + public_record(key))
    check("keygen: RSA-2048 record cut in strings of at most 255 bytes",
          len(strings) == 2 and len(strings[0]) == 255, strings)
    check("keygen: prints the relay.rules line",
          "\ndkim example.com s1\n" in r.stdout, r.stdout)
    text = os.popen("openssl pkey -in %s -noout -text" % key).read()
    check("keygen: a 2048-bit RSA key by default",
          "Private-Key: (2048 bit" in text, text[:80])

    before = sha(key)
    r = inst.relayctl("dkim", "keygen", "example.com", "s1")
    check("keygen: an existing key is never replaced (exit 100)",
          r.returncode == 100 and sha(key) == before and
          "never replaced" in r.stderr, r.stderr)

    target = os.path.join(inst.dir, "victim")
    with open(target, "w") as f:
        f.write("keep\n")
    os.symlink(target, inst.path("dkim/example.com.link.key"))
    r = inst.relayctl("dkim", "keygen", "example.com", "link")
    with open(target) as f:
        kept = f.read() == "keep\n"
    check("keygen: a planted symlink is not followed", r.returncode != 0 and
          kept, r.stderr)
    os.unlink(inst.path("dkim/example.com.link.key"))

    r = inst.relayctl("dkim", "keygen", "example.com", "e1", "--ed25519")
    name, rec, strings = record_of(r.stdout)
    key = inst.path("dkim/example.com.e1.key")
    check("keygen --ed25519: k=ed25519, the raw key (RFC 8463)",
          r.returncode == 0 and rec == public_record(key) and
          rec.startswith("v=DKIM1; k=ed25519; p=") and len(strings) == 1,
          r.stdout + r.stderr)
    check("keygen --ed25519: the rules line says alg=ed25519",
          "\ndkim example.com e1 alg=ed25519\n" in r.stdout, r.stdout)

    for bits, ok in (("512", False), ("1023", False), ("8192", False),
                     ("1024", True), ("x", False)):
        r = inst.relayctl("dkim", "keygen", "example.com", "b" + bits,
                          "--bits", bits)
        check("keygen --bits %s: %s" % (bits, "accepted" if ok else
                                        "refused"),
              (r.returncode == 0) == ok, r.stderr)
    r = inst.relayctl("dkim", "keygen", "example.com", "x", "--ed25519",
                      "--bits", "2048")
    check("keygen: --bits with --ed25519 refused", r.returncode == 100)
    for dom, sel in (("-bad.com", "s"), ("a..com", "s"), ("ok.com", "a/b"),
                     ("ok.com", "../x")):
        r = inst.relayctl("dkim", "keygen", dom, sel)
        check("keygen: refuses %s %s" % (dom, sel), r.returncode == 100)
    r = inst.relayctl("dkim", "keygen", "example.com", "big", "--bits",
                      "4096")
    check("keygen --bits 4096", r.returncode == 0, r.stderr)


def test_show(inst):
    with open(inst.path("relay.rules"), "a") as f:
        f.write("dkim example.com s1\ndkim example.com e1 alg=ed25519 "
                "# dual\n")
    r = subprocess.run([os.path.join(BIN, "makecdb"), "-d", inst.dir],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60)
    check("makecdb accepts the keys keygen made (owner, mode, kind)",
          r.returncode == 0, r.stdout)
    r = inst.relayctl("dkim", "show")
    out = r.stdout
    check("show: exit 0", r.returncode == 0, r.stderr)
    check("show: the rules' keys first, in their order",
          out.find("example.com s1: relay.rules line") <
          out.find("example.com e1: relay.rules line") <
          out.find("example.com big: not in relay.rules"), out)
    check("show: each key's record", all(
        public_record(inst.path("dkim/example.com.%s.key" % s))[:200] in out
        for s in ("s1", "e1", "big")), out)
    check("show: owner and mode", "mode 0600" in out, out)
    r = inst.relayctl("dkim", "show", "other.org")
    check("show DOMAIN: only that domain", r.returncode == 0 and
          "no DKIM keys for other.org" in r.stdout, r.stdout)


def dkim_check(inst, zone, dns, name):
    dns.set(zone)
    r = inst.relayctl("dkim", "check", "example.com")
    lines = {ln.split(":")[0]: ln for ln in r.stdout.splitlines()}
    return r.returncode, lines.get(name, r.stdout + r.stderr)


def test_check(inst, work):
    recs = {s: public_record(inst.path("dkim/example.com.%s.key" % s))
            for s in ("s1", "e1", "big", "b1024")}
    good = {"%s._domainkey.example.com" % s: {"TXT": [rec]}
            for s, rec in recs.items()}
    n1 = "s1._domainkey.example.com"
    p1 = recs["s1"].split("p=")[1]
    with DnsServer(good, work) as dns:
        with open(inst.path("relay.conf"), "a") as f:
            f.write("resolver = 127.0.0.1:%d\n" % dns.port)
        rc, line = dkim_check(inst, good, dns, n1)
        check("check: every record matches: exit 0", rc == 0, line)
        check("check: says it matches", "matches the key (rsa-2048)" in line,
              line)
        _, line = dkim_check(inst, good, dns, "big._domainkey.example.com")
        check("check: a 4096-bit record (over TCP) matches",
              "matches the key (rsa-4096)" in line, line)
        cases = (
            ("another key's record", dict(good, **{n1: {"TXT": [
                recs["b1024"]]}}), 100, "does not match"),
            ("the Ed25519 key's record at the RSA selector",
             dict(good, **{n1: {"TXT": [recs["e1"]]}}), 100,
             "does not match"),
            ("absent (NXDOMAIN)", {k: v for k, v in good.items() if k != n1},
             100, "no TXT record"),
            ("revoked", dict(good, **{n1: {"TXT": ["v=DKIM1; k=rsa; p="]}}),
             100, "revoked"),
            ("two records", dict(good, **{n1: {"TXT": [recs["s1"],
                                                       recs["b1024"]]}}),
             100, "2 TXT records"),
            ("the record in odd strings and spaces", dict(good, **{n1: {
                "TXT": [["v=DKIM1;  k = rsa;", " p=" + p1[:100], p1[100:200],
                         " " + p1[200:300], "\t" + p1[300:]]]}}), 0,
             "matches"),
            ("SERVFAIL", dict(good, **{n1: "SERVFAIL"}), 111,
             "lookup failed"))
        for what, zone, want_rc, want in cases:
            rc, line = dkim_check(inst, zone, dns, n1)
            check("check: %s: exit %d, says %r" % (what, want_rc, want),
                  rc == want_rc and want in line, "%d %s" % (rc, line))
    r = inst.relayctl("dkim", "check", "nokey.org")
    check("check: a domain without a key: exit 100", r.returncode == 100 and
          "no key" in r.stderr, r.stderr)


def main():
    work = tempfile.mkdtemp(prefix="dkim-ctl-")
    inst = Instance().prepare()
    try:
        test_keygen(inst)
        test_show(inst)
        test_check(inst, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        inst.remove()


if __name__ == "__main__":
    main()
    finish()
