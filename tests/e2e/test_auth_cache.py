#!/usr/bin/python3
"""test_auth_cache.py: relay-policy's verified-credentials cache seen from
outside (policy/policy_authcache.h).  Smarthost clients authenticate on
every connection with the same password; the cache must make that cheap
without changing any answer.

Shows: 20 AUTHs in a row over STARTTLS with the right password all give
235; a wrong password still gets 535 5.7.8 (also right after the cached
successes); after makecdb compiles a new hash for the user, the old
password is refused at once (535 5.7.8) and the new one accepted; a
user suspended (relayctl) right after a cached AUTH is refused at MAIL
at once (suspension is checked outside the cache); with
auth_cache_ttl = 0 the right password still works.  Ten clients that
authenticate at the same moment on a fresh start (empty cache: their
checks overlap and share one crypt child, policy/policy_auth.h) get the
right answers: 235 for the eight with the right password, 535 5.7.8
for the two with a wrong one."""
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Instance, finish, smtp_session  # noqa: E402
from certs import TestCerts, check  # noqa: E402
from test_auth import b64, is_535, make_hash  # noqa: E402

USER = 'mailer@acme.example'
OLD = 'old-Pass word 1'
NEW = 'new-Pass word 2'


def rules(password):
    return ('customer acme licenses=10 paid=yes\n'
            'domain acme.example customer=acme\n'
            'user %s hash=%s customer=acme\n'
            'rule acme submit senders=registered auth=smtp\n'
            % (USER, make_hash(password)))


def auth(inst, certs, password):
    """One connection, STARTTLS, AUTH PLAIN: the reply (code, text)."""
    with smtp_session(inst.port) as c:
        c.ehlo('client.example.com')
        c.starttls(context=certs.client_context())
        c.ehlo('client.example.com')
        return c.docmd('AUTH', 'PLAIN ' + b64('\0%s\0%s' % (USER, password)))


def test_parallel(inst, certs):
    passwords = [OLD] * 8 + [OLD + 'x'] * 2
    barrier = threading.Barrier(len(passwords), timeout=30)
    got = [None] * len(passwords)

    def one(i):
        try:
            with smtp_session(inst.port) as c:
                c.ehlo('client.example.com')
                c.starttls(context=certs.client_context())
                c.ehlo('client.example.com')
                barrier.wait()
                got[i] = c.docmd('AUTH', 'PLAIN ' +
                                 b64('\0%s\0%s' % (USER, passwords[i])))
        except Exception as e:  # reported by the checks below
            got[i] = (0, repr(e).encode())
    threads = [threading.Thread(target=one, args=(i,))
               for i in range(len(passwords))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check('10 AUTHs at once on an empty cache: the 8 right ones 235',
          [r and r[0] for r in got[:8]] == [235] * 8, got[:8])
    check('... and the 2 wrong ones 535 5.7.8',
          all(r and is_535(r) for r in got[8:]), got[8:])


def test_repeat(inst, certs):
    codes = [auth(inst, certs, OLD)[0] for _ in range(20)]
    check('20 AUTHs in a row with the right password: all 235 (%s)'
          % sorted(set(codes)), codes == [235] * 20, codes)
    r = auth(inst, certs, OLD + 'x')
    check('wrong password after cached successes: 535 5.7.8', is_535(r), r)
    r = auth(inst, certs, OLD.upper())
    check('password still case-sensitive: 535 5.7.8', is_535(r), r)


def test_new_hash(inst, certs):
    check('old password cached and accepted before the change',
          auth(inst, certs, OLD)[0] == 235)
    inst.rules_text = rules(NEW)
    inst._write_rules()
    r = auth(inst, certs, OLD)
    check('after makecdb with a new hash: old password refused at once '
          '(535 5.7.8)', is_535(r), r)
    r = auth(inst, certs, NEW)
    check('new password accepted', r[0] == 235, r)
    r = auth(inst, certs, NEW)
    check('new password accepted again', r[0] == 235, r)


def test_suspended(inst, certs):
    ctl = os.path.join(BIN, 'relayctl')
    check('cached AUTH before the suspension', auth(inst, certs, NEW)[0] == 235)
    r = subprocess.run([ctl, '-d', inst.dir, 'suspend', 'user', USER],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=30)
    check('relayctl suspend user', r.returncode == 0, r.stdout)
    with smtp_session(inst.port) as c:
        c.ehlo('client.example.com')
        c.starttls(context=certs.client_context())
        c.ehlo('client.example.com')
        c.docmd('AUTH', 'PLAIN ' + b64('\0%s\0%s' % (USER, NEW)))
        r = c.docmd('MAIL', 'FROM:<%s>' % USER)
        if r[0] == 250:
            r = c.docmd('RCPT', 'TO:<someone@example.org>')
    check('suspended right after a cached AUTH: refused 550 5.7.1 at once',
          r[0] == 550 and r[1].startswith(b'5.7.1'), r)


def run(conf, steps):
    with Instance(conf_overrides=conf, rules_text=rules(OLD)) as inst:
        for t in steps:
            try:
                t(inst)
            except Exception as e:
                check('step ran without exception', False,
                      '%s: %r' % (type(e).__name__, e))
        log = inst.log()
        check('passwords never in the log', OLD not in log and NEW not in log)


def main():
    with TestCerts() as certs:
        run(certs.conf(), (lambda i: test_parallel(i, certs),))
        run(certs.conf(), (lambda i: test_repeat(i, certs),
                           lambda i: test_new_hash(i, certs),
                           lambda i: test_suspended(i, certs)))
        conf = certs.conf()
        conf['auth_cache_ttl'] = '0'
        run(conf, (lambda i: check('auth_cache_ttl = 0: right password 235',
                                   auth(i, certs, OLD)[0] == 235 and
                                   auth(i, certs, OLD)[0] == 235),
                   lambda i: check('auth_cache_ttl = 0: wrong password 535',
                                   is_535(auth(i, certs, NEW)))))
    finish()


if __name__ == '__main__':
    main()
