#!/usr/bin/python3
"""test_guide_s-nail.py: Debian's s-nail, with the resource file and the
command of doc/clients/s-nail.md (read from the guide; MAILRC names the
resource file, -:u keeps the system one out), sends a report through
relaybox: once with SMTP AUTH over STARTTLS on port 587 under the guide's
auth rules, once trusted by address on port 25 under its ip rules.
s-nail writes the header itself, so the check is: the message arrives
once, its body is the report byte for byte, and its Subject/From/To are
the ones the recipe gives.  The relay's name is not replaced by its
address here: nss_wrapper (from tests/clients/fetch-debs.sh) resolves
relay.example.net, and s-nail checks that name in the certificate.

Needs root (the relay on the guide's ports 25 and 587) and
/usr/bin/s-nail; prints SKIP otherwise."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish, skip  # noqa: E402
from guide import (GuideRelay, RELAY_NAME, arrived_once,  # noqa: E402
                   unpacked_env, unpacked_root)

SNAIL = '/usr/bin/s-nail'
TO = 'someone@example.org'


def run(relay, root, rules, mailrc, send, sender, auth):
    relay.use_rules(rules)
    tmp = tempfile.mkdtemp(prefix='relaybox-s-nail-')
    try:
        rc = os.path.join(tmp, 'mailrc')
        with open(rc, 'w') as f:
            # the relay's name stays: s-nail checks it in the certificate
            # and finds its address in nss_wrapper's hosts file
            f.write(relay.subst(relay.recipes[mailrc],
                                {RELAY_NAME: RELAY_NAME}))
        os.chmod(rc, 0o600)
        tag = 'report-' + mailrc
        report = ('%s: the nightly backup finished.\n'
                  '.a line with a leading dot\n\nlast line\n' % tag)
        with open(os.path.join(tmp, 'report.txt'), 'w') as f:
            f.write(report)
        cmd = relay.recipes[send].strip().replace('s-nail ', SNAIL + ' -:u ',
                                                  1)
        env = dict(unpacked_env(root, tmp, relay), MAILRC=rc, HOME=tmp)
        r = subprocess.run(cmd, shell=True, cwd=tmp, env=env, text=True,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        check('s-nail %s exits 0' % mailrc, r.returncode == 0, r.stdout)
        m = arrived_once(relay, 's-nail %s' % mailrc, tag, report, sender,
                         [TO], r.stdout, auth=auth, body_only=True,
                         timeout=60 if r.returncode == 0 else 2)
        if m:
            head = m.data.partition(b'\r\n\r\n')[0]
            for field in (b'Subject: nightly backup', b'From: ' +
                          sender.encode(), b'To: ' + TO.encode()):
                check('s-nail %s: %s' % (mailrc, field.decode()),
                      b'\r\n' + field + b'\r\n' in head, head)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if os.geteuid() != 0 or not os.path.exists(SNAIL):
        skip('s-nail guide', 'needs root and %s' % SNAIL)
        finish()
    root = unpacked_root('s-nail guide')
    if root is None:
        finish()
    with GuideRelay('s-nail') as relay:
        run(relay, root, 'rules-auth', 'mailrc-auth', 'send-auth',
            'app@acme.example', 'app@acme.example')
        run(relay, root, 'rules-ip', 'mailrc-ip', 'send-ip',
            'backup@acme.example', None)
    finish()


if __name__ == '__main__':
    main()
