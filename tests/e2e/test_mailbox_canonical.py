#!/usr/bin/python3
"""test_mailbox_canonical.py: a quoted local part that needs no quoting
is the same mailbox as its plain form (RFC 5321 4.1.2, lib/addr.h).
"mailer"@example.com and "mail\\er"@example.com are mailer@example.com
for every decision: a suspended user stays suspended, a user's daily
limit counts them, a senders=registered rule finds the user; and the
envelope goes on in the plain form, so the next hop sees the mailbox
relaybox counted.  A local part that does need quoting ("john..doe")
still relays, quoted."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Raw, Sink, check, finish, wait_until  # noqa: E402

HASH = '$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74'
RULES = """\
customer example licenses=1000 paid=yes
domain example.com customer=example
user mailer@example.com hash=%(h)s customer=example
user gone@example.com hash=%(h)s customer=example
user counted@example.com hash=%(h)s customer=example user_messages=1
rule example lan senders=domain auth=ip
ip example lan 127.0.0.1/32
rule example portal senders=registered auth=ip
ip example portal 127.0.0.2/32
""" % {'h': HASH}


def send(inst, sender, tag, source_ip='127.0.0.1', rcpt=b'x@example.org'):
    """The replies to MAIL, RCPT and the final dot (None when not sent)."""
    r = Raw(inst.port, source_ip=source_ip)
    got = []
    try:
        r.reply()
        r.cmd(b'EHLO client.example.com\r\n')
        got.append(r.cmd(b'MAIL FROM:<' + sender + b'>\r\n'))
        got.append(r.cmd(b'RCPT TO:<' + rcpt + b'>\r\n')
                   if got[-1][0] == 250 else None)
        if got[-1] and got[-1][0] == 250 and r.cmd(b'DATA\r\n')[0] == 354:
            got.append(r.cmd(b'Subject: ' + tag + b'\r\n\r\nx\r\n.\r\n'))
        else:
            got.append(None)
        r.cmd(b'QUIT\r\n')
    finally:
        r.close()
    return got


def line(rep):
    return '%s %s' % (rep[0], ' '.join(rep[1])) if rep else 'not sent'


def delivered(sink, tag):
    for m in sink.messages:
        if b'Subject: ' + tag + b'\r\n' in m.data:
            return m
    return None


def test_suspended(inst):
    r = inst.relayctl('suspend', 'user', 'gone@example.com')
    check('relayctl suspend user gone@example.com', r.returncode == 0,
          r.stdout + r.stderr)
    for sender in (b'gone@example.com', b'"gone"@example.com',
                   b'"g\\one"@example.com', b'"GONE"@example.com'):
        mail = send(inst, sender, b'gone')[0]
        check('suspended user as <%s>: 550 5.7.1 suspended' % sender.decode(),
              mail[0] == 550 and 'suspended' in line(mail), line(mail))


def test_user_limit(inst):
    first = send(inst, b'counted@example.com', b'counted1')
    check('user_messages=1: the first message relays',
          first[2] and first[2][0] == 250, line(first[2]))
    for sender in (b'"counted"@example.com', b'"count\\ed"@example.com'):
        rcpt = send(inst, sender, b'counted2')[1]
        check('user_messages=1: a second as <%s> is the same user: 550 5.4.5'
              % sender.decode(),
              rcpt and rcpt[0] == 550 and '5.4.5' in line(rcpt), line(rcpt))


def test_registered(inst, sink):
    for sender, tag in ((b'"mailer"@example.com', b'reg1'),
                        (b'"mail\\er"@example.com', b'reg2')):
        got = send(inst, sender, tag, source_ip='127.0.0.2')
        check('senders=registered: <%s> is the user mailer@example.com'
              % sender.decode(),
              got[0][0] == 250 and 'Sender <mailer@example.com> ok' in
              line(got[0]) and got[2] and got[2][0] == 250,
              ' / '.join(line(g) for g in got))
        m = wait_until(lambda: delivered(sink, tag), 30) and \
            delivered(sink, tag)
        check('delivered with the sender mailer@example.com for <%s>'
              % sender.decode(),
              m and m.mail_from == 'mailer@example.com', repr(m))
    check('relay-queue logs the plain form', inst.wait_log(
        r'from=<mailer@example\.com> nrcpt=1', 10), inst.log_tail())
    check('no quoted form in the log',
          '"mail' not in inst.log(), inst.log_tail())


def test_real_quoting(inst, sink):
    got = send(inst, b'"john..doe"@example.com', b'johndoe',
               rcpt=b'"bob"@example.org')
    check('<"john..doe"@example.com> (needs its quotes) relays',
          got[2] and got[2][0] == 250, ' / '.join(line(g) for g in got))
    check('RCPT <"bob"@example.org> is <bob@example.org>',
          got[1] and 'Recipient <bob@example.org> ok' in line(got[1]),
          line(got[1]))
    check('the queue keeps <"john..doe"@example.com>', inst.wait_log(
        r'from=<"john\.\.doe"@example\.com> nrcpt=1', 10), inst.log_tail())
    m = wait_until(lambda: delivered(sink, b'johndoe'), 30) and \
        delivered(sink, b'johndoe')
    check('delivered to bob@example.org',
          m and m.rcpts == ['bob@example.org'], repr(m))


def main():
    with Sink() as sink, Instance(rules_text=RULES, sink=sink) as inst:
        test_suspended(inst)
        test_user_limit(inst)
        test_registered(inst, sink)
        test_real_quoting(inst, sink)
        time.sleep(0.5)
    finish()


if __name__ == '__main__':
    main()
