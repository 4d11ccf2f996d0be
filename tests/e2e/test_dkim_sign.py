#!/usr/bin/python3
"""test_dkim_sign.py: messages through a real instance arrive at the sink
signed by relay-queue, and both verifiers of dkimverify.py (python3-dkim
and OpenDKIM), fetching the keys from dnsserver.py on loopback, pass them:
RSA-2048, Ed25519 and both (RSA on top).  A changed body or From: fails.
From: decides, not the envelope sender; a From: domain of another
customer, no From: or two are relayed unsigned with a log line; a
sender rewritten to postmaster@example.com is signed only when From: is
in example.com; a
rotation is a makecdb away (no restart); a key that vanished defers the
message with 451 4.3.0 under dkim_fail = defer and relays it unsigned
under dkim_fail = unsigned.  As root, DIR/dkim is relayqueue's, 0700."""
import os
import pwd
import shutil
import smtplib
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DEFAULT_RULES, BIN, Instance, Sink, check, finish,  # noqa: E402
                     is_root, wait_until)
from dnsserver import DnsServer  # noqa: E402
from dkimverify import Verifiers, all_pass, any_pass, public_record  # noqa: E402

ENV_FROM = 'sender@example.com'
KEYS = (('example.com', 'r1', 'rsa'), ('ed.example', 'e1', 'ed25519'),
        ('dual.example', 'r2', 'rsa'), ('dual.example', 'e2', 'ed25519'),
        ('example.com', 'r3', 'rsa'), ('other.example', 'o1', 'rsa'),
        ('gone.example', 'g1', 'rsa'))


def make_keys(keydir):
    """Key files for KEYS, owned by the signing uid (relayqueue when root),
    mode 0600, in a directory only it can enter."""
    uid = pwd.getpwnam('relayqueue').pw_uid if is_root() else os.getuid()
    paths = {}
    for dom, sel, alg in KEYS:
        path = os.path.join(keydir, '%s.%s.key' % (dom, sel))
        args = ['openssl', 'genpkey', '-out', path]
        args += (['-algorithm', 'ED25519'] if alg == 'ed25519' else
                 ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'])
        subprocess.run(args, check=True, stderr=subprocess.DEVNULL, timeout=60)
        os.chmod(path, 0o600)
        os.chown(path, uid, -1)
        paths[(dom, sel)] = path
    os.chown(keydir, uid, -1)
    os.chmod(keydir, 0o700)
    return paths


def rules(paths, first_sel='r1'):
    text = DEFAULT_RULES + (
        'domain ed.example customer=example\n'
        'domain dual.example customer=example\n'
        'domain gone.example customer=example\n'
        'customer other\ndomain other.example customer=other\n'
        'rule other r senders=domain auth=ip\nip other r 192.0.2.1\n'
        # foreign senders, rewritten to postmaster@<HELO domain>
        'rule example any senders=any auth=ip\nip example any 127.0.0.1\n')
    lines = [('example.com', first_sel, ''), ('ed.example', 'e1', 'alg=ed25519'),
             # Ed25519 first on purpose: RSA is signed first whatever the order
             ('dual.example', 'e2', 'alg=ed25519'), ('dual.example', 'r2', ''),
             ('other.example', 'o1', ''), ('gone.example', 'g1', '')]
    for dom, sel, opt in lines:
        text += 'dkim %s %s key=%s %s\n' % (dom, sel, paths[(dom, sel)], opt)
    return text


def message(tag, from_hdr, body=b'Hello.\r\n'):
    hdr = b''.join(b'From: ' + f.encode() + b'\r\n' for f in from_hdr)
    return (hdr + b'To: Someone <someone@example.org>\r\n'
            b'Subject: dkim ' + tag.encode() + b'\r\n'
            b'Date: Sun, 6 Dec 2026 09:00:00 +0000\r\n'
            b'Message-ID: <' + tag.encode() + b'@test>\r\n\r\n' + body)


def send(inst, msg, env_from=ENV_FROM, helo='client.example.com'):
    """Send msg; None when accepted, else the (code, text) of the refusal."""
    with smtplib.SMTP('127.0.0.1', inst.port, timeout=60) as s:
        s.ehlo(helo)
        try:
            s.sendmail(env_from, ['someone@example.org'], msg)
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error
    return None


def arrived(sink, tag, timeout=60):
    mark = b'Message-ID: <' + tag.encode() + b'@test>'
    wait_until(lambda: any(mark in m.data for m in list(sink.messages)),
               timeout)
    got = [m.data for m in list(sink.messages) if mark in m.data]
    return got[0] if got else b''


def signed_ok(v, inst, sink, name, tag, from_hdr, want, body=b'Hello.\r\n'):
    """Send, wait, verify with both verifiers; returns the arrived bytes."""
    err = send(inst, message(tag, from_hdr, body))
    check(name + ': accepted', err is None, str(err))
    data = arrived(sink, tag)
    ok, why = all_pass(v.verify(data), want) if data else (False, 'lost')
    check(name + ': both verifiers pass ' + str(want), ok, why)
    return data


def unsigned(inst, sink, name, tag, from_hdr, logpat):
    check(name + ': accepted', send(inst, message(tag, from_hdr)) is None)
    data = arrived(sink, tag)
    check(name + ': arrives unsigned', data and b'DKIM-Signature' not in data,
          data[:300])
    check(name + ': the log says why', inst.wait_log(logpat, 30), logpat)


def test_signing(v, inst, sink):
    rsa = signed_ok(v, inst, sink, 'RSA-2048', 'rsa', ['Joe <joe@example.com>'],
                    [('example.com', 'r1')])
    signed_ok(v, inst, sink, 'Ed25519', 'ed', ['joe@ed.example'],
              [('ed.example', 'e1')])
    dual = signed_ok(v, inst, sink, 'dual', 'dual', ['joe@dual.example'],
                     [('dual.example', 'r2'), ('dual.example', 'e2')],
                     body=b'.\r\n..dots\r\nline \t \r\n\r\n\r\n')
    check('dual: RSA signature on top',
          dual.startswith(b'DKIM-Signature: v=1; a=rsa-sha256'), dual[:80])
    check('signed once: one signature per key',
          rsa.count(b'DKIM-Signature:') == 1 and
          dual.count(b'DKIM-Signature:') == 2)
    check('log: dkim=signed with d= and selectors',
          inst.wait_log(r'dkim=signed d=dual\.example s=rsa:r2,ed25519:e2', 10))
    for name, old, new in (('body', b'Hello.', b'Hello!'),
                           ('From:', b'joe@example.com', b'eve@example.com')):
        bad = rsa.replace(old, new, 1)
        res = v.verify(bad)
        check('tampered %s: fails in both verifiers' % name,
              bad != rsa and not any_pass(res), str(res))


def test_unsigned(inst, sink):
    unsigned(inst, sink, 'From: of another customer', 'other',
             ['x@other.example'],
             r'dkim=unsigned: From: domain other\.example is customer other')
    unsigned(inst, sink, 'no From:', 'nofrom', [],
             r'dkim=unsigned: no From: header')
    unsigned(inst, sink, 'two From:', 'twofrom',
             ['a@example.com', 'b@example.com'],
             r'dkim=unsigned: several From: headers')
    check('envelope sender does not count: From: without a key',
          send(inst, message('nokey', ['x@example.org'])) is None and
          b'DKIM-Signature' not in arrived(sink, 'nokey'))


def test_rewritten(v, inst, sink):
    """A foreign envelope sender, rewritten to postmaster@example.com (the
    HELO names the customer): signed only when From: is in example.com."""
    for tag, frm, want in (('rw-in', 'joe@example.com', [('example.com', 'r1')]),
                           ('rw-out', 'joe@elsewhere.test', None)):
        err = send(inst, message(tag, [frm]), env_from='x@elsewhere.test',
                   helo='example.com')
        check('rewritten sender, From: %s: accepted' % frm, err is None, str(err))
        data = arrived(sink, tag)
        got = [m for m in list(sink.messages) if data and m.data == data]
        check('rewritten sender: envelope is postmaster@example.com',
              got and got[0].mail_from == 'postmaster@example.com',
              got[0].mail_from if got else 'lost')
        if want:
            ok, why = all_pass(v.verify(data), want)
            check('rewritten sender, From: in the domain: signed', ok, why)
        else:
            check('rewritten sender, From: elsewhere: unsigned',
                  data and b'DKIM-Signature' not in data)


def test_rotation(v, inst, sink, paths):
    with open(inst.path('relay.rules'), 'w') as f:
        f.write(rules(paths, first_sel='r3'))
    r = subprocess.run([os.path.join(BIN, 'makecdb'), '-d', inst.dir],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60)
    check('rotation: makecdb', r.returncode == 0, r.stdout)
    signed_ok(v, inst, sink, 'rotation: the new selector, no restart',
              'rotated', ['joe@example.com'], [('example.com', 'r3')])


def test_gone(inst, sink, paths, policy):
    os.rename(paths[('gone.example', 'g1')], paths[('gone.example', 'g1')] + '.old')
    try:
        err = send(inst, message('gone-' + policy, ['joe@gone.example']))
    finally:
        os.rename(paths[('gone.example', 'g1')] + '.old', paths[('gone.example', 'g1')])
    if policy == 'defer':
        check('key gone, dkim_fail=defer: 451 4.3.0 DKIM signing '
              'unavailable', err is not None and err[0] == 451 and
              b'4.3.0 DKIM signing unavailable' in err[1], str(err))
        check('key gone, defer: logged', inst.wait_log(r'dkim=failed: key ', 10))
    else:
        check('key gone, dkim_fail=unsigned: accepted', err is None, str(err))
        data = arrived(sink, 'gone-' + policy)
        check('key gone, unsigned: relayed unsigned',
              data and b'DKIM-Signature' not in data)
        check('key gone, unsigned: logged',
              inst.wait_log(r'dkim=unsigned: signing failed', 10))


def main():
    work = tempfile.mkdtemp(prefix='dkim-sign-')
    os.chmod(work, 0o755)
    try:
        os.mkdir(os.path.join(work, 'keys'))
        paths = make_keys(os.path.join(work, 'keys'))
        zone = {'%s._domainkey.%s' % (s, d): {'TXT': [public_record(paths[(d, s)])]}
                for d, s, _ in KEYS}
        with DnsServer(zone, work) as dns, Sink() as sink:
            v = Verifiers(dns.port, work)
            with Instance(sink=sink, rules_text=rules(paths)) as inst:
                if is_root():
                    st = os.stat(inst.path('dkim'))
                    check('DIR/dkim: relayqueue, 0700',
                          st.st_uid == pwd.getpwnam('relayqueue').pw_uid and
                          st.st_mode & 0o777 == 0o700, oct(st.st_mode))
                test_signing(v, inst, sink)
                test_unsigned(inst, sink)
                test_rewritten(v, inst, sink)
                test_rotation(v, inst, sink, paths)
                test_gone(inst, sink, paths, 'defer')
            with Instance(sink=sink, rules_text=rules(paths),
                          conf_overrides={'dkim_fail': 'unsigned'}) as inst:
                test_gone(inst, sink, paths, 'unsigned')
    finally:
        shutil.rmtree(work, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
