#!/usr/bin/python3
"""test_auth_lockout.py: AUTH failures slow guessing down where it
happens and never lock the real user out from elsewhere (relay-policy's
throttle, man/relay-policy.8), through the real relay-smtpd over TLS.

Shows, with auth_fail_max = 3, auth_fail_ip_max = 5 and
auth_fail_user_max = 6: three wrong passwords for a user from 127.0.0.2
and even the right one is refused there (535 5.7.8, no check); the
right password from 127.0.0.3, an address without failures, gives 235
and the message relays; five failures from 127.0.0.4 spread over user
names refuse every user there; once the user has failed from enough
addresses, an address that already failed for it is refused while a
fresh one still authenticates; AUTH PLAIN with another identity as
authzid is a failure counted like a wrong password."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, finish, smtp_session  # noqa: E402
from certs import TestCerts, check, run_steps, wait_tag  # noqa: E402
from test_auth import (PASS, PASS2, TO, USER, USER2, msg,  # noqa: E402
                       plain, rules)


def attempt(inst, certs, src, user, pw):
    """One AUTH PLAIN from src in a fresh TLS session: (code, text)."""
    with smtp_session(inst.port, source_ip=src) as c:
        c.ehlo('client.example.com')
        c.starttls(context=certs.client_context())
        c.ehlo('client.example.com')
        return c.docmd('AUTH', 'PLAIN ' + plain(user, pw))


def is_535(r):
    return r[0] == 535 and r[1].startswith(b'5.7.8')


def test_lockout(inst, sink, certs):
    got = [attempt(inst, certs, '127.0.0.2', USER, 'guess%d' % i)
           for i in range(3)]
    check('three wrong passwords from 127.0.0.2: 535 5.7.8',
          all(is_535(r) for r in got), got)
    r = attempt(inst, certs, '127.0.0.2', USER, PASS)
    check('guessing address: even the right password refused (535)',
          is_535(r), r)
    with smtp_session(inst.port, source_ip='127.0.0.3') as c:
        c.ehlo('client.example.com')
        c.starttls(context=certs.client_context())
        c.ehlo('client.example.com')
        r = c.docmd('AUTH', 'PLAIN ' + plain(USER, PASS))
        check('no lock-out: the right password from 127.0.0.3 gives 235',
              r[0] == 235, r)
        if r[0] == 235:
            c.sendmail(USER, [TO], msg('lockout-ok'))
    check('and its message relays', wait_tag(sink, 'lockout-ok') is not None)


def test_spray(inst, certs):
    got = [attempt(inst, certs, '127.0.0.4', 'u%d@acme.example' % i, 'x')
           for i in range(5)]
    check('five failures over five user names from 127.0.0.4',
          all(is_535(r) for r in got), got)
    r = attempt(inst, certs, '127.0.0.4', USER, PASS)
    check('that address is throttled for every user (535)', is_535(r), r)


def test_under_attack(inst, certs):
    # 3 failures for USER so far (127.0.0.2); three more addresses, one each
    for src in ('127.0.0.5', '127.0.0.6', '127.0.0.7'):
        attempt(inst, certs, src, USER, 'wrong')
    r = attempt(inst, certs, '127.0.0.5', USER, PASS)
    check('user under attack: an address that failed for it is refused',
          is_535(r), r)
    r = attempt(inst, certs, '127.0.0.8', USER, PASS)
    check('user under attack: a fresh address still authenticates (235)',
          r[0] == 235, r)


def test_authz_counted(inst, certs):
    """PLAIN naming another identity as authzid is a failed AUTH, counted
    like a wrong password: three of them (with the right password) and
    the right password alone is refused at that address."""
    got = []
    for _ in range(3):
        with smtp_session(inst.port, source_ip='127.0.0.9') as c:
            c.ehlo('client.example.com')
            c.starttls(context=certs.client_context())
            c.ehlo('client.example.com')
            got.append(c.docmd('AUTH', 'PLAIN ' +
                               plain(USER2, PASS2, authz=USER)))
    check('authzid of another identity from 127.0.0.9: 535 5.7.8',
          all(is_535(r) for r in got), got)
    r = attempt(inst, certs, '127.0.0.9', USER2, PASS2)
    check('counted as failures: the right password refused there (535)',
          is_535(r), r)


def main():
    with TestCerts() as certs, Sink() as sink:
        conf = certs.conf()
        conf.update({'auth_fail_max': '3', 'auth_fail_ip_max': '5',
                     'auth_fail_user_max': '6'})
        with Instance(conf_overrides=conf, rules_text=rules(),
                      sink=sink) as inst:
            run_steps(lambda: test_lockout(inst, sink, certs),
                      lambda: test_spray(inst, certs),
                      lambda: test_under_attack(inst, certs),
                      lambda: test_authz_counted(inst, certs))
    finish()


if __name__ == '__main__':
    main()
