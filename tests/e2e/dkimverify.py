#!/usr/bin/python3
"""dkimverify.py: check a message's DKIM signatures with two independent
verifiers, both fetching the public keys from a test DNS server
(dnsserver.py) on loopback:

  dkimpy    python3-dkim, whose dnsfunc hook asks our server (dnspython);
  opendkim  OpenDKIM's filter in test mode (`opendkim -x CONF -t FILE`),
            the library every Debian OpenDKIM install uses.  Its resolver
            is Unbound (Debian builds it so); a private opendkim.conf names
            a private unbound.conf (ResolverConfiguration) that forwards
            every query to 127.0.0.1@PORT.  opendkim-testmsg cannot be
            pointed at another server (it reads /etc/resolv.conf, which has
            no port), so it is not used.

    v = Verifiers(dns_port, workdir)
    res = v.verify(message_bytes)   # {"dkimpy": [Sig...], "opendkim": [Sig...]}
    ok, why = all_pass(res)         # every verifier, every signature passed
    ok, why = all_pass(res, want=[("example.com", "s1")])  # those signed

A Sig is (domain, selector, alg, ok, reason), one per DKIM-Signature
header, in header order (the one added last first) for dkimpy; OpenDKIM's
order is that of its Authentication-Results header.  A message without
signatures gives empty lists, which all_pass() reports as a failure.
"""
import base64
import collections
import logging
import os
import re
import subprocess
import tempfile

import dkim
import dns.resolver

Sig = collections.namedtuple("Sig", "domain selector alg ok reason")

_TAG = re.compile(rb"(?:^|;)\s*([a-z]+)\s*=\s*([^;]*)")


def sig_tags(value):
    """The tags of a DKIM-Signature header value, whitespace removed."""
    return {k.decode(): re.sub(rb"\s+", b"", v).decode(errors="replace")
            for k, v in _TAG.findall(value)}


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


class Verifiers:
    def __init__(self, dns_port, workdir, host="127.0.0.1"):
        self.port = dns_port
        self.host = host
        self.workdir = workdir
        self.resolver = dns.resolver.Resolver(configure=False)
        self.resolver.nameservers = [host]
        self.resolver.port = dns_port
        self.resolver.lifetime = 10
        self.conf = self._write_opendkim_conf()

    def _write_opendkim_conf(self):
        unbound = os.path.join(self.workdir, "dkimverify-unbound.conf")
        with open(unbound, "w") as f:
            f.write('server:\n  do-not-query-localhost: no\n'
                    '  verbosity: 0\n  use-syslog: no\n'
                    'forward-zone:\n  name: "."\n'
                    '  forward-addr: %s@%d\n' % (self.host, self.port))
        conf = os.path.join(self.workdir, "dkimverify-opendkim.conf")
        with open(conf, "w") as f:
            f.write("Mode v\nSyslog no\nResolverConfiguration %s\n"
                    "MaximumSignaturesToVerify 10\n" % unbound)
        return conf

    def txt(self, name, timeout=5):
        """dkimpy's dnsfunc: the record's character-strings joined, or b""
        when there is none (dkimpy then says the key is missing)."""
        try:
            name = name.decode() if isinstance(name, bytes) else name
            ans = self.resolver.resolve(name.rstrip(".") + ".", "TXT")
        except Exception:
            return b""
        for rr in ans:
            return b"".join(rr.strings)
        return b""

    def dkimpy(self, msg):
        out = []
        log = logging.getLogger("dkimverify.%d" % id(self))
        log.propagate = False
        log.setLevel(logging.DEBUG)
        try:
            d = dkim.DKIM(msg, logger=log)
        except Exception as e:  # not even a message to dkimpy
            return [Sig("", "", "", False, "%s: %s" % (type(e).__name__, e))]
        n = sum(1 for k, _ in d.headers if k.lower() == b"dkim-signature")
        values = [v for k, v in d.headers if k.lower() == b"dkim-signature"]
        for idx in range(n):
            h = _Collect()
            log.addHandler(h)
            try:
                ok = d.verify(idx=idx, dnsfunc=self.txt)
                said = [x for x in h.lines if not x.startswith("sig: ")]
                reason = "" if ok else " | ".join(said[-2:]) or "fail"
            except Exception as e:  # a message dkimpy cannot even parse
                ok, reason = False, "%s: %s" % (type(e).__name__, e)
            finally:
                log.removeHandler(h)
            t = sig_tags(values[idx])
            out.append(Sig(t.get("d", ""), t.get("s", ""), t.get("a", ""),
                           bool(ok), reason))
        return out

    def opendkim(self, msg):
        with tempfile.NamedTemporaryFile(dir=self.workdir,
                                         suffix=".eml") as f:
            f.write(msg)
            f.flush()
            r = subprocess.run(["/usr/sbin/opendkim", "-x", self.conf, "-vv",
                                "-t", f.name], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
        text = r.stdout.decode(errors="replace")
        return parse_opendkim(text) if r.returncode == 0 else [
            Sig("", "", "", False, "opendkim exit %d: %s"
                % (r.returncode, text.strip()[-300:]))]

    def verify(self, msg):
        return {"dkimpy": self.dkimpy(msg), "opendkim": self.opendkim(msg)}


_AR = re.compile(r"### INSHEADER: idx=\d+ hname='Authentication-Results' "
                 r"hvalue='(.*?)'\n(?!\t)", re.S)
_RES = re.compile(r'dkim=(\w+)(?: reason="([^"]*)")?[^;]*?header\.d=(\S+)'
                  r'(?:[^;]*?header\.a=(\S+))?[^;]*?header\.s=(\S+)')


def parse_opendkim(text):
    """The dkim= results of the Authentication-Results header that
    `opendkim -vv -t` prints (one per signature)."""
    out = []
    for ar in _AR.findall(text + "\n"):
        ar = re.sub(r"\([^()]*\)", "", ar)  # "(2048-bit key; unprotected)"
        for res, reason, d, a, s in _RES.findall(ar):
            out.append(Sig(d, s, a or "", res == "pass",
                           reason or ("" if res == "pass" else res)))
    return out


def public_record(pem_path):
    """The TXT record a private key file's public half is published as
    (RFC 6376 3.6.1; Ed25519: the raw 32-byte key, RFC 8463), computed
    with the openssl command, independently of relayctl."""
    der = subprocess.run(["openssl", "pkey", "-in", pem_path, "-pubout",
                          "-outform", "DER"], stdout=subprocess.PIPE,
                         check=True, timeout=30).stdout
    text = subprocess.run(["openssl", "pkey", "-in", pem_path, "-noout",
                           "-text"], stdout=subprocess.PIPE, check=True,
                          timeout=30).stdout
    if text.startswith(b"ED25519"):
        return "v=DKIM1; k=ed25519; p=" + base64.b64encode(der[-32:]).decode()
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def all_pass(results, want=None):
    """(True, "") when every verifier found signatures and passed them all,
    and (when want lists (domain, selector) pairs) found exactly those,
    in any order; else (False, why)."""
    for name, sigs in sorted(results.items()):
        if not sigs:
            return False, "%s: no signature found" % name
        for s in sigs:
            if not s.ok:
                return False, "%s: d=%s s=%s a=%s failed: %s" % (
                    name, s.domain, s.selector, s.alg, s.reason)
        if want is not None:
            got = sorted((s.domain.lower(), s.selector) for s in sigs)
            if got != sorted((d.lower(), s) for d, s in want):
                return False, "%s: signatures %s, expected %s" % (
                    name, got, sorted(want))
    return True, ""


def any_pass(results):
    """Names of the verifiers that passed at least one signature."""
    return [n for n, sigs in sorted(results.items())
            if any(s.ok for s in sigs)]
