#!/usr/bin/python3
"""test_remote_mxaddr.py: the addresses relay-remote takes from a
recipient domain's DNS.  An MX record whose exchange is an address
("127.0.0.2", "[127.0.0.2]") is not used (RFC 5321 5.1): the others are,
and when none is left the mail is deferred 4.4.3, never sent to the
domain's A record.  The harness is test_remote.py's (receivers on
127.0.0.x, dnsserver.py).
"""
import os
import signal
import sys

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


def main():
    inst = h.Instance(ZONE)
    a, ca = h.start_sink("127.0.0.2", inst.smtp_port)
    b, cb = h.start_sink("127.0.0.3", inst.smtp_port)
    try:
        return h.run(inst, lambda i: test_numeric_mx(i, a, b))
    finally:
        ca.stop()
        cb.stop()


if __name__ == "__main__":
    signal.alarm(300)
    sys.exit(main())
