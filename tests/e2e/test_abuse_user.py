#!/usr/bin/python3
"""test_abuse_user.py: a user whose address holds a byte the account
name encodes (o'brien@example.com, account user:o%27brien@example.com)
is refused once abuse monitoring suspends it.  o'brien sends GTUBE with
AUTH past abuse_spam_max; with abuse_grace=0 the alert turns into a
suspension at the next tick: abuse/suspended names the account as the
account name does (encoded), relay-policy finds it there from the
address as the client gives it, and o'brien's next MAIL gets 550 5.7.1,
while boss@example.com (AUTH too) keeps relaying."""
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish,  # noqa: E402
                     smtp_session, wait_until)
from certs import TestCerts  # noqa: E402
from rspamd import GTUBE, Rspamd  # noqa: E402

HASH = '$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74'
OBRIEN = "o'brien@example.com"
RULES = """\
customer example licenses=1000 scan=score admin=admin@example.org
domain example.com customer=example
user %s hash=%s customer=example
user boss@example.com hash=%s customer=example
rule example laptops senders=registered auth=smtp
""" % (OBRIEN, HASH, HASH)


def send(inst, certs, user, tag, body=b'The quarterly figures.'):
    """(code, text) of the refusal, or (250, '') when accepted: AUTH as
    user (password secret1) from a laptop, inside TLS."""
    with smtp_session(inst.port, source_ip='127.0.1.9') as c:
        c.ehlo('laptop')
        c.starttls(context=certs.client_context())
        c.ehlo('laptop')
        c.login(user, 'secret1')
        try:
            c.sendmail(user, ['someone@example.org'],
                       b'Subject: %s\r\n\r\n' % tag.encode() + body + b'\r\n')
        except smtplib.SMTPResponseException as e:
            return e.smtp_code, e.smtp_error.decode(errors='replace')
    return 250, ''


def suspended(inst):
    try:
        with open(inst.path('abuse/suspended')) as f:
            return f.read()
    except OSError:
        return ''


def main():
    with TestCerts() as certs, Rspamd() as rsp, Sink() as sink:
        conf = certs.conf()
        conf.update({'scan_rspamd': rsp.addr, 'abuse_spam_max': 3,
                     'abuse_grace': 0})
        with Instance(sink=sink, rules_text=RULES,
                      conf_overrides=conf) as inst:
            for i in range(3):
                code, text = send(inst, certs, OBRIEN, 'spam%d' % i, GTUBE)
                check("o'brien GTUBE %d: relayed (scan=score)" % i,
                      code == 250, '%s %s' % (code, text))
            check("log: o'brien suspended under the encoded account",
                  inst.wait_log(r'abuse: suspended account=user:'
                                r'o%27brien@example\.com customer=example '
                                r'reason=spam', 20), inst.log_tail())
            wait_until(lambda: suspended(inst), 10)
            listed = suspended(inst)
            check('abuse/suspended: the account name as the account has it',
                  listed == 'user o%27brien@example.com\n', listed)
            ok = wait_until(lambda: send(inst, certs, OBRIEN,
                                         'blocked')[0] == 550, 10)
            code, text = send(inst, certs, OBRIEN, 'blocked')
            check("o'brien with AUTH: 550 5.7.1 suspended",
                  ok and code == 550 and text.startswith('5.7.1') and
                  'suspended' in text, '%s %s' % (code, text))
            code, text = send(inst, certs, 'boss@example.com', 'bossok')
            check('boss (another user) keeps relaying', code == 250,
                  '%s %s' % (code, text))
            check('nothing of o\'brien after the suspension delivered',
                  not any(b'Subject: blocked' in m.data
                          for m in list(sink.messages)))
    finish()


if __name__ == '__main__':
    main()
