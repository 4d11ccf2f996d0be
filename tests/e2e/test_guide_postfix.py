#!/usr/bin/python3
"""test_guide_postfix.py: a private Postfix configured with the main.cf
lines, map files and postmap commands of doc/clients/postfix.md (read
from the guide) relays through relaybox, under the guide's relay.rules:
  - AUTH over STARTTLS to [relay]:587 with sasl_passwd;
  - trusted by address to [relay] (port 25);
  - sender_dependent_relayhost_maps with per-sender accounts: a message
    from each customer's domain logs in as that customer's user.
Each message, injected with `sendmail -C DIR`, must reach the sink once
and byte-exact.  The private instance is test_postfix_client.py's
PrivatePostfix (its own config, queue and data directories).

Needs root (Postfix's master; the relay on ports 25/587) and
/usr/sbin/postfix; prints SKIP otherwise."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, finish, skip  # noqa: E402
from guide import GuideRelay, arrived_once, message  # noqa: E402
from test_postfix_client import POSTFIX, SENDMAIL, PrivatePostfix  # noqa

TO = 'someone@example.org'
MAPS = {'sasl_passwd': 'sasl_passwd', 'sender_relay': 'sender_relay',
        'sasl_passwd-per-sender': 'sasl_passwd'}


def setup(relay, main, maps, commands):
    """A PrivatePostfix with the guide's main.cf recipe, its map files
    in the private config folder and its postmap commands run there."""
    to_etc = {'/etc/postfix/': '{etc}/'}
    pf = PrivatePostfix(0, relay.certs.ca, '',
                        relay_cf=relay.subst(relay.recipes[main], to_etc))
    for recipe in maps:
        path = os.path.join(pf.etc, MAPS[recipe])
        with open(path, 'w') as f:
            f.write(relay.subst(relay.recipes[recipe]))
        os.chmod(path, 0o600)
    for line in relay.recipes[commands].splitlines() if commands else ():
        argv = relay.subst(line, {'/etc/postfix/': pf.etc + '/'}).split()
        argv[0:1] = ['/usr/sbin/' + argv[0], '-c', pf.etc]
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        check('guide command: %s' % line, r.returncode == 0, r.stdout)
    return pf


def send(pf, tag, sender):
    msg = message(tag, sender, TO)
    r = subprocess.run([SENDMAIL, '-C', pf.etc, '-f', sender, '-i', TO],
                       input=msg, text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    check('%s: sendmail -C accepts' % tag, r.returncode == 0, r.stdout)
    return msg


def run(relay, rules, main, maps, commands, senders, auth_users):
    relay.use_rules(rules)
    pf = setup(relay, main, maps, commands)
    try:
        r = pf.start()
        if not check('%s: postfix -c DIR start' % main,
                     pf.started and pf.master_pid(), r.stdout + pf.log()):
            return
        sent = [(s, send(pf, 'pf-%s-%d' % (main, i), s))
                for i, s in enumerate(senders)]
        for i, (sender, msg) in enumerate(sent):
            arrived_once(relay, 'Postfix %s from %s' % (main, sender),
                         'pf-%s-%d' % (main, i), msg, sender, [TO],
                         pf.log()[-1500:], auth=auth_users[i])
    finally:
        pf.stop()
        pf.remove()


def main():
    if os.geteuid() != 0 or not os.path.exists(POSTFIX):
        skip('postfix guide', 'needs root and %s' % POSTFIX)
        finish()
    with GuideRelay('postfix') as relay:
        run(relay, 'rules-auth', 'main-auth', ['sasl_passwd'], 'commands',
            ['mailer@acme.example', 'invoices@acme.example'],
            ['mailer@acme.example'] * 2)
        run(relay, 'rules-ip', 'main-ip', [], None,
            ['backup@acme.example'], [None])
        before = relay.inst.log().count('AUTH ok user=mailer@acme.example')
        run(relay, 'rules-per-sender', 'main-per-sender',
            ['sender_relay', 'sasl_passwd-per-sender'], 'commands-per-sender',
            ['news@acme.example', 'news@beta.example'],
            ['mailer@acme.example', 'mailer@beta.example'])
        check('per-sender: acme\'s account logged in again for acme\'s mail',
              relay.inst.log().count('AUTH ok user=mailer@acme.example')
              > before)
    finish()


if __name__ == '__main__':
    main()
