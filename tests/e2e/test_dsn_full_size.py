#!/usr/bin/python3
"""test_dsn_full_size.py: RET=FULL is honoured only when the composed
failure notice fits under message_size_max (doc/BEHAVIOUR.md §1.5): a
message 66 KiB under the limit, refused for 100 recipients with long
addresses and ORCPTs (a report of about 90 KB), gets a notice with its
header block only, which the sender's MX (same limit) can take; a small
one to the same recipients still comes back whole."""
import email
import email.policy
import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish, wait_until  # noqa: E402

LIMIT = 400000
SENDER = 'sender@example.com'
DOMAIN = 'a' * 60 + '.' + 'b' * 60 + '.test'
RCPTS = ['%s%03d@%s' % ('r' * 58, i, DOMAIN) for i in range(100)]


def message(size):
    head = b'From: sender@example.com\r\nSubject: big\r\n\r\n'
    line = b'x' * 998 + b'\r\n'
    return head + line * ((size - len(head)) // len(line))


def notices(sink):
    with sink.lock:
        return [m for m in sink.messages if m.mail_from in ('', '<>')]


def third_part(m):
    msg = email.message_from_bytes(m.data, policy=email.policy.default)
    parts = list(msg.iter_parts())
    return parts[2].get_content_type() if len(parts) == 3 else None


def send(port, body):
    with smtplib.SMTP('127.0.0.1', port, timeout=60) as s:
        s.ehlo('client.test')
        s.sendmail(SENDER, RCPTS, body, mail_options=['RET=FULL'],
                   rcpt_options=['ORCPT=rfc822;' + 'o' * 200 +
                                 '@example.org'])


def main():
    with Sink(codes={r: 550 for r in RCPTS}) as sink, Instance(
            sink=sink, conf_overrides={'message_size_max': LIMIT}) as inst:
        big = message(LIMIT - 65536 - 2000)
        send(inst.port, big)
        check('the failure notice of the big message arrives',
              wait_until(lambda: notices(sink), 60), inst.log_tail())
        got = notices(sink)
        size = len(got[0].data) if got else 0
        check('it fits under message_size_max (%d bytes)' % size,
              got and size <= LIMIT, inst.log_tail())
        check('it carries the header block only',
              got and third_part(got[0]) == 'text/rfc822-headers',
              got and third_part(got[0]))
        send(inst.port, message(20000))
        check('the small message\'s notice arrives',
              wait_until(lambda: len(notices(sink)) == 2, 60),
              inst.log_tail())
        got = notices(sink)
        check('it returns the whole message (RET=FULL)',
              len(got) == 2 and third_part(got[1]) == 'message/rfc822',
              len(got) == 2 and third_part(got[1]))


main()
finish()
