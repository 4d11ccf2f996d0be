#!/usr/bin/python3
"""test_guide_msmtp.py: Debian's msmtp, configured and run exactly as
doc/clients/msmtp.md says (its recipes are read from the guide), sends
through relaybox: with SMTP AUTH over STARTTLS on port 587 and over
implicit TLS on port 465 under the guide's auth rules, and trusted by
address on port 25 under its ip rules.
Each message must reach the sink once and byte-exact.  A wrong password
in the same recipe must fail (msmtp exits non-zero, nothing arrives).

Needs root (the relay listens on the guide's ports 25 and 587) and
/usr/bin/msmtp; prints SKIP otherwise."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish, skip  # noqa: E402
from certs import wait_tag  # noqa: E402
from guide import GuideRelay, arrived_once, message  # noqa: E402

MSMTP = '/usr/bin/msmtp'
TO = 'someone@example.org'


def run_recipe(relay, conf_name, send_name, tag, sender, conf_extra=None):
    """Write the guide's msmtprc, run its send command on a message
    file; (CompletedProcess, message text)."""
    tmp = tempfile.mkdtemp(prefix='relaybox-msmtp-')
    rc = os.path.join(tmp, 'msmtprc')
    with open(rc, 'w') as f:
        f.write(relay.subst(relay.recipes[conf_name], conf_extra))
    os.chmod(rc, 0o600)
    msg = message(tag, sender, TO)
    with open(os.path.join(tmp, 'report.eml'), 'w') as f:
        f.write(msg)
    cmd = relay.recipes[send_name].strip().replace(
        'msmtp ', '%s -C %s ' % (MSMTP, rc), 1)
    r = subprocess.run(cmd, shell=True, cwd=tmp, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    for n in os.listdir(tmp):
        os.unlink(os.path.join(tmp, n))
    os.rmdir(tmp)
    return r, msg


def main():
    if os.geteuid() != 0 or not os.path.exists(MSMTP):
        skip('msmtp guide', 'needs root and %s' % MSMTP)
        finish()
    with GuideRelay('msmtp') as relay:
        relay.use_rules('rules-auth')
        r, msg = run_recipe(relay, 'msmtprc-auth', 'send-auth', 'msmtp-auth',
                            'app@acme.example')
        check('msmtp (AUTH, 587) exits 0', r.returncode == 0, r.stdout)
        arrived_once(relay, 'msmtp AUTH over STARTTLS', 'msmtp-auth', msg,
                     'app@acme.example', [TO], r.stdout,
                     auth='app@acme.example')

        r, msg = run_recipe(relay, 'msmtprc-smtps', 'send-auth',
                            'msmtp-smtps', 'app@acme.example')
        check('msmtp (AUTH, implicit TLS on 465) exits 0', r.returncode == 0,
              r.stdout)
        arrived_once(relay, 'msmtp AUTH over implicit TLS', 'msmtp-smtps',
                     msg, 'app@acme.example', [TO], r.stdout,
                     auth='app@acme.example',
                     timeout=60 if r.returncode == 0 else 2)
        check('relaybox logged the session on port 465',
              relay.inst.wait_log(r'connect port=465', 5))

        r, msg = run_recipe(relay, 'msmtprc-auth', 'send-auth', 'msmtp-bad',
                            'app@acme.example',
                            {'Example-Passw0rd': 'Wrong-Passw0rd'})
        check('msmtp with a wrong password fails with the relay\'s 535',
              r.returncode != 0 and '535' in r.stdout, r.stdout)
        check('nothing arrives for the wrong password',
              wait_tag(relay.sink, 'msmtp-bad', timeout=2) is None)

        relay.use_rules('rules-ip')
        r, msg = run_recipe(relay, 'msmtprc-ip', 'send-ip', 'msmtp-ip',
                            'backup@acme.example')
        check('msmtp (IP-trusted, 25) exits 0', r.returncode == 0, r.stdout)
        arrived_once(relay, 'msmtp trusted by address', 'msmtp-ip', msg,
                     'backup@acme.example', [TO], r.stdout)
    finish()


if __name__ == '__main__':
    main()
