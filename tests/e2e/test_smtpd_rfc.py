#!/usr/bin/python3
"""test_smtpd_rfc.py: relay-smtpd's replies where RFC 5321, 6531 and 3030
leave it a choice or tell it what to say, on the wire, each checked word
for word and against doc/BEHAVIOUR.md (which must state it in full).

Shows: a MAIL or RCPT parameter given twice is refused, whichever it is
(no "the last one wins"); no parameter after HELO (RFC 5321 4.1.1.11:
555); the Received: field of a message taken under SMTPUTF8 says
UTF8SMTP[S][A] (RFC 6531 3.7.3), of one without ESMTP[S][A]; EXPN, TURN
and ETRN are known and not implemented (RFC 5321 4.2.4: 502), counted as
errors as an unknown verb is; RCPT TO:<Postmaster> (no domain) is
refused saying why (the relay has no local mailboxes), never relayed."""
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


def test_params_after_helo(inst):
    r = session(inst, b'HELO')
    for params in (b'SMTPUTF8', b'BODY=8BITMIME', b'SIZE=100', b'RET=HDRS',
                   b'AUTH=<>', b'FOO=1'):
        got = line(r.cmd(b'MAIL FROM:<%s> %s\r\n' % (FROM, params)))
        check('after HELO, MAIL with %s: 555 5.5.4' % params.decode(),
              got.startswith('555 5.5.4 '), got)
    expect('after HELO, MAIL with a parameter',
           line(r.cmd(b'MAIL FROM:<%s> SIZE=100\r\n' % FROM)),
           '555 5.5.4 Parameters need EHLO, not HELO')
    check('after HELO, MAIL without parameters: 250',
          r.cmd(b'MAIL FROM:<%s>\r\n' % FROM)[0] == 250)
    for params in (b'NOTIFY=NEVER', b'ORCPT=rfc822;a@example.org'):
        got = line(r.cmd(b'RCPT TO:<a@example.org> %s\r\n' % params))
        check('after HELO, RCPT with %s: 555 5.5.4' % params.decode(),
              got == '555 5.5.4 Parameters need EHLO, not HELO', got)
    check('after HELO, RCPT without parameters: 250',
          r.cmd(b'RCPT TO:<a@example.org>\r\n')[0] == 250)
    r.close()
    r = session(inst, b'EHLO')
    check('after EHLO, MAIL with SMTPUTF8 and BODY=8BITMIME: 250',
          r.cmd(b'MAIL FROM:<%s> SMTPUTF8 BODY=8BITMIME\r\n' % FROM)[0] == 250)
    r.close()


def test_not_implemented(inst):
    r = session(inst)
    expect('EXPN', line(r.cmd(b'EXPN staff\r\n')),
           '502 5.5.1 Command not implemented')
    for verb in (b'TURN', b'ETRN example.org', b'expn x'):
        got = line(r.cmd(verb + b'\r\n'))
        check('%s: 502 5.5.1 Command not implemented' % verb.decode(),
              got == '502 5.5.1 Command not implemented', got)
    expect('an unknown verb', line(r.cmd(b'XYZZY\r\n')),
           '500 5.5.1 Command unrecognized')
    got = line(r.cmd(b'VRFY postmaster\r\n'))
    check('VRFY stays 252 2.5.2 (it never says whether a mailbox exists)',
          got.startswith('252 2.5.2 '), got)
    r.close()
    # counted as errors: errors_max (20) of them end the session
    r = session(inst)
    codes = []
    for _ in range(25):
        code, lines = r.cmd(b'EXPN x\r\n')
        codes.append(code)
        if code == 421:
            break
    check('EXPN counts as an error: the 20th is followed by 421 4.7.0 '
          'Too many errors',
          codes == [502] * 20 + [421] and 'Too many errors' in lines[-1],
          (codes, lines))
    r.close()


def test_bare_postmaster(inst, sink):
    before = len(sink.messages)
    r = session(inst)
    check('MAIL 250', r.cmd(b'MAIL FROM:<%s>\r\n' % FROM)[0] == 250)
    expect('RCPT TO:<Postmaster> (no domain)',
           line(r.cmd(b'RCPT TO:<Postmaster>\r\n')),
           '550 5.1.1 <Postmaster>: this relay has no local mailboxes '
           '(name a domain)')
    for rcpt in (b'<postmaster>', b' <POSTMASTER>', b'<PostMaster> NOTIFY=NEVER'):
        got = line(r.cmd(b'RCPT TO:%s\r\n' % rcpt))
        check('RCPT TO:%s: 550 5.1.1, never relayed' % rcpt.decode(),
              got.startswith('550 5.1.1 <Postmaster>: '), got)
    got = line(r.cmd(b'RCPT TO:<someone>\r\n'))
    check('RCPT TO:<someone> (no domain) stays 553 5.1.3',
          got == '553 5.1.3 Address must have a domain', got)
    check('DATA: no recipient was taken (503)', r.cmd(b'DATA\r\n')[0] == 503)
    r.close()
    check('nothing reached the next hop', len(sink.messages) == before)


def send_tagged(inst, tag, params):
    r = session(inst)
    ok = r.cmd(b'MAIL FROM:<%s>%s\r\n' % (FROM, params))[0] == 250
    ok = ok and r.cmd(b'RCPT TO:<a@example.org>\r\n')[0] == 250
    ok = ok and r.cmd(b'DATA\r\n')[0] == 354
    ok = ok and r.cmd(b'Subject: %s\r\n\r\nhi\r\n.\r\n' % tag)[0] == 250
    r.cmd(b'QUIT\r\n')
    r.close()
    return ok


def received_of(sink, tag):
    """The Received: field relaybox put on the message tagged so."""
    if not sink.wait_for(1, 30):
        return b''
    deadline = 60
    while deadline:
        for m in list(sink.messages):
            if b'Subject: ' + tag in m.data:
                head = m.data.split(b'\r\n\r\n', 1)[0]
                got = re.search(rb'^Received: .*?(?=\r\n\S)', head,
                                re.S | re.M)
                return got.group(0) if got else head
        sink.wait_for(len(sink.messages) + 1, 1)
        deadline -= 1
    return b''


def test_received_utf8(inst, sink):
    check('a message under SMTPUTF8 is queued',
          send_tagged(inst, b'utf8-one', b' SMTPUTF8'))
    check('a message without it is queued',
          send_tagged(inst, b'ascii-one', b''))
    got = received_of(sink, b'utf8-one')
    check('under SMTPUTF8 (no TLS, no AUTH) Received: says with UTF8SMTP',
          re.search(rb'\(relaybox\) with UTF8SMTP\s', got), got)
    got = received_of(sink, b'ascii-one')
    check('without it Received: says with ESMTP',
          re.search(rb'\(relaybox\) with ESMTP\s', got), got)
    check('doc/BEHAVIOUR.md names UTF8SMTP', '`UTF8SMTP`' in doc())


def main():
    with Sink() as sink, Instance(sink=sink) as inst:
        run_steps(lambda: test_duplicate_params(inst),
                  lambda: test_params_after_helo(inst),
                  lambda: test_not_implemented(inst),
                  lambda: test_bare_postmaster(inst, sink),
                  lambda: test_received_utf8(inst, sink))
    finish()


if __name__ == '__main__':
    main()
