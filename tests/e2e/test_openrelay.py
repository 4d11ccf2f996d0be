#!/usr/bin/python3
"""test_openrelay.py: the relay is never an open relay (doc/BEHAVIOUR.md §2.6).
From an unlisted address and unauthenticated, every HELO name (even a
customer's own domain), every sender form and every classic recipient
trick -- '%' hacks, bang paths, source routes, quoted local parts holding
'@', IP literals, trailing dots, mixed case -- is refused; from a listed
address the tricks in recipients are refused too, and so are their
look-alikes under SMTPUTF8 that IDNA maps back onto them.  Nothing reaches the
receiving server except the one plain control message sent at the end."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, check, finish  # noqa: E402

RULES = """
customer example licenses=10
domain example.com customer=example
rule example lan senders=domain auth=ip
ip example lan 127.0.0.1/32
customer anyco
domain anyco.test customer=anyco
rule anyco lan senders=any auth=ip
ip anyco lan 127.0.0.21
"""

HELOS = [b'example.com', b'anyco.test', b'[127.0.0.1]', b'relaybox.test',
         b'localhost', b'EXAMPLE.COM']
SENDERS = [b'a@example.com', b'A@EXAMPLE.COM', b'a@example.com.', b'',
           b'a@anyco.test', b'"a@x"@example.com', b'a%b@example.com',
           b'postmaster@relaybox.test']
TRICKS = [b'victim%evil.test@example.com', b'evil.test!victim@example.com',
          b'@example.com:victim@evil.test', b'@a.test,@b.test:victim@evil.test',
          b'"victim@evil.test"@example.com', b'"victim%evil.test"@example.com',
          b'victim@[127.0.0.1]', b'victim@[IPv6:::1]', b'victim@evil.test.',
          b'victim@evil.test..', b'victim@example.com.', b'VICTIM@EVIL.TEST',
          b'victim@example.com', b'victim@relaybox.test', b'postmaster',
          b'victim@localhost', b'victim%evil.test@[127.0.0.1]']
# under SMTPUTF8, look-alikes that UTS #46 (relaybox's own IDNA step
# before the MX lookup, and any next hop's) maps onto the tricks above
LOOKALIKES = ['victim@\uff3b127.0.0.1\uff3d', 'victim@127.0.0.\uff11',
              'victim@127.0.0\u30021', 'victim@\uff3bIPv6:::1\uff3d',
              'victim@evil.test\u3002', 'victim@evil\uff05test.example',
              'victim@\uff11\uff12\uff13']
# what an accepted sender must still not send to
BAD_FOR_LISTED = [t for t in TRICKS if t not in
                  (b'VICTIM@EVIL.TEST', b'victim@example.com',
                   b'victim@relaybox.test', b'victim@localhost')]


def session(inst, ip, helo):
    r = Raw(inst.port, source_ip=ip)
    r.reply()
    r.cmd(b'EHLO ' + helo + b'\r\n')
    return r


def unlisted(inst):
    refused_mail = refused_rcpt = total = 0
    leaks = []
    for helo in HELOS:
        r = session(inst, '127.0.0.66', helo)
        for frm in SENDERS:
            code, text = r.cmd(b'MAIL FROM:<' + frm + b'>\r\n')
            total += 1
            if code >= 500:
                refused_mail += 1
            else:
                leaks.append((helo, frm, 'MAIL', code, text))
            for rcpt in TRICKS:
                c2, t2 = r.cmd(b'RCPT TO:<' + rcpt + b'>\r\n')
                if c2 < 400:
                    leaks.append((helo, frm, rcpt, c2, t2))
                else:
                    refused_rcpt += 1
            r.cmd(b'RSET\r\n')
        r.cmd(b'QUIT\r\n')
        r.close()
    check('unlisted IP: every MAIL refused (%d of %d)' % (refused_mail, total),
          refused_mail == total, leaks[:5])
    check('unlisted IP: every RCPT refused (%d)' % refused_rcpt,
          not [x for x in leaks if x[2] != 'MAIL'], leaks[:5])
    r = session(inst, '127.0.0.66', b'example.com')
    code, text = r.cmd(b'MAIL FROM:<a@example.com>\r\n')
    r.close()
    check('unlisted IP with a customer HELO: 550 5.7.0 naming the client',
          code == 550 and text[0].startswith('5.7.0 Mail relay denied '
                                             '[127.0.0.66]'), (code, text))


def listed(inst, ip, helo, frm):
    r = session(inst, ip, helo)
    code, text = r.cmd(b'MAIL FROM:<' + frm + b'>\r\n')
    check('%s: sender accepted' % ip, code == 250, (code, text))
    leaks = []
    for rcpt in BAD_FOR_LISTED:
        c2, t2 = r.cmd(b'RCPT TO:<' + rcpt + b'>\r\n')
        if c2 < 400:
            leaks.append((rcpt, c2, t2))
    check('%s: every recipient trick refused' % ip, not leaks, leaks)
    c3, t3 = r.cmd(b'DATA\r\n')
    check('%s: no DATA without a recipient' % ip, c3 >= 500, (c3, t3))
    r.cmd(b'QUIT\r\n')
    r.close()


def listed_utf8(inst):
    r = session(inst, '127.0.0.1', b'client.test')
    code, text = r.cmd(b'MAIL FROM:<a@example.com> SMTPUTF8\r\n')
    check('SMTPUTF8 sender accepted', code == 250, (code, text))
    for rcpt in LOOKALIKES:
        c2, t2 = r.cmd(b'RCPT TO:<' + rcpt.encode() + b'>\r\n')
        # 5.1.2 when relay-smtpd already finds no hostname (the ':')
        check('SMTPUTF8 look-alike <%s>: 553 refused' % rcpt,
              c2 == 553, (c2, t2))
    c2, t2 = r.cmd('RCPT TO:<victim@b\u00fccher.example>\r\n'.encode())
    check('SMTPUTF8: a real U-label domain is accepted', c2 == 250, (c2, t2))
    r.cmd(b'RSET\r\n')
    r.cmd(b'QUIT\r\n')
    r.close()


def main():
    with Sink() as sink, Instance(rules_text=RULES, sink=sink,
                                       conf_overrides={'errors_max': 1000}) as inst:
        unlisted(inst)
        listed(inst, '127.0.0.1', b'client.test', b'a@example.com')
        listed(inst, '127.0.0.21', b'anyco.test', b'x@foreign.test')
        listed_utf8(inst)
        r = session(inst, '127.0.0.1', b'client.test')
        ok = [r.cmd(b'MAIL FROM:<a@example.com>\r\n')[0],
              r.cmd(b'RCPT TO:<control@example.org>\r\n')[0],
              r.cmd(b'DATA\r\n')[0],
              r.cmd(b'Subject: control\r\n\r\ncontrol\r\n.\r\n')[0]]
        r.cmd(b'QUIT\r\n')
        r.close()
        check('control message accepted', ok == [250, 250, 354, 250], ok)
        check('control message arrives', sink.wait_for(1, 120), inst.log_tail())
        time.sleep(3)
        check('nothing else reached the receiver',
              len(sink.messages) == 1 and
              sink.messages[0].rcpts == ['control@example.org'],
              [(m.mail_from, m.rcpts) for m in sink.messages])
    finish()


if __name__ == '__main__':
    main()
