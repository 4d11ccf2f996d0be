#!/usr/bin/python3
"""certs.py: a throw-away test CA and a server certificate signed by it,
made with the openssl CLI in a fresh temporary directory.

    from certs import TestCerts
    with TestCerts(names=['relaybox.test']) as c:
        c.ca, c.cert, c.key, c.dir        # PEM file paths
        c.client_context()                # ssl.SSLContext trusting c.ca
        Instance(conf_overrides=c.conf()) # tls_cert / tls_key settings

The server certificate carries every name in `names` and every address in
`ips` as subjectAltName.  The directory is 0755 and the key 0600, owned
by whoever runs the tests (root reads it: relay-master hands it to
relay-smtpd), or by key_owner when given.  Everything is removed on exit unless KEEP=1.

Also two helpers the TLS/AUTH tests share: check() (harness.check with a
non-text detail, such as a reply tuple, shown by repr) and wait_tag()
(the sink message whose Message-ID is <tag@...>).
"""
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import time

import harness


class TestCerts:
    def __init__(self, names=('relaybox.test', 'localhost'),
                 ips=('127.0.0.1', '::1'), key_owner=None):
        self.names = list(names)
        self.ips = list(ips)
        self.key_owner = key_owner
        self.dir = None

    def _openssl(self, *args):
        r = subprocess.run(['openssl'] + list(args), cwd=self.dir,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError('openssl %s failed: %s' % (args[0], r.stdout))

    def make(self):
        self.dir = tempfile.mkdtemp(prefix='relaybox-certs-')
        os.chmod(self.dir, 0o755)
        self.ca = os.path.join(self.dir, 'ca.pem')
        self.cert = os.path.join(self.dir, 'cert.pem')
        self.key = os.path.join(self.dir, 'key.pem')
        san = ['DNS:%s' % n for n in self.names] + \
              ['IP:%s' % i for i in self.ips]
        with open(os.path.join(self.dir, 'ext.cnf'), 'w') as f:
            f.write('basicConstraints=CA:FALSE\n'
                    'keyUsage=digitalSignature,keyEncipherment\n'
                    'extendedKeyUsage=serverAuth\n'
                    'subjectAltName=%s\n' % ','.join(san))
        self._openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                      '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
                      '-subj', '/CN=relaybox test CA')
        self._openssl('req', '-newkey', 'rsa:2048', '-nodes',
                      '-keyout', 'key.pem', '-out', 'req.pem',
                      '-subj', '/CN=%s' % (self.names[0] if self.names
                                           else 'relaybox.test'))
        self._openssl('x509', '-req', '-in', 'req.pem', '-CA', 'ca.pem',
                      '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
                      '-extfile', 'ext.cnf', '-out', 'cert.pem')
        os.chmod(self.key, 0o600)
        os.chmod(os.path.join(self.dir, 'ca.key'), 0o600)
        for p in (self.ca, self.cert):
            os.chmod(p, 0o644)
        if os.geteuid() == 0 and self.key_owner:
            try:
                pw = pwd.getpwnam(self.key_owner)
                os.chown(self.key, pw.pw_uid, pw.pw_gid)
            except KeyError:
                pass
        return self

    def conf(self):
        """relay.conf settings that make the relay serve this certificate."""
        return {'tls_cert': self.cert, 'tls_key': self.key}

    def client_context(self, check_hostname=True):
        """An ssl.SSLContext that trusts only this CA."""
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.check_hostname = check_hostname
        return ctx

    def remove(self):
        if self.dir and not os.environ.get('KEEP'):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        try:
            return self.make()
        except BaseException:
            self.remove()
            raise

    def __exit__(self, *exc):
        self.remove()
        return False


def check(name, cond, detail=''):
    """harness.check, with any detail (a reply tuple) shown by repr."""
    if not isinstance(detail, str):
        detail = repr(detail)
    return harness.check(name, cond, detail)


def run_steps(*steps):
    """Run each step (a function of no arguments); an exception fails
    that step as a check and the next one still runs."""
    for t in steps:
        try:
            t()
        except Exception as e:
            check('step ran without exception', False,
                  '%s: %r' % (type(e).__name__, e))


def wait_tag(sink, tag, timeout=60):
    """The message at the sink whose Message-ID is <tag@...>, or None."""
    needle = ('Message-ID: <%s@' % tag).encode()
    deadline = time.time() + timeout
    while True:
        for m in list(sink.messages):
            if needle in m.data:
                return m
        if time.time() >= deadline:
            return None
        time.sleep(0.1)
