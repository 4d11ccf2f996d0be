#!/usr/bin/python3
"""test_guide_exim.py: Debian's Exim 4, unpacked beside Postfix by
tests/clients/fetch-debs.sh (not installed: it conflicts with Postfix as
the system MTA), runs with a private configuration -- a main section of
the test's own (its spool and log folders) followed by the router,
transport and authenticator of doc/clients/exim.md, read from the guide
-- and relays through relaybox:
  - AUTH over STARTTLS on port 587, the certificate verified;
  - trusted by address on port 25.
Each message, submitted with `exim -C CONF -odq -f SENDER RCPT` and sent
by a queue run `exim -C CONF -qff`, must reach the sink once and
byte-exact.  Exim sends with BDAT when CHUNKING is offered (its
hosts_try_chunking defaults to all hosts): the relay's log line and
Exim's K flag say it did.

Needs root (the relay on ports 25/587; Exim keeps its uid when run by
root) and the Debian archive the first time; prints SKIP otherwise."""
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
MAIN = """\
# the test's own main section: everything in a temporary folder
primary_hostname = exim-client.test
domainlist local_domains = @
spool_directory = {top}/spool
log_file_path = {top}/log/%slog
keep_environment = LD_LIBRARY_PATH : LD_PRELOAD : NSS_WRAPPER_PASSWD : \\
                   NSS_WRAPPER_GROUP

"""
def run(relay, root, rules, recipe, sender, auth):
    relay.use_rules(rules)
    top = tempfile.mkdtemp(prefix='relaybox-exim-')
    os.chown(top, NOBODY, NOBODY)
    exim = os.path.join(root, 'usr/sbin/exim4')
    try:
        conf = os.path.join(top, 'exim.conf')
        with open(conf, 'w') as f:
            f.write(MAIN.format(top=top))
            f.write(relay.subst(relay.recipes[recipe]))
        tag = 'exim-' + recipe
        msg = message(tag, sender, TO)
        env = unpacked_env(root, top, relay)
        r = subprocess.run([exim, '-C', conf, '-odq', '-f', sender, '-i',
                            TO], input=msg, text=True, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        check('%s: exim queues the message' % recipe, r.returncode == 0,
              r.stdout)
        # one queue run in this process tree: an exim that re-executes
        # itself (-odi, the daemon) would lose LD_PRELOAD and the wrapper
        q = subprocess.run([exim, '-C', conf, '-qff'], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        r.stdout += q.stdout
        log = ''
        try:
            with open(os.path.join(top, 'log/mainlog')) as f:
                log = f.read()
        except OSError:
            pass
        arrived_once(relay, 'Exim %s' % recipe, tag, msg, sender, [TO],
                     r.stdout + log[-1500:], auth=auth)
        check('%s: Exim logged the delivery to the relay' % recipe,
              ' => %s' % TO in log and relay.addr in log, log[-1500:])
        # K: "the message was sent with CHUNKING" in Exim's log line
        check('%s: Exim sent it with BDAT (K, and the relay counted '
              'chunks)' % recipe, any(' => %s' % TO in l and ' K ' in l
                                      for l in log.splitlines()) and
              any('bdat=' in l and 'result=queued' in l and sender in l
                  for l in relay.inst.log().splitlines()), log[-800:])
    finally:
        if not os.environ.get('KEEP'):
            shutil.rmtree(top, ignore_errors=True)


def main():
    if os.geteuid() != 0:
        skip('exim guide', 'needs root')
        finish()
    root = unpacked_root('exim guide')
    if root is None:
        finish()
    with GuideRelay('exim') as relay:
        run(relay, root, 'rules-auth', 'exim-auth', 'mailer@acme.example',
            'mailer@acme.example')
        run(relay, root, 'rules-ip', 'exim-ip', 'backup@acme.example', None)
    finish()


if __name__ == '__main__':
    main()
