#!/usr/bin/python3
"""test_dkim_long: a message with hundreds of signed fields (330 and 700
Cc:) is signed with RSA and Ed25519 and arrives at the sink with no line
over 998 octets (RFC 5322 2.1.1: the Ed25519 signature's h= is folded),
every Cc: listed in h= (none dropped: the Ed25519 list is not cut), and
both verifiers (python3-dkim, OpenDKIM) pass both signatures."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish  # noqa: E402
from dkimrelay import DkimRelay, msg, signatures  # noqa: E402
from dkimverify import all_pass  # noqa: E402

KEYS = [("example.com", "s1", "rsa"), ("example.com", "e1", "ed25519")]


def h_names(sig):
    """The names of a DKIM-Signature value's h= tag, folds removed."""
    m = re.search(rb"(?:^|;)\s*h\s*=([^;]*)", sig)
    return [n.strip() for n in re.sub(rb"\s", b"", m.group(1)).split(b":")] \
        if m else []


def one(r, n):
    ccs = b"".join(b"Cc: r%d@example.org\r\n" % i for i in range(n))
    case = "cc%d" % n
    r.send(case, msg(headers=ccs, msgid=case.encode()))
    got = r.wait(case, 60)
    check("%d Cc: arrives" % n, got is not None)
    if got is None:
        return
    longest = max(len(x) for x in got.data.split(b"\r\n"))
    check("%d Cc: no line over 998 octets" % n, longest <= 998,
          "longest %d" % longest)
    ed = [s for s in signatures(got.data) if b"ed25519-sha256" in s]
    names = h_names(ed[0]) if ed else []
    check("%d Cc: Ed25519 h= lists every Cc (and one more)" % n,
          sum(1 for x in names if x.lower() == b"cc") == n + 1,
          "%d of %d" % (sum(1 for x in names if x.lower() == b"cc"), n + 1))
    ok, why = all_pass(r.verify(got.data), [("example.com", "s1"),
                                            ("example.com", "e1")])
    check("%d Cc: both verifiers pass RSA and Ed25519" % n, ok, why)


def main():
    with DkimRelay(KEYS) as r:
        for n in (330, 700):
            one(r, n)
    finish()


if __name__ == "__main__":
    main()
