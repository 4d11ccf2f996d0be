#!/usr/bin/python3
"""test_remote_mxaddr.py: the addresses relay-remote takes from a
recipient domain's DNS.  An MX record whose exchange is an address
("127.0.0.2", "[127.0.0.2]") is not used (RFC 5321 5.1): the others are,
and when none is left the mail is deferred 4.4.3, never sent to the
domain's A record.  remote_private_addresses: by default (refuse) a
loopback or private address that a recipient domain's MX or A records
give is not connected to (bounced 5.4.4 when nothing else is left, the
next host tried when there is one); allow connects; a fixed host and
the MX hosts of a domain a rcpt route names are the operator's and
always tried.  The harness is test_remote.py's (receivers on 127.0.0.x,
dnsserver.py).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_remote as h  # noqa: E402

ZONE = {
    "num.test": {"MX": [[10, "127.0.0.2"]]},
    "numbr.test": {"RAW": [h.raw_mx(10, "[127.0.0.2]")]},
    "num6.test": {"RAW": [h.raw_mx(10, "[IPv6:::1]")]},
    "numa.test": {"MX": [[10, "127.0.0.2"]], "A": ["127.0.0.2"]},
    "nummix.test": {"MX": [[5, "127.0.0.2"], [10, "mx.nummix.test"]]},
    "mx.nummix.test": {"A": ["127.0.0.3"]},
}


def test_numeric_mx(inst, a, b):
    for dom in ("num.test", "numbr.test", "num6.test", "numa.test"):
        n = len(a.msgs)
        r, res = h.one(inst, "u@" + dom)
        h.check("MX naming an address (%s): deferred 4.4.3, nothing sent" % dom,
                res[:2] == ("T", 451) and res[2].startswith("4.4.3 ")
                and len(a.msgs) == n and a.connections == 0,
                "%r (127.0.0.2 got %d)" % (r, len(a.msgs) - n))
    h.check("MX naming an address: a warning names it",
            "numeric domain name in MX record of num.test: 127.0.0.2: not used"
            in inst.logtext(), inst.logtext()[-800:])
    r, res = h.one(inst, "u@nummix.test")
    h.check("MX naming an address beside a host name: the host used",
            res[0] == "D" and len(b.msgs) == 1 and a.connections == 0
            and r["relay"].startswith("mx.nummix.test[127.0.0.3]"), "%r" % (r,))


PRIV_ZONE = {
    "priv.test": {"MX": [[10, "mx.priv.test"]]},
    "mx.priv.test": {"A": ["127.0.0.2"]},
    "priv6.test": {"MX": [[10, "mx.priv6.test"]]},
    "mx.priv6.test": {"AAAA": ["::1"]},
    "privimp.test": {"A": ["127.0.0.2"]},
    # a documentation address stands for one on the Internet: tried,
    # never answered
    "privmix.test": {"MX": [[10, "mx.priv.test"], [20, "pub.privmix.test"]]},
    "pub.privmix.test": {"A": ["192.0.2.1"]},
}


def test_private_refused(inst, a):
    """The default: refuse."""
    port = inst.smtp_port
    for dom in ("priv.test", "priv6.test", "privimp.test"):
        r, res = h.one(inst, "u@" + dom)
        h.check("refuse: %s at a private address: bounced 5.4.4, not connected" % dom,
                res[:2] == ("B", 554) and res[2].startswith("5.4.4 mail for %s would go to a "
                                                            "private address" % dom)
                and a.connections == 0, "%r" % (r,))
    h.check("refuse: the log names the host, its address and the setting",
            "MX host mx.priv.test of priv.test is at 127.0.0.2, a private address: not used "
            "(remote_private_addresses = refuse)" in inst.logtext(), inst.logtext()[-800:])
    r, res = h.one(inst, "u@privmix.test")
    h.check("refuse: a private MX skipped, the next MX tried",
            res[0] == "T" and r["relay"].startswith("pub.privmix.test[192.0.2.1]")
            and a.connections == 0, "%r" % (r,))
    r, res = h.one(inst, "u@priv.test", via="route:default")
    h.check("refuse: route default mx is no choice of the domain: refused",
            res[:2] == ("B", 554) and a.connections == 0, "%r" % (r,))
    r, res = h.one(inst, "u@priv.test", host="127.0.0.2", port=str(port), via="relayhost")
    h.check("refuse: a fixed host the operator named is used", res[0] == "D" and len(a.msgs) == 1,
            "%r" % (r,))
    r, res = h.one(inst, "u@priv.test", via="route:rcpt:priv.test")
    h.check("refuse: the MX of a domain a rcpt route names is used",
            res[0] == "D" and len(a.msgs) == 2, "%r" % (r,))
    r, res = h.one(inst, "u@a.priv.test", domain="priv.test", via="route:rcpt:.other.test")
    h.check("refuse: a rcpt route naming another domain vouches for nothing",
            res[:2] == ("B", 554) and len(a.msgs) == 2, "%r" % (r,))


def test_private_allowed():
    inst = h.Instance(PRIV_ZONE, {"remote_private_addresses": "allow"})
    a, ca = h.start_sink("127.0.0.2", inst.smtp_port)
    try:
        r, res = h.one(inst, "u@priv.test")
        h.check("allow: an MX at a private address is used", res[0] == "D" and len(a.msgs) == 1,
                "%r" % (r,))
    finally:
        ca.stop()
        inst.close()


def test_private_setting():
    d = tempfile.mkdtemp(prefix="relay-remote-test-")
    try:
        with open(os.path.join(d, "relay.conf"), "w") as f:
            f.write("remote_private_addresses = sometimes\n")
        p = subprocess.run([h.BIN, "-d", d], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        h.check("remote_private_addresses other than refuse|allow: refused at start",
                p.returncode == 100 and "remote_private_addresses must be refuse or allow"
                in p.stdout, "%d %s" % (p.returncode, p.stdout))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    inst = h.Instance(ZONE)
    a, ca = h.start_sink("127.0.0.2", inst.smtp_port)
    b, cb = h.start_sink("127.0.0.3", inst.smtp_port)
    try:
        rc = h.run(inst, lambda i: test_numeric_mx(i, a, b))
    finally:
        ca.stop()
        cb.stop()
    # the default, with nothing in relay.conf
    inst = h.Instance(PRIV_ZONE, {"remote_private_addresses": None})
    a, ca = h.start_sink("127.0.0.2", inst.smtp_port)
    try:
        rc |= h.run(inst, lambda i: test_private_refused(i, a), lambda _: test_private_allowed(),
                    lambda _: test_private_setting())
    finally:
        ca.stop()
    return rc


if __name__ == "__main__":
    signal.alarm(300)
    sys.exit(main())
