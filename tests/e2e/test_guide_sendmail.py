#!/usr/bin/python3
"""test_guide_sendmail.py: Debian's Sendmail, unpacked beside Postfix by
tests/clients/fetch-debs.sh (not installed: it conflicts with Postfix as
the system MTA), relays through relaybox with the configuration of
doc/clients/sendmail.md: the guide's .mc lines (read from the guide) go
into an .mc of the test's own (its queue and files in a temporary
folder), and the guide's commands (makemap, m4 with the unpacked cf/
files) build the authinfo map and sendmail.cf.  Then
`sendmail -C sendmail.cf -odi -f SENDER RCPT` delivers at once:
  - AUTH over STARTTLS on port 587 with the authinfo password;
  - trusted by address on port 25.
Each message must reach the sink once and byte-exact.

Needs root (the relay on ports 25/587) and the Debian archive the first
time; prints SKIP otherwise."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish, skip  # noqa: E402
from guide import (GuideRelay, NOBODY, arrived_once, message,  # noqa: E402
                   unpacked_env, unpacked_root)

TO = 'someone@example.org'
# the test's own .mc around the guide's lines: files in {top}, no
# complaints about /tmp's permissions, local mail never used, and no
# load average at which Sendmail queues instead of sending (by default
# 8 per CPU: a shared test machine gets there)
MC_HEAD = """\
divert(-1)dnl
divert(0)dnl
OSTYPE(`linux')dnl
define(`confDONT_BLAME_SENDMAIL', `GroupWritableDirPathSafe,GroupReadableKeyFile,MapInUnsafeDirPath')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confDOMAIN_NAME', `sendmail-client.test')dnl
define(`QUEUE_DIR', `{top}/mqueue')dnl
define(`STATUS_FILE', `{top}/statistics')dnl
define(`confPID_FILE', `{top}/sendmail.pid')dnl
define(`ALIAS_FILE', `{top}/aliases')dnl
define(`confHOST_STATUS_DIRECTORY', `')dnl
define(`confLOG_LEVEL', `15')dnl
define(`confQUEUE_LA', `10000')dnl
define(`confREFUSE_LA', `10000')dnl
"""
MC_TAIL = "MAILER(`local')dnl\nMAILER(`smtp')dnl\n"


def build(relay, root, top, mc, commands):
    """Write the .mc and authinfo, run the guide's commands with the
    unpacked makemap and m4; the path of sendmail.cf."""
    paths = {'/etc/mail/': top + '/',
             '/usr/share/sendmail/': root + '/usr/share/sendmail/'}
    with open(os.path.join(top, 'sendmail.mc'), 'w') as f:
        f.write(MC_HEAD.format(top=top))
        f.write(relay.subst(relay.recipes[mc], paths))
        f.write(MC_TAIL)
    if 'authinfo' in relay.recipes[commands]:
        with open(os.path.join(top, 'authinfo'), 'w') as f:
            f.write(relay.subst(relay.recipes['authinfo']))
        os.chmod(os.path.join(top, 'authinfo'), 0o600)
    tools = {'makemap': root + '/usr/sbin/makemap',
             'm4': root + '/usr/bin/m4'}
    for line in relay.recipes[commands].splitlines():
        word, _, rest = relay.subst(line, paths).partition(' ')
        if word == 'makemap':  # its settings from our sendmail.cf
            rest = '-C %s/sendmail.cf %s' % (top, rest)
        r = subprocess.run('%s %s' % (tools[word], rest), shell=True,
                           cwd=top, env=unpacked_env(root, top, relay), text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        check('guide command: %s' % line, r.returncode == 0, r.stdout)
    return os.path.join(top, 'sendmail.cf')


def run(relay, root, rules, mc, commands, sender, auth):
    relay.use_rules(rules)
    top = tempfile.mkdtemp(prefix='relaybox-sendmail-')
    try:
        os.makedirs(os.path.join(top, 'mqueue'), 0o700)
        open(os.path.join(top, 'aliases'), 'w').close()
        cf = build(relay, root, top, mc, commands)
        tag = 'sendmail-' + mc
        msg = message(tag, sender, TO)
        r = subprocess.run([root + '/usr/libexec/sendmail/sendmail', '-C',
                            cf, '-odi', '-oi', '-v', '-f', sender, TO],
                           input=msg, text=True,
                           env=unpacked_env(root, top, relay),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        check('%s: sendmail delivers' % mc, r.returncode == 0, r.stdout)
        arrived_once(relay, 'Sendmail %s' % mc, tag, msg, sender, [TO],
                     r.stdout[-2000:], auth=auth,
                     timeout=60 if r.returncode == 0 else 2)
    finally:
        if not os.environ.get('KEEP'):
            shutil.rmtree(top, ignore_errors=True)


def main():
    if os.geteuid() != 0:
        skip('sendmail guide', 'needs root')
        finish()
    root = unpacked_root('sendmail guide')
    if root is None:
        finish()
    with GuideRelay('sendmail') as relay:
        run(relay, root, 'rules-auth', 'mc-auth', 'commands-auth',
            'mailer@acme.example', 'mailer@acme.example')
        run(relay, root, 'rules-ip', 'mc-ip', 'commands-ip',
            'backup@acme.example', None)
    finish()


if __name__ == '__main__':
    main()
