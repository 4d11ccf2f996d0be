#!/usr/bin/python3
"""guide.py: what the client-guide tests (test_guide_*.py) share.

Each test feeds a real client the recipe its guide in doc/clients/ shows,
read from the markdown file itself so that guide and test cannot drift.
A recipe is the fenced code block right after a marker line:

    <!-- recipe: NAME -->
    ```
    ...
    ```

The relay.rules recipes carry real hashes (relayctl passwd) of the
passwords the client recipes use, so a wrong one fails the test.
The guides are written for a real site; a test swaps only these example
values for its own (subst()):
  - relay.example.net, the relay's name -> a loopback address of its own
    (127.x.y.z), where the relay listens on the guide's real ports 25, 587
    and 465; the test certificate names both;
  - 192.0.2.10, the client's address in relay.rules -> 127.0.0.1;
  - /etc/ssl/certs/ca-certificates.crt, Debian's system trust store (a
    relay with a public certificate) -> the test CA;
  - anything else a test names (its private config folder).

GuideRelay(guide) is a relay for one guide: a Sink, test certificates and
an Instance listening on ADDR:25, ADDR:587 (STARTTLS) and ADDR:465
(implicit TLS); .use_rules(recipe) compiles one of the guide's relay.rules
recipes into it (picked up without a restart).  arrived_once() checks that
a message came through exactly once, byte for byte.  Ports 25/587/465
need root, as do the MTAs: every guide test prints SKIP otherwise.
"""
import os
import random
import re
import socket
import subprocess
import time

from harness import BIN, ROOT, Instance, Sink, check, strip_trace
from certs import TestCerts

GUIDES = os.path.join(ROOT, 'doc', 'clients')
SYSTEM_CA = '/etc/ssl/certs/ca-certificates.crt'
CLIENT_IP = '192.0.2.10'
RELAY_NAME = 'relay.example.net'
_MARK = re.compile(r'^<!-- recipe: (\S+) -->\n```[^\n]*\n(.*?)^```$',
                   re.M | re.S)


def recipes(guide):
    """{name: text} of the recipes in doc/clients/<guide>.md."""
    with open(os.path.join(GUIDES, guide + '.md')) as f:
        text = f.read()
    out = {}
    for m in _MARK.finditer(text):
        if m.group(1) in out:
            raise ValueError('%s.md: recipe %s twice' % (guide, m.group(1)))
        out[m.group(1)] = m.group(2)
    return out


def _free_loopback():
    """A 127.x.y.z address whose ports 25, 587 and 465 are free."""
    for _ in range(50):
        addr = '127.%d.%d.%d' % (random.randint(1, 254),
                                 random.randint(0, 255),
                                 random.randint(2, 254))
        try:
            for port in (25, 587, 465):
                with socket.socket() as s:
                    s.bind((addr, port))
            return addr
        except OSError:
            continue
    raise RuntimeError('no free loopback address for ports 25/587/465')


class GuideRelay:
    def __init__(self, guide):
        self.guide = guide
        self.recipes = recipes(guide)
        self.addr = _free_loopback()

    def __enter__(self):
        self.certs = TestCerts(names=[RELAY_NAME, 'relaybox.test'],
                               ips=[self.addr]).__enter__()
        self.sink = Sink().__enter__()
        conf = dict(self.certs.conf())
        conf['listen'] = '%s:25 %s:587' % (self.addr, self.addr)
        conf['listen_tls'] = '%s:465' % self.addr
        first = next((t for n, t in self.recipes.items()
                      if n.startswith('rules')), '')
        self.inst = Instance(conf_overrides=conf, sink=self.sink,
                             rules_text=self.rules(first)).__enter__()
        return self

    def __exit__(self, *exc):
        self.inst.__exit__(*exc)
        self.sink.__exit__(*exc)
        self.certs.__exit__(*exc)
        return False

    def subst(self, text, extra=None):
        """The recipe text with the guide's example values made real."""
        pairs = {RELAY_NAME: self.addr, SYSTEM_CA: self.certs.ca,
                 CLIENT_IP: '127.0.0.1'}
        pairs.update(extra or {})
        for old, new in pairs.items():
            text = text.replace(old, new)
        return text

    def rules(self, text):
        return self.subst(text)

    def use_rules(self, name):
        """Compile the guide's relay.rules recipe NAME into the relay."""
        with open(self.inst.path('relay.rules'), 'w') as f:
            f.write(self.rules(self.recipes[name]))
        r = subprocess.run([os.path.join(BIN, 'makecdb'), '-d',
                            self.inst.dir], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        check('%s: makecdb compiles the guide\'s %s' % (self.guide, name),
              r.returncode == 0, r.stdout)
        time.sleep(0.1)  # rules.cdb has a new inode: the next lookup sees it


def message(tag, sender, rcpt):
    """A complete message (LF line ends, as a file on disk has them) that
    no client needs to add a header to."""
    return ('From: <%s>\nTo: <%s>\nSubject: guide test %s\n'
            'Date: Sun, 06 Dec 2026 08:00:00 +0000\n'
            'Message-ID: <%s@guide.test>\nMIME-Version: 1.0\n'
            'Content-Type: text/plain; charset=us-ascii\n\n'
            'Sent by the recipe of the guide.\n.leading dot kept\n'
            'last line\n' % (sender, rcpt, tag, tag))


def arrived_once(relay, what, tag, sent, sender, rcpts, detail='',
                 auth=None, timeout=60, body_only=False):
    """Check that the message with tag in its Message-ID (<tag@...>), or
    in its body with body_only, reached the sink once, byte-exact below
    the Received fields the client and relay added (with body_only: its
    body is sent, byte for byte), with this envelope; with auth, that
    relaybox says ESMTPSA (AUTH over TLS) and logged AUTH for that user.
    timeout: how long to wait for it (short when the client already
    failed)."""
    needle = (tag if body_only else '<%s@' % tag).encode()

    def copies():
        return [x for x in relay.sink.messages if needle in x.data]
    deadline = time.time() + timeout
    while not copies() and time.time() < deadline:
        time.sleep(0.1)
    if not check('%s: the message arrives' % what, copies(),
                 '%s\n%s' % (detail, relay.inst.log_tail(15))):
        return
    time.sleep(1)
    check('%s: exactly once' % what, len(copies()) == 1, len(copies()))
    m = copies()[0]
    got = strip_trace(m.data)
    if body_only:
        got = got.partition(b'\r\n\r\n')[2]
    want = sent.replace('\r\n', '\n').replace('\n', '\r\n').encode()
    check('%s: byte-exact' % what, got == want,
          '%r\n!=\n%r' % (got[:600], want[:600]))
    check('%s: envelope' % what,
          m.mail_from == sender and sorted(m.rcpts) == sorted(rcpts),
          (m.mail_from, m.rcpts))
    if auth:
        check('%s: AUTH over TLS (ESMTPSA)' % what,
              re.search(rb'by relaybox\.test \(relaybox\) with ESMTPSA',
                        m.data), m.data[:400])
        check('%s: relaybox logged AUTH for %s' % (what, auth),
              relay.inst.wait_log(r'AUTH ok user=%s' % re.escape(auth), 5))
    return m


# the users Exim and Sendmail are built to run as, given nobody's uid
# (65534): the private instance's folder is handed to it
NOBODY = 65534
PASSWD = ('root:x:0:0:root:/root:/bin/sh\n'
          'Debian-exim:x:65534:65534:exim:/nonexistent:/bin/false\n'
          'smmsp:x:65534:65534:sendmail:/nonexistent:/bin/false\n')
GROUP = ('root:x:0:\nDebian-exim:x:65534:\nsmmsp:x:65534:\n'
         'mail:x:65534:\n')


def unpacked_root(what):
    """The root of the Exim and Sendmail packages unpacked by
    tests/clients/fetch-debs.sh (run here: it caches), or None after a
    FAIL naming what: a test that silently did not run its client would
    pass a guide nobody tried (the archive is needed anyway, for the
    packages of conf/packages.test)."""
    r = subprocess.run([os.path.join(ROOT, 'tests/clients/fetch-debs.sh')],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=600)
    if r.returncode != 0:
        check('%s: tests/clients/fetch-debs.sh gets the packages' % what,
              False, r.stderr[-800:])
        return None
    return os.path.join(ROOT, r.stdout.strip())


def unpacked_env(root, top, relay=None):
    """The environment to run an unpacked binary in: its libraries, and
    nss_wrapper with a passwd/group of our own that has the system users
    the packages' binaries look up at start (they do not exist here) and
    a hosts file (with the relay's address: the wrapper's lookup does not
    take an address literal for a name)."""
    lib = os.path.join(root, 'usr/lib/x86_64-linux-gnu')
    env = dict(os.environ)
    env['LD_LIBRARY_PATH'] = lib + ':' + os.path.join(
        root, 'lib/x86_64-linux-gnu')
    env['LD_PRELOAD'] = os.path.join(lib, 'libnss_wrapper.so')
    # the host's own name resolves at once (Sendmail sleeps a minute when
    # its name has no address)
    hosts = '127.0.0.1 %s.client.test %s\n' % ((socket.gethostname(),) * 2)
    if relay:
        hosts += '%s %s\n' % (relay.addr, RELAY_NAME)
    for name, text in (('passwd', PASSWD), ('group', GROUP),
                       ('hosts', hosts)):
        path = os.path.join(top, name)
        with open(path, 'w') as f:
            f.write(text)
        env['NSS_WRAPPER_' + name.upper()] = path
    return env
