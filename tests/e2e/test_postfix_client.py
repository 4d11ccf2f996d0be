#!/usr/bin/python3
"""test_postfix_client.py: a real Postfix uses relaybox as its smarthost,
the way a customer's mail server would: STARTTLS required
(smtp_tls_security_level = encrypt) and SMTP AUTH with a password from
smtp_sasl_password_maps.  The relay's only rule is auth=smtp, so nothing
gets through unless Postfix really authenticated over TLS.

The Postfix instance is private: its own config_directory, queue_directory
and data_directory under a temporary directory, its smtpd on 127.0.0.1 and
a free port, started with `postfix -c DIR start` and always stopped with
`postfix -c DIR stop` (then its master's pid is killed if still there).
Mail is injected both with `sendmail -C DIR` and over SMTP to the Postfix
smtpd; both must arrive at the sink through relaybox, with relaybox's
Received header saying ESMTPSA and the TLS cipher.  Then a second Postfix
configuration with a wrong password must not deliver: the relay's 535
appears in Postfix's log and the message stays deferred.

Needs root (Postfix's master runs as root) and /usr/sbin/postfix; it
prints SKIP otherwise."""
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, finish, free_port, skip  # noqa: E402
from certs import TestCerts, check, wait_tag  # noqa: E402
from test_auth import make_hash  # noqa: E402

USER = 'exchange@acme.example'
PASS = 'pf-S3cret pass'
TO = 'someone@example.org'
POSTFIX = '/usr/sbin/postfix'
SENDMAIL = '/usr/sbin/sendmail'

MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
config_directory = {top}/etc
queue_directory = {top}/spool
data_directory = {top}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = {top}
maillog_file = {top}/maillog
myhostname = postfix-client.test
mydomain = acme.example
myorigin = acme.example
mydestination =
local_transport = error:5.1.1 no local delivery here
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtp_tls_loglevel = 1
smtputf8_enable = no
biff = no
delay_warning_time = 0
queue_run_delay = 5s
minimal_backoff_time = 5s
maximum_backoff_time = 10s
"""

# how this test points Postfix at relaybox (test_guide_postfix.py uses
# the guide's lines instead)
RELAY_CF = """\
relayhost = [127.0.0.1]:{relay_port}
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = texthash:{top}/etc/sasl_passwd
smtp_sasl_security_options = noanonymous
smtp_sasl_tls_security_options = noanonymous
smtp_tls_security_level = encrypt
smtp_tls_CAfile = {ca}
"""


class PrivatePostfix:
    """One Postfix instance in a temporary directory; relay_cf (default
    RELAY_CF) is the part of main.cf that says where mail goes, with
    {top} and {etc} replaced."""

    def __init__(self, relay_port, ca, password, relay_cf=RELAY_CF):
        self.top = tempfile.mkdtemp(prefix='relaybox-postfix-')
        os.chmod(self.top, 0o755)
        self.etc = os.path.join(self.top, 'etc')
        self.port = free_port()
        os.makedirs(self.etc)
        for d in ('spool', 'data'):
            os.makedirs(os.path.join(self.top, d))
        shutil.chown(os.path.join(self.top, 'data'), 'postfix', 'postfix')
        with open(os.path.join(self.etc, 'main.cf'), 'w') as f:
            f.write(MAIN_CF.format(top=self.top))
            f.write(relay_cf.replace('{top}', self.top)
                    .replace('{etc}', self.etc)
                    .replace('{relay_port}', str(relay_port))
                    .replace('{ca}', ca))
        with open(os.path.join(self.etc, 'master.cf'), 'w') as f:
            f.write(MASTER_CF.format(listen='127.0.0.1:%d' % self.port))
        pw = os.path.join(self.etc, 'sasl_passwd')
        with open(pw, 'w') as f:
            f.write('[127.0.0.1]:%d %s:%s\n' % (relay_port, USER, password))
        os.chmod(pw, 0o600)
        self.started = False

    def run(self, *args, timeout=60):
        return subprocess.run([POSTFIX, '-c', self.etc] + list(args),
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              timeout=timeout)

    def start(self):
        r = self.run('start')
        self.started = r.returncode == 0
        deadline = time.time() + 30
        while self.started and time.time() < deadline:
            if self.master_pid():
                break
            time.sleep(0.2)
        return r

    def master_pid(self):
        try:
            with open(os.path.join(self.top, 'spool/pid/master.pid')) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        pid = self.master_pid()
        if self.started:
            self.run('stop')
        deadline = time.time() + 15
        while pid and time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            if pid:  # still there after "postfix stop": only our master
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def log(self):
        try:
            with open(os.path.join(self.top, 'maillog'), errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def queue_ids(self):
        r = subprocess.run(['/usr/sbin/postqueue', '-c', self.etc, '-j'],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        return re.findall(r'"queue_id": *"([0-9A-Za-z]+)"', r.stdout)

    def flush(self):
        subprocess.run(['/usr/sbin/postqueue', '-c', self.etc, '-f'],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30)

    def remove(self):
        if not os.environ.get('KEEP'):
            shutil.rmtree(self.top, ignore_errors=True)


def msg(tag):
    return ('From: Exchange <%s>\r\nTo: <%s>\r\nSubject: %s\r\n'
            'Message-ID: <%s@postfix.test>\r\n\r\nvia Postfix\r\n'
            % (USER, TO, tag, tag))




def inject(pf, tag):
    """sendmail -C DIR (the pickup path) for tag-sendmail, SMTP to the
    Postfix smtpd for tag-smtp."""
    r = subprocess.run([SENDMAIL, '-C', pf.etc, '-f', USER, '-i', TO],
                       input=msg(tag + '-sendmail').replace('\r\n', '\n'),
                       text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    check('%s: sendmail -C accepted' % tag, r.returncode == 0, r.stdout)
    with smtplib.SMTP('127.0.0.1', pf.port, timeout=60) as c:
        c.sendmail(USER, [TO], msg(tag + '-smtp'))
    check('%s: Postfix smtpd accepted the SMTP injection' % tag, True)


def test_good(inst, sink, ca):
    pf = PrivatePostfix(inst.port, ca, PASS)
    try:
        r = pf.start()
        if not check('postfix -c DIR start', pf.started and pf.master_pid(),
                     r.stdout + pf.log()[-2000:]):
            return
        inject(pf, 'pf')
        for how in ('sendmail', 'smtp'):
            m = wait_tag(sink, 'pf-' + how)
            check('Postfix (%s injection) relays through relaybox to the sink'
                  % how, m is not None, pf.log()[-1500:])
            if m:
                check('Received by relaybox: ESMTPSA with TLS version and '
                      'cipher (%s)' % how,
                      re.search(rb'by relaybox\.test \(relaybox\) with ESMTPSA '
                                rb'\(TLSv1\.[23] \S+ \d+\)', m.data),
                      m.data[:500])
                check('envelope sender kept (%s)' % how,
                      m.mail_from == USER, m.mail_from)
        log = pf.log()
        check('Postfix log: TLS to relaybox', re.search(
            r'(Trusted|Untrusted|Verified|Anonymous) TLS connection '
            r'established to 127\.0\.0\.1', log), log[-1500:])
        check('Postfix log: status=sent via 127.0.0.1',
              re.search(r'relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+.*status=sent',
                        log), log[-1500:])
        check('relaybox log: AUTH ok for the Postfix account',
              inst.wait_log(r'AUTH ok user=%s' % re.escape(USER), 5))
    finally:
        pf.stop()
        pf.remove()


def test_wrong_password(inst, sink, ca):
    pf = PrivatePostfix(inst.port, ca, PASS + 'x')
    try:
        pf.start()
        if not check('second Postfix (wrong password) starts',
                     pf.started and pf.master_pid(), pf.log()[-1000:]):
            return
        with smtplib.SMTP('127.0.0.1', pf.port, timeout=60) as c:
            c.sendmail(USER, [TO], msg('pf-wrongpw'))
        deadline = time.time() + 60
        while time.time() < deadline and '535' not in pf.log():
            time.sleep(0.3)
        log = pf.log()
        check('wrong password: Postfix sees 535 5.7.8 from relaybox',
              re.search(r'535 5\.7\.8', log), log[-1500:])
        check('wrong password: message not delivered, still queued',
              wait_tag(sink, 'pf-wrongpw', timeout=3) is None and
              len(pf.queue_ids()) == 1, pf.queue_ids())
    finally:
        pf.stop()
        pf.remove()


def main():
    if os.geteuid() != 0 or not os.path.exists(POSTFIX):
        skip('postfix client', 'needs root and %s' % POSTFIX)
        finish()
    rules = ('customer acme licenses=10 paid=yes\n'
             'domain acme.example customer=acme\n'
             'user %s hash=%s customer=acme\n'
             'rule acme exchange senders=registered auth=smtp\n'
             % (USER, make_hash(PASS)))
    with TestCerts() as certs, Sink() as sink:
        with Instance(conf_overrides=certs.conf(), rules_text=rules,
                      sink=sink) as inst:
            for t in (lambda: test_good(inst, sink, certs.ca),
                      lambda: test_wrong_password(inst, sink, certs.ca)):
                try:
                    t()
                except Exception as e:
                    check('step ran without exception', False,
                          '%s: %r' % (type(e).__name__, e))
    finish()


if __name__ == '__main__':
    main()
