#!/usr/bin/python3
"""test_auth.py: SMTP AUTH (PLAIN and LOGIN) end to end, with users and
password hashes compiled by makecdb from rules made here, over a test CA
(certs.py).  The only rule is auth=smtp: without AUTH nothing relays.

Shows: AUTH is neither advertised nor accepted before TLS (a right
password is refused in the clear); inside TLS, AUTH PLAIN (initial
response and 334 challenge) and AUTH LOGIN (with and without initial
response) with the right password give 235 and the message relays with
"ESMTPSA" in Received (UTF8SMTPSA under SMTPUTF8); a wrong password, an
unknown user, another identity in authzid give 535 5.7.8, never 235 (the user itself as
authzid, in any case, is fine); an AUTH line over line_max gets 500
5.5.6; "*" cancels; a
second AUTH is refused; without AUTH, relay is refused with 530/550
5.7.x; smtplib login() and swaks --auth PLAIN/LOGIN (STARTTLS and
implicit TLS) work."""
import base64
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Instance, Sink, finish, free_port,  # noqa: E402
                     smtp_session, swaks)
from certs import TestCerts, check, wait_tag  # noqa: E402

USER = 'mailer@acme.example'
PASS = 's3cret-Pass word'
USER2 = 'second@acme.example'
PASS2 = 'an0ther one'
TO = 'someone@example.org'


def make_hash(password):
    """A crypt hash from makecdb --hash (stdin), else openssl passwd -6."""
    mk = os.path.join(BIN, 'makecdb')
    r = subprocess.run([mk, '--hash'], input=password + '\n', text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    h = r.stdout.strip()
    if r.returncode == 0 and h.startswith('$'):
        return h
    r = subprocess.run(['openssl', 'passwd', '-6', '-stdin'],
                       input=password + '\n', text=True,
                       stdout=subprocess.PIPE, timeout=60)
    return r.stdout.strip()


def rules():
    return ('customer acme licenses=10 paid=yes\n'
            'domain acme.example customer=acme\n'
            'user %s hash=%s customer=acme\n'
            'user %s hash=%s customer=acme\n'
            'rule acme submit senders=registered auth=smtp\n'
            % (USER, make_hash(PASS), USER2, make_hash(PASS2)))


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def plain(user, pw, authz=''):
    return b64('%s\0%s\0%s' % (authz, user, pw))


def msg(tag, sender=USER):
    return ('From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n'
            'Message-ID: <%s@auth.test>\r\n\r\nbody\r\n'
            % (sender, TO, tag, tag)).encode()




def tls_session(inst, certs):
    c = smtp_session(inst.port)
    c.ehlo('client.example.com')
    c.starttls(context=certs.client_context())
    c.ehlo('client.example.com')
    return c


def is_535(r):
    return r[0] == 535 and r[1].startswith(b'5.7.8')


def first_refusal(c):
    """MAIL FROM the registered user, RCPT TO outside: the first reply
    that is not 250 (the relay may refuse at either)."""
    r = c.docmd('MAIL', 'FROM:<%s>' % USER)
    if r[0] == 250:
        r = c.docmd('RCPT', 'TO:<%s>' % TO)
    return r


def refused(r):
    """BEHAVIOUR.md §2.3: "530 5.7.0 Authentication required." when the sender's
    customer needs AUTH, or "550 5.7.0 Mail relay denied [X]." for an IP
    in no rule: either way 5.7.0 and never a 250."""
    return r[0] in (530, 550) and r[1].startswith(b'5.7.0')


def test_cleartext(inst):
    with smtp_session(inst.port) as c:
        c.ehlo('client.example.com')
        check('AUTH not advertised before TLS', not c.has_extn('auth'),
              c.esmtp_features)
        r = c.docmd('AUTH', 'PLAIN ' + plain(USER, PASS))
        check('AUTH PLAIN with the right password refused in the clear '
              '(%d %s)' % (r[0], r[1][:40].decode(errors='replace')),
              500 <= r[0] < 600, r)
        r = c.docmd('AUTH', 'LOGIN')
        check('AUTH LOGIN refused in the clear', 500 <= r[0] < 600, r)
        r = first_refusal(c)
        check('no relay in the clear without AUTH: 530/550 5.7.0 (%d %s)'
              % (r[0], r[1][:50].decode(errors='replace')), refused(r), r)


def test_plain(inst, sink, certs):
    with tls_session(inst, certs) as c:
        mechs = c.esmtp_features.get('auth', '').upper().split()
        check('AUTH PLAIN and LOGIN advertised inside TLS',
              'PLAIN' in mechs and 'LOGIN' in mechs, mechs)
        r = first_refusal(c)
        check('TLS but no AUTH: 530/550 5.7.0 (%d %s)'
              % (r[0], r[1][:50].decode(errors='replace')), refused(r), r)
        c.docmd('RSET')
        r = c.docmd('AUTH', 'PLAIN ' + plain(USER, PASS + 'x'))
        check('AUTH PLAIN wrong password: 535 5.7.8', is_535(r), r)
        check('535 text', b'Username and Password not accepted' in r[1], r)
        r = c.docmd('AUTH', 'PLAIN ' + plain('nobody@acme.example', PASS))
        check('AUTH PLAIN unknown user: 535 5.7.8', is_535(r), r)
        r = c.docmd('AUTH', 'PLAIN ' + plain(USER, PASS2))
        check('AUTH PLAIN another user\'s password: 535 5.7.8', is_535(r), r)
        r = c.docmd('AUTH', 'PLAIN ' + plain(USER2, PASS2, authz=USER))
        check('AUTH PLAIN acting for another identity (authzid): 535 5.7.8',
              is_535(r), r)
        r = c.docmd('AUTH', 'PLAIN ' + plain(USER, PASS))
        check('AUTH PLAIN right password: 235 2.7.0',
              r[0] == 235 and r[1].startswith(b'2.7.0'), r)
        r = c.docmd('AUTH', 'PLAIN ' + plain(USER, PASS))
        check('second AUTH refused (503)', r[0] == 503, r)
        c.sendmail(USER, [TO], msg('auth-plain'))
        c.sendmail(USER, [TO], msg('auth-plain-utf8'),
                   mail_options=['SMTPUTF8'])
    m = wait_tag(sink, 'auth-plain')
    check('AUTH PLAIN: message relayed', m is not None)
    check('Received says ESMTPSA with the TLS cipher',
          m is not None and re.search(rb'with ESMTPSA \(TLSv1\.[23] \S+ \d+\)',
                                      m.data), m.data[:400] if m else '')
    m = wait_tag(sink, 'auth-plain-utf8')
    check('under SMTPUTF8 Received says UTF8SMTPSA (RFC 6531 3.7.3)',
          m is not None and re.search(rb'with UTF8SMTPSA \(TLSv1\.[23] ',
                                      m.data), m.data[:400] if m else '')


def test_plain_challenge(inst, certs):
    with tls_session(inst, certs) as c:
        r = c.docmd('AUTH', 'PLAIN')
        check('AUTH PLAIN without initial response: 334', r[0] == 334, r)
        r = c.docmd(plain(USER2, PASS2))
        check('AUTH PLAIN challenge answered: 235', r[0] == 235, r)
    with tls_session(inst, certs) as c:
        c.docmd('AUTH', 'PLAIN')
        r = c.docmd('*')
        check('AUTH cancelled with "*": 501', r[0] == 501, r)
        r = c.docmd('AUTH', 'PLAIN not-base64!')
        check('AUTH PLAIN bad base64: 501', r[0] == 501, r)
    with tls_session(inst, certs) as c:
        r = c.docmd('AUTH', 'PLAIN ' + plain(USER2, PASS2,
                                             authz=USER2.upper()))
        check('AUTH PLAIN authzid the user itself in other case: 235',
              r[0] == 235, r)
    with tls_session(inst, certs) as c:
        c.docmd('AUTH', 'PLAIN')
        r = c.docmd('QUFB' * 300)  # over line_max (1000)
        check('AUTH response over line_max: 500 5.5.6 (RFC 4954)',
              r[0] == 500 and r[1].startswith(b'5.5.6'), r)
        r = c.docmd('AUTH', 'PLAIN ' + 'QUFB' * 300)
        check('AUTH PLAIN initial response over line_max: 500 5.5.6',
              r[0] == 500 and r[1].startswith(b'5.5.6'), r)
        r = c.docmd('NOOP')
        check('the session goes on after them', r[0] == 250, r)


def test_login(inst, sink, certs):
    with tls_session(inst, certs) as c:
        r = c.docmd('AUTH', 'LOGIN')
        check('AUTH LOGIN: 334 Username:', r == (334, b'VXNlcm5hbWU6'), r)
        r = c.docmd(b64(USER))
        check('AUTH LOGIN: 334 Password:', r == (334, b'UGFzc3dvcmQ6'), r)
        r = c.docmd(b64('wrong'))
        check('AUTH LOGIN wrong password: 535 5.7.8', is_535(r), r)
        r = c.docmd('AUTH', 'LOGIN ' + b64(USER))
        check('AUTH LOGIN with initial response: 334 Password:',
              r == (334, b'UGFzc3dvcmQ6'), r)
        r = c.docmd(b64(PASS))
        check('AUTH LOGIN right password: 235', r[0] == 235, r)
        c.sendmail(USER, [TO], msg('auth-login'))
    check('AUTH LOGIN: message relayed', wait_tag(sink, 'auth-login'))


def test_smtplib_login(inst, sink, certs):
    with tls_session(inst, certs) as c:
        try:
            c.login(USER2, PASS2 + 'x')
            check('smtplib login() wrong password fails', False)
        except Exception as e:  # smtplib.SMTPAuthenticationError
            check('smtplib login() wrong password fails',
                  getattr(e, 'smtp_code', 0) == 535, e)
    with tls_session(inst, certs) as c:
        c.login(USER2, PASS2)
        c.sendmail(USER2, [TO], msg('auth-smtplib', USER2))
    check('smtplib login(): message relayed', wait_tag(sink, 'auth-smtplib'))


def test_swaks(inst, sink, tport):
    for mech in ('PLAIN', 'LOGIN'):
        tag = 'swaks-auth-' + mech.lower()
        r = swaks('--server', '127.0.0.1', '--port', inst.port, '--tls',
                  '--auth', mech, '--auth-user', USER, '--auth-password',
                  PASS, '--from', USER, '--to', TO,
                  '--header', 'Message-ID: <%s@auth.test>' % tag)
        check('swaks --tls --auth %s exits 0' % mech, r.returncode == 0,
              r.stdout[-600:])
        check('swaks --auth %s: message relayed' % mech, wait_tag(sink, tag))
    r = swaks('--server', '127.0.0.1', '--port', inst.port, '--tls',
              '--auth', 'PLAIN', '--auth-user', USER, '--auth-password',
              'wrong', '--from', USER, '--to', TO)
    check('swaks --auth wrong password fails with 535 5.7.8',
          r.returncode != 0 and '535 5.7.8' in r.stdout, r.stdout[-600:])
    r = swaks('--server', '127.0.0.1', '--port', tport, '--tlsc',
              '--auth', 'LOGIN', '--auth-user', USER, '--auth-password',
              PASS, '--from', USER, '--to', TO,
              '--header', 'Message-ID: <swaks-auth-tlsc@auth.test>')
    check('swaks --tlsc --auth LOGIN (implicit TLS) exits 0',
          r.returncode == 0, r.stdout[-600:])
    check('implicit TLS + AUTH: message relayed',
          wait_tag(sink, 'swaks-auth-tlsc'))


def test_registered(inst, certs):
    with tls_session(inst, certs) as c:
        c.login(USER, PASS)
        r = c.docmd('MAIL', 'FROM:<unregistered@acme.example>')
        if r[0] == 250:
            r = c.docmd('RCPT', 'TO:<%s>' % TO)
        check('authenticated, unregistered sender under senders=registered: '
              '550 5.7.1', r[0] == 550 and r[1].startswith(b'5.7.1'), r)


def main():
    tport = free_port()
    text = rules()
    with TestCerts() as certs, Sink() as sink:
        conf = certs.conf()
        conf['listen_tls'] = '127.0.0.1:%d' % tport
        with Instance(conf_overrides=conf, rules_text=text, sink=sink) as inst:
            for t in (lambda: test_cleartext(inst),
                      lambda: test_plain(inst, sink, certs),
                      lambda: test_plain_challenge(inst, certs),
                      lambda: test_login(inst, sink, certs),
                      lambda: test_smtplib_login(inst, sink, certs),
                      lambda: test_swaks(inst, sink, tport),
                      lambda: test_registered(inst, certs)):
                try:
                    t()
                except Exception as e:
                    check('step ran without exception', False,
                          '%s: %r' % (type(e).__name__, e))
            log = inst.log()
            check('passwords never in the log',
                  PASS not in log and PASS2 not in log and
                  plain(USER, PASS) not in log)
    finish()


if __name__ == '__main__':
    main()
