#!/usr/bin/python3
"""test_sink.py: the receiving server the other end-to-end tests trust.
Scripted per-recipient and per-attempt codes, per-DATA codes, STARTTLS,
AUTH (refused without, 535 on a bad password), byte-exact storage, the
connection count, and the standalone mode (sink.py --port --dir)."""
import json
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Sink, check, finish, free_port, wait_until  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def test_codes():
    with Sink(codes={'slow@x.org': [451, 451, 250], 'bad@x.org': 550},
              data_codes=[452, 250]) as s:
        seen = []
        for _ in range(3):
            c = smtplib.SMTP('127.0.0.1', s.port)
            c.ehlo('t')
            c.mail('a@b.c')
            seen.append(c.rcpt('slow@x.org')[0])
            c.quit()
        check('codes: per attempt 451, 451, then 250', seen == [451, 451, 250],
              seen)
        c = smtplib.SMTP('127.0.0.1', s.port)
        c.ehlo('t')
        c.mail('a@b.c')
        check('codes: per recipient 550', c.rcpt('bad@x.org')[0] == 550)
        c.rcpt('ok@x.org')
        check('codes: first DATA 452', c.data(b'x\r\n')[0] == 452)
        c.rset()
        body = b'Subject: s\r\n\r\n.dot\r\n\xff\xfe 8bit\r\n'
        refused = c.sendmail('a@b.c', ['ok@x.org', 'bad@x.org'], body)
        check('codes: second DATA 250, bad rcpt refused',
              list(refused) == ['bad@x.org'], refused)
        c.quit()
        check('storage: one message, byte-exact',
              s.wait_for(1, 5) and s.messages[0].data == body and
              s.messages[0].rcpts == ['ok@x.org'], s.messages)
        check('connections: 4 counted', s.connections == 4, s.connections)


def test_tls_auth(tmp):
    key, cert = os.path.join(tmp, 'k.pem'), os.path.join(tmp, 'c.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                    '-keyout', key, '-out', cert, '-days', '2', '-subj',
                    '/CN=localhost'], check=True, capture_output=True)
    with Sink(tls_cert=cert, tls_key=key, auth={'u': 'p'}) as s:
        c = smtplib.SMTP('127.0.0.1', s.port)
        c.ehlo('t')
        check('tls: STARTTLS offered', c.has_extn('starttls'))
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c.starttls(context=ctx)
        c.ehlo('t')
        try:
            c.sendmail('a@b.c', ['x@y.z'], b'x\r\n')
            refused = False
        except smtplib.SMTPException:
            refused = True
        check('auth: mail without AUTH refused', refused)
        try:
            c.login('u', 'bad')
            bad = False
        except smtplib.SMTPAuthenticationError:
            bad = True
        check('auth: bad password gets 535', bad)
        c.login('u', 'p')
        c.sendmail('a@b.c', ['x@y.z'], b'Subject: t\r\n\r\nx\r\n')
        c.quit()
        check('tls+auth: delivered, marked tls',
              s.wait_for(1, 5) and s.messages[0].tls)


def test_standalone(tmp):
    port = free_port()
    d = os.path.join(tmp, 'out')
    p = subprocess.Popen(['/usr/bin/python3', os.path.join(HERE, 'sink.py'),
                          '--port', str(port), '--dir', d],
                         stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        check('standalone: says it listens', 'listening' in line, line)
        c = smtplib.SMTP('127.0.0.1', port)
        c.sendmail('a@b.c', ['x@y.z', 'w@y.z'], b'Subject: s\r\n\r\nbody\r\n')
        c.quit()
        ok = wait_until(lambda: os.path.exists(os.path.join(d, '000001.eml')), 5)
        check('standalone: writes DIR/000001.eml', ok)
        if ok:
            with open(os.path.join(d, '000001.eml'), 'rb') as f:
                data = f.read()
            with open(os.path.join(d, '000001.json')) as f:
                env = json.load(f)
            check('standalone: bytes and envelope',
                  data == b'Subject: s\r\n\r\nbody\r\n' and
                  env['rcpts'] == ['x@y.z', 'w@y.z'], (data, env))
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            out = p.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            out = p.communicate()[0]
    check('standalone: SIGTERM stops it with a summary',
          p.returncode == 0 and '1 messages' in out, (p.returncode, out))


def main():
    with tempfile.TemporaryDirectory(prefix='relaybox-sink-') as tmp:
        test_codes()
        test_tls_auth(tmp)
        test_standalone(tmp)
    finish()


if __name__ == '__main__':
    main()
