#!/usr/bin/python3
"""test_remote_idn.py: recipients in internationalised domains (RFC 6531
3.2): relay-remote looks the domain up by its A-label, the name the DNS
holds (our DNS server has only xn--exmple-cua.test), and keeps the
address as written in the RCPT to a next hop that offers SMTPUTF8.

- u@exämple.test: delivered through the A-label's MX;
- u@EXÄMPLE.test: the same (UTS #46 folds the case);
- u@☃.test, a name IDNA refuses: bounced 550 5.1.2 saying why, with no
  DNS lookup of the raw bytes.
"""
import os
import signal
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_remote as h  # noqa: E402

ALABEL = "xn--exmple-cua.test"
ZONE = {ALABEL: {"MX": [[10, "mx.idn.test"]]},
        "mx.idn.test": {"A": ["127.0.0.31"]}}


def test_idn(inst):
    sink, c = h.start_sink("127.0.0.31", inst.smtp_port, enable_SMTPUTF8=True)
    try:
        for rcpt in ("u@ex\u00e4mple.test", "v@EX\u00c4MPLE.test"):
            r, res = h.one(inst, rcpt)
            h.check("idn: %s delivered through the A-label's MX" % rcpt,
                    res[0] == "D" and
                    r.get("relay", "").startswith("mx.idn.test[127.0.0.31]"),
                    "%r" % (r,))
        got = [m["rcpt"] for m in sink.msgs]
        h.check("idn: the RCPT keeps the address as written (SMTPUTF8)",
                got == [["u@ex\u00e4mple.test"], ["v@EX\u00c4MPLE.test"]],
                "%r" % (got,))
        r, res = h.one(inst, "u@\u2603.test")
        h.check("idn: a name IDNA refuses bounces 550 5.1.2 saying why",
                res[0] == "B" and res[1] == 550 and
                res[2].startswith("5.1.2") and "IDNA" in res[2],
                "%r" % (res,))
    finally:
        c.stop()


def main():
    return h.run(h.Instance(ZONE), test_idn)


if __name__ == "__main__":
    signal.alarm(120)
    sys.exit(main())
