#!/usr/bin/python3
"""test_policy_relay.py: doc/BEHAVIOUR.md §2 on the wire.  A real instance with a
portal (IP + registered sender), a printer (IP + TLS), an Exchange server
(SMTP AUTH), an office (IP and AUTH), a disabled rule listing the
printer's address again (the printer keeps its rule, the next address
gets none of it), a HELO-identified tenant with
senders=any, and a suspended tenant.  swaks connects from several 127.x
source addresses with several HELO names; each situation gets its exact
reply, and what is accepted arrives at the receiving server with the
right -- possibly rewritten -- envelope sender."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Instance, Raw, Sink, check, finish, swaks  # noqa: E402
from certs import TestCerts  # noqa: E402

PASS = 'secret1'
HASH = '$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74'
RULES = """
customer acme licenses=10
domain acme.test customer=acme
user portal@acme.test hash={h}
user exch@acme.test hash={h}
user admin@bank.test hash={h} customer=acme
rule acme portal senders=registered auth=ip
ip acme portal 127.0.0.11
rule acme printer senders=domain auth=ip tls=yes
ip acme printer 127.0.0.12
rule acme oldprinter senders=any auth=ip enabled=no
ip acme oldprinter 127.0.0.12
rule acme exchange senders=any auth=smtp
rule acme office senders=domain auth=both
ip acme office 127.0.0.15
customer beta licenses=5
domain beta.test customer=beta
rule beta lan senders=any auth=ip
ip beta lan 127.0.0.13
ip beta lan ::1
customer gamma
domain gamma.test customer=gamma
rule gamma shared senders=domain auth=ip
ip gamma shared 127.0.0.13
customer frozen suspended=yes
domain frozen.test customer=frozen
rule frozen lan senders=domain auth=ip
ip frozen lan 127.0.0.14
""".format(h=HASH)


def sw(inst, ip, frm, to='r@example.org', helo='client.test', tag=None,
       extra=()):
    args = ['--server', '127.0.0.1', '--port', inst.port,
            '--local-interface', ip, '--helo', helo, '--from', frm,
            '--to', to, '--timeout', '30']
    if tag:
        args += ['--header', 'Message-ID: <%s@policy.test>' % tag]
    return swaks(*(args + list(extra)))


def arrived(sink, tag, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        for m in sink.messages:
            if ('<%s@policy.test>' % tag).encode() in m.data:
                return m
        time.sleep(0.2)
    return None


def expect_refusal(inst, name, ip, frm, reply, **kw):
    r = sw(inst, ip, frm, **kw)
    check(name + ': ' + reply[:60], r.returncode != 0 and reply in r.stdout,
          r.stdout[-800:])


def expect_relay(inst, sink, name, ip, frm, sender, **kw):
    tag = name.replace(' ', '-').replace(',', '')
    r = sw(inst, ip, frm, tag=tag, **kw)
    check(name + ': accepted', r.returncode == 0, r.stdout[-800:])
    m = arrived(sink, tag)
    check(name + ': arrives with sender <%s>' % sender,
          m is not None and m.mail_from == sender,
          m and m.mail_from)


def null_sender(inst, sink):
    r = Raw(inst.port, source_ip='127.0.0.13')
    r.reply()
    r.cmd(b'EHLO beta.test\r\n')
    c1 = r.cmd(b'MAIL FROM:<>\r\n')
    c2 = r.cmd(b'RCPT TO:<one@example.org>\r\n')
    c3 = r.cmd(b'RCPT TO:<two@example.org>\r\n')
    check('null sender + HELO: MAIL 250', c1[0] == 250, c1)
    check('null sender: first RCPT 250', c2[0] == 250, c2)
    check('null sender: second RCPT 550 5.5.3', c3[0] == 550 and
          c3[1][0].startswith('5.5.3'), c3)
    d = r.cmd(b'DATA\r\n')
    if d[0] == 354:
        d = r.cmd(b'Subject: nullsender\r\nMessage-ID: <nullsender@policy.test>'
                  b'\r\n\r\nbounce\r\n.\r\n')
    r.cmd(b'QUIT\r\n')
    r.close()
    m = arrived(sink, 'nullsender')
    check('null sender: arrives once, rewritten to postmaster@beta.test, '
          'one recipient', m is not None and m.mail_from ==
          'postmaster@beta.test' and m.rcpts == ['one@example.org'],
          m and (m.mail_from, m.rcpts))


def ipv6(inst, sink):
    if not inst.port6:
        check('IPv6: ::1 listener available', False, 'no [::1] listener')
        return
    r = Raw(inst.port6, source_ip='::1', host='::1')
    r.reply()
    r.cmd(b'EHLO beta.test\r\n')
    got = [r.cmd(b'MAIL FROM:<x@foreign.test>\r\n')[0],
           r.cmd(b'RCPT TO:<v6@example.org>\r\n')[0], r.cmd(b'DATA\r\n')[0],
           r.cmd(b'Subject: v6\r\nMessage-ID: <ipv6@policy.test>\r\n\r\n'
                 b'v6\r\n.\r\n')[0]]
    r.cmd(b'QUIT\r\n')
    r.close()
    check('IPv6 ::1 listed for beta: accepted', got == [250, 250, 354, 250], got)
    m = arrived(sink, 'ipv6')
    check('IPv6: arrives as postmaster@beta.test',
          m is not None and m.mail_from == 'postmaster@beta.test',
          m and m.mail_from)


def auth_cases(inst, sink):
    tls = ['--tls']
    auth = tls + ['--auth', 'PLAIN', '--auth-user', 'exch@acme.test',
                  '--auth-password', PASS]
    expect_relay(inst, sink, 'AUTH foreign sender', '127.0.0.99',
                 'someone@foreign.test', 'postmaster@acme.test', extra=auth)
    expect_relay(inst, sink, 'AUTH own sender', '127.0.0.99',
                 'boss@acme.test', 'boss@acme.test', extra=auth)
    # a user whose domain is no customer's: the customer's own domain
    undeclared = tls + ['--auth', 'PLAIN', '--auth-user', 'admin@bank.test',
                        '--auth-password', PASS]
    expect_relay(inst, sink, 'AUTH user of an undeclared domain, own address',
                 '127.0.0.99', 'admin@bank.test', 'postmaster@acme.test',
                 extra=undeclared)
    bad = tls + ['--auth', 'PLAIN', '--auth-user', 'exch@acme.test',
                 '--auth-password', 'wrong']
    expect_refusal(inst, 'AUTH failed', '127.0.0.99', 'boss@acme.test',
                   '535 5.7.8 Username and Password not accepted.', extra=bad)
    expect_refusal(inst, 'AUTH required (auth=both, listed IP)', '127.0.0.15',
                   'a@acme.test', '530 5.7.0 Authentication required.',
                   extra=tls)
    expect_relay(inst, sink, 'auth=both with AUTH', '127.0.0.15',
                 'a@acme.test', 'a@acme.test', extra=auth)


def suspension(inst, sink):
    ctl = os.path.join(BIN, 'relayctl')
    r = subprocess.run([ctl, '-d', inst.dir, 'suspend', 'user',
                        'portal@acme.test'], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    check('relayctl suspend user', r.returncode == 0, r.stdout)
    expect_refusal(inst, 'suspended user (relayctl)', '127.0.0.11',
                   'portal@acme.test', '550 5.7.1 Sender <portal@acme.test>: '
                   'the account is suspended.')
    subprocess.run([ctl, '-d', inst.dir, 'unsuspend', 'user',
                    'portal@acme.test'], stdout=subprocess.DEVNULL,
                   timeout=30)
    expect_relay(inst, sink, 'unsuspended user', '127.0.0.11',
                 'portal@acme.test', 'portal@acme.test')
    r = subprocess.run([ctl, '-d', inst.dir, 'explain', '--ip', '127.0.0.14',
                        '--from', 'a@frozen.test', '--rcpt', 'r@example.org'],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=30)
    check('relayctl explain: prints the exact reply', r.returncode == 0 and
          'reply:    550 5.7.1 The account of customer frozen is suspended.'
          in r.stdout, r.stdout)


def reload(inst):
    """makecdb under an open SMTP session: the next MAIL follows the new
    rules and the session goes on."""
    r = Raw(inst.port, source_ip='127.0.0.11')
    r.reply()
    r.cmd(b'EHLO portal.acme.test\r\n')
    c1 = r.cmd(b'MAIL FROM:<portal@acme.test>\r\n')[0]
    r.cmd(b'RSET\r\n')
    with open(inst.path('relay.rules'), 'w') as f:
        f.write(RULES.replace('ip acme portal 127.0.0.11',
                              'ip acme portal 127.0.0.111'))
    mk = subprocess.run([os.path.join(BIN, 'makecdb'), '-d', inst.dir],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        text=True, timeout=60)
    c2 = r.cmd(b'MAIL FROM:<portal@acme.test>\r\n')
    c3 = r.cmd(b'NOOP\r\n')[0]
    r.cmd(b'QUIT\r\n')
    r.close()
    check('reload: makecdb under load', mk.returncode == 0, mk.stdout)
    check('reload: same session, new rules: 550 5.7.0', c1 == 250 and
          c2[0] == 550 and c2[1][0].startswith('5.7.0'), (c1, c2))
    check('reload: session still alive', c3 == 250, c3)


def main():
    with TestCerts() as certs, Sink() as sink, \
            Instance(conf_overrides=certs.conf(), rules_text=RULES,
                     sink=sink) as inst:
        expect_refusal(inst, 'unlisted IP', '127.0.0.99', 'a@acme.test',
                       '550 5.7.0 Mail relay denied [127.0.0.99].')
        expect_relay(inst, sink, 'portal registered sender', '127.0.0.11',
                     'portal@acme.test', 'portal@acme.test')
        expect_refusal(inst, 'portal unregistered sender', '127.0.0.11',
                       'other@acme.test', '550 5.7.1 Sender <other@acme.test> '
                       'refused by rule acme/portal (senders=registered)')
        expect_refusal(inst, 'listed IP, other customer\'s sender',
                       '127.0.0.11', 'x@beta.test',
                       '550 5.7.1 Invalid credentials for relay [127.0.0.11].')
        expect_refusal(inst, 'listed IP, other customer\'s HELO',
                       '127.0.0.11', 'portal@acme.test', helo='beta.test',
                       reply='550 5.7.1 Invalid credentials for relay '
                             '[127.0.0.11].')
        # beta's address, identified as acme, which has an auth=smtp
        # rule: the address is not acme's, so 550 5.7.1 (not 530)
        for extra in ([], ['--tls']):
            expect_refusal(inst, 'other customer\'s IP, sender of one with '
                           'AUTH rules%s' % (' (TLS)' if extra else ''),
                           '127.0.0.13', 'a@acme.test', extra=extra,
                           reply='550 5.7.1 Invalid credentials for relay '
                                 '[127.0.0.13].')
        expect_refusal(inst, 'other customer\'s IP, HELO of one with AUTH '
                       'rules', '127.0.0.13', 'x@foreign.test',
                       helo='acme.test', extra=['--tls'],
                       reply='550 5.7.1 Invalid credentials for relay '
                             '[127.0.0.13].')
        expect_refusal(inst, 'TLS required', '127.0.0.12', 'scan@acme.test',
                       '530 5.7.0 Must issue a STARTTLS command first.')
        expect_relay(inst, sink, 'printer over TLS', '127.0.0.12',
                     'scan@acme.test', 'scan@acme.test', extra=['--tls'])
        expect_relay(inst, sink, 'HELO-identified foreign sender',
                     '127.0.0.13', 'x@foreign.test', 'postmaster@beta.test',
                     helo='beta.test')
        expect_relay(inst, sink, 'HELO-identified after STARTTLS',
                     '127.0.0.13', 'y@foreign.test', 'postmaster@beta.test',
                     helo='beta.test', extra=['--tls'])
        # 127.0.0.13 is listed by beta and gamma alike (a shared host)
        expect_relay(inst, sink, 'shared address, second customer\'s sender',
                     '127.0.0.13', 'g@gamma.test', 'g@gamma.test')
        expect_refusal(inst, 'foreign sender without HELO/AUTH', '127.0.0.13',
                       'x@foreign.test', '550 5.7.1 Invalid credentials for '
                       'relay [127.0.0.13].')
        expect_refusal(inst, 'suspended customer', '127.0.0.14',
                       'a@frozen.test', '550 5.7.1 The account of customer '
                       'frozen is suspended.')
        null_sender(inst, sink)
        ipv6(inst, sink)
        auth_cases(inst, sink)
        suspension(inst, sink)
        reload(inst)
    finish()


if __name__ == '__main__':
    main()
