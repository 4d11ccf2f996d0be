#!/usr/bin/python3
"""test_tls_rootkey.py: the certificate and key kept as Let's Encrypt
keeps them (as root): files 0600 root in 0700 folders, reached through
symbolic links (live/ -> archive/, and the relay's own tls/ -> live/).

Shows: the relay user cannot read the key, yet STARTTLS and implicit TLS
(port 465) serve the certificate and a message relayed over each
arrives; a renewal made the way certbot makes it (new files in
archive/, the live/ links switched) is served to the next connection
after relayctl reload (and not before: no reload, no change), and after a
plain SIGHUP (systemctl reload) too; a broken key at a reload is one log
line, relayctl reload exits 1 and the certificate already served stays;
a relay started with a key it cannot read (the link leads nowhere)
answers STARTTLS with 454 4.7.0 and closes port 465, with one log line
however many clients try, and serves again once the key is back and
relayctl reload ran.  Needs root (the daemons' own uids)."""
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Raw, Sink, finish, free_port,  # noqa: E402
                     is_root, skip, wait_until)
from certs import check  # noqa: E402  (any detail, shown by repr)

NAME = 'relay.test'


def make_cert(d, n):
    """archive/<NAME>/fullchain<n>.pem and privkey<n>.pem (0600 root)."""
    cert = os.path.join(d, 'fullchain%d.pem' % n)
    key = os.path.join(d, 'privkey%d.pem' % n)
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec',
                    '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                    '-keyout', key, '-out', cert, '-days', '2',
                    '-subj', '/CN=%s %d' % (NAME, n)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=60)
    os.chmod(key, 0o600)
    os.chmod(cert, 0o644)
    with open(cert) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def switch(live, n):
    """Point live/<NAME>/{fullchain,privkey}.pem at generation n, each by
    a rename over the old link (as certbot does)."""
    for base in ('fullchain', 'privkey'):
        tmp = os.path.join(live, base + '.pem.new')
        os.symlink('../../archive/%s/%s%d.pem' % (NAME, base, n), tmp)
        os.rename(tmp, os.path.join(live, base + '.pem'))


def layout(top):
    """The certbot tree under top; returns (live dir, archive dir, the
    relay's tls/ dir with links into live/)."""
    le = os.path.join(top, 'letsencrypt')
    live = os.path.join(le, 'live', NAME)
    archive = os.path.join(le, 'archive', NAME)
    for d in (live, archive):
        os.makedirs(d)
    for d in (os.path.join(le, 'live'), os.path.join(le, 'archive')):
        os.chmod(d, 0o700)
    tls = os.path.join(top, 'tls')
    os.mkdir(tls, 0o750)
    for base in ('fullchain', 'privkey'):
        os.symlink(os.path.join(live, base + '.pem'),
                   os.path.join(tls, base + '.pem'))
    return live, archive, tls


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def starttls_der(port):
    """The certificate STARTTLS serves (None when refused), and the reply."""
    with smtplib.SMTP('127.0.0.1', port, timeout=30) as c:
        c.ehlo('client.example.com')
        code, text = c.docmd('STARTTLS')
        if code != 220:
            return None, (code, text)
        c.sock = tls_ctx().wrap_socket(c.sock, server_hostname=NAME)
        c.file = None
        der = c.sock.getpeercert(binary_form=True)
        c.ehlo('client.example.com')
        return der, (code, text)


def implicit_der(port):
    """The certificate port 465 serves, or None when it has none."""
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=30) as s:
            with tls_ctx().wrap_socket(s, server_hostname=NAME) as t:
                return t.getpeercert(binary_form=True)
    except (ssl.SSLError, OSError):
        return None


def send(port, implicit, tag, sink):
    msg = ('From: <a@example.com>\r\nTo: <b@example.org>\r\n'
           'Subject: %s\r\nMessage-ID: <%s@example.com>\r\n\r\nbody\r\n'
           % (tag, tag)).encode()
    try:
        if implicit:
            c = smtplib.SMTP_SSL('127.0.0.1', port, timeout=30,
                                 context=tls_ctx())
        else:
            c = smtplib.SMTP('127.0.0.1', port, timeout=30)
            c.starttls(context=tls_ctx())
        with c:
            c.sendmail('a@example.com', ['b@example.org'], msg)
    except (smtplib.SMTPException, OSError):
        return False
    return wait_until(lambda: any(tag.encode() in m.data
                                  for m in sink.messages), 30)


def key_lines(inst, path):
    return [l for l in inst.log().splitlines() if path in l and
            ('warning' in l or 'fatal' in l)]


def test_served(inst, tport, sink, der1, key):
    r = subprocess.run(['setpriv', '--reuid=relaysmtpd', '--regid=relaysmtpd',
                        '--clear-groups', 'cat', key],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    check('the relay user cannot read the key (0600 root, 0700 folders)',
          r.returncode != 0)
    der, reply = starttls_der(inst.port)
    check('STARTTLS serves the root-only certificate', der == der1, reply)
    check('port 465 serves it', implicit_der(tport) == der1)
    check('a message over STARTTLS arrives', send(inst.port, False, 'st1', sink))
    check('a message over port 465 arrives', send(tport, True, 'im1', sink))


def test_renewal(inst, tport, live, archive, tls, der1):
    der2 = make_cert(archive, 2)
    switch(live, 2)
    check('renewed on disk, no reload: still the old certificate',
          starttls_der(inst.port)[0] == der1)
    r = inst.relayctl('reload')
    check('relayctl reload: exit 0, says what it serves',
          r.returncode == 0 and 'serving' in r.stdout and
          os.path.join(tls, 'fullchain.pem') in r.stdout,
          (r.returncode, r.stdout, r.stderr))
    check('after relayctl reload: STARTTLS serves the renewed certificate',
          starttls_der(inst.port)[0] == der2)
    check('after relayctl reload: port 465 too', implicit_der(tport) == der2)
    der3 = make_cert(archive, 3)
    switch(live, 3)
    served = inst.log().count('tls: serving')
    with open(inst.path('run/master.pid')) as f:
        os.kill(int(f.read()), signal.SIGHUP)
    check('SIGHUP (systemctl reload) loads it too',
          wait_until(lambda: inst.log().count('tls: serving') > served, 10))
    check('after SIGHUP: the next connection gets it',
          starttls_der(inst.port)[0] == der3)
    return der3


def test_broken_reload(inst, tport, live, archive, der3):
    with open(os.path.join(archive, 'privkey4.pem'), 'w') as f:
        f.write('-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n')
    os.chmod(os.path.join(archive, 'privkey4.pem'), 0o600)
    shutil.copy(os.path.join(archive, 'fullchain3.pem'),
                os.path.join(archive, 'fullchain4.pem'))
    switch(live, 4)
    before = len(key_lines(inst, 'privkey.pem'))
    r = inst.relayctl('reload')
    check('broken key at reload: relayctl reload exits 1 with the reason',
          r.returncode == 1 and 'privkey.pem' in r.stdout and
          'still serving' in r.stdout, (r.returncode, r.stdout))
    for _ in range(3):
        der, _ = starttls_der(inst.port)
    check('broken key at reload: the certificate served before stays',
          der == der3 and implicit_der(tport) == der3)
    lines = key_lines(inst, 'privkey.pem')
    check('broken key at reload: one log line', len(lines) == before + 1,
          '\n'.join(lines))


def test_unreadable_start(sink, live, tls, top):
    """A relay started while the key link leads nowhere."""
    tport = free_port()
    os.unlink(os.path.join(live, 'privkey.pem'))
    os.symlink('../../archive/%s/privkey-gone.pem' % NAME,
               os.path.join(live, 'privkey.pem'))
    conf = {'tls_cert': os.path.join(tls, 'fullchain.pem'),
            'tls_key': os.path.join(tls, 'privkey.pem'),
            'listen_tls': '127.0.0.1:%d' % tport}
    with Instance(conf_overrides=conf, sink=sink) as inst:
        replies = []
        for _ in range(3):
            r = Raw(inst.port)
            r.reply()
            r.cmd(b'EHLO client.example.com\r\n')
            replies.append(r.cmd(b'STARTTLS\r\n'))
            code, _ = r.cmd(b'NOOP\r\n')
            r.close()
        check('unreadable key: STARTTLS 454 4.7.0, the session goes on',
              all(c == 454 and l[0].startswith('4.7.0') for c, l in replies)
              and code == 250, replies)
        check('unreadable key: port 465 closes without a handshake',
              implicit_der(tport) is None)
        lines = key_lines(inst, 'privkey.pem')
        check('unreadable key: exactly one log line, from relay-master, '
              'naming the key and the reason',
              len(lines) == 1 and 'relay-master' in lines[0] and
              'No such file' in lines[0] and '454' in lines[0],
              '\n'.join(lines))
        switch(live, 3)
        r = inst.relayctl('reload')
        der, _ = starttls_der(inst.port)
        check('key back + relayctl reload: STARTTLS works again',
              r.returncode == 0 and der is not None, (r.stdout, r.stderr))


def main():
    if not is_root():
        skip('tls root key', 'needs root')
        finish()
        return
    top = tempfile.mkdtemp(prefix='relaybox-rootkey-')
    os.chmod(top, 0o755)
    try:
        live, archive, tls = layout(top)
        der1 = make_cert(archive, 1)
        switch(live, 1)
        tport = free_port()
        conf = {'tls_cert': os.path.join(tls, 'fullchain.pem'),
                'tls_key': os.path.join(tls, 'privkey.pem'),
                'listen_tls': '127.0.0.1:%d' % tport}
        with Sink() as sink:
            with Instance(conf_overrides=conf, sink=sink) as inst:
                test_served(inst, tport, sink, der1,
                            os.path.join(tls, 'privkey.pem'))
                der3 = test_renewal(inst, tport, live, archive, tls, der1)
                test_broken_reload(inst, tport, live, archive, der3)
            test_unreadable_start(sink, live, tls, top)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
