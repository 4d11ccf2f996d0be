#!/usr/bin/python3
"""test_dsn_null.py: a customer's own bounce stays a bounce.  Under
senders=any, a MAIL FROM:<> of a customer found by HELO is relayed as
postmaster@<its domain> (doc/BEHAVIOUR.md §2.4), and the queue file
records that the client's sender was <> (null_sender=yes, covered by
relay-policy's proof), so that relaybox treats it as null-sender mail
(§4.3):
  - refused by the next hop (550): no notice to postmaster@example.com
    (no bounce for a bounce); one to the relay's postmaster instead;
  - deferred (451) past delay_warning: no delay warning;
  - NOTIFY=SUCCESS to a next hop without DSN: no "relayed" notice;
  - an ordinary sender of the same customer still gets its bounce (the
    key is not set for it)."""
import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish, wait_until  # noqa: E402

RULES = """\
customer example licenses=1000 paid=yes
domain example.com customer=example
rule example loopback senders=any auth=ip
ip example loopback 127.0.0.1/32
"""
BOUNCE = (b'From: MAILER-DAEMON@example.com\r\nTo: someone@x.test\r\n'
          b'Subject: Undelivered Mail Returned to Sender\r\n\r\n'
          b'the customer\'s own bounce\r\n')


def send(port, sender, rcpt, rcpt_opts=()):
    with smtplib.SMTP('127.0.0.1', port, timeout=30) as s:
        s.ehlo('example.com')
        s.sendmail(sender, [rcpt], BODY_OF[sender], rcpt_options=rcpt_opts)


BODY_OF = {'': BOUNCE,
           'alice@example.com': b'Subject: plain\r\n\r\nplain mail\r\n'}


def to(sink, rcpt):
    with sink.lock:
        return [m for m in sink.messages if rcpt in m.rcpts]


def main():
    codes = {'gone@x.test': 550, 'later@x.test': 451, 'plain@x.test': 550}
    with Sink(codes=codes) as sink, Instance(
            sink=sink, rules_text=RULES,
            conf_overrides={'delay_warning': 3, 'retry_min': 1}) as inst:
        send(inst.port, '', 'gone@x.test')
        send(inst.port, '', 'later@x.test')
        send(inst.port, '', 'ok@x.test', ['NOTIFY=SUCCESS'])
        send(inst.port, 'alice@example.com', 'plain@x.test')
        check('the relay\'s postmaster hears of the failed bounce',
              wait_until(lambda: to(sink, 'postmaster@relaybox.test'), 30),
              inst.log_tail())
        check('the ordinary sender gets its bounce',
              wait_until(lambda: to(sink, 'alice@example.com'), 30),
              inst.log_tail())
        check('the bounce is delivered', wait_until(
            lambda: to(sink, 'ok@x.test'), 30), inst.log_tail())
        time.sleep(6)  # past delay_warning, room for a notice too many
        with sink.lock:
            sent = [m for m in sink.messages if 'ok@x.test' in m.rcpts]
        check('relayed as postmaster@example.com (§2.4)',
              sent and sent[0].mail_from == 'postmaster@example.com',
              repr(sent))
        wrong = to(sink, 'postmaster@example.com')
        check('no notice about the customer\'s bounce goes to '
              'postmaster@example.com (failure, delay or relayed)',
              not wrong, repr([(m.mail_from, m.data[:300]) for m in wrong]))
        double = to(sink, 'postmaster@relaybox.test')
        check('one notice to the relay\'s postmaster, from <>',
              len(double) == 1 and double[0].mail_from in ('', '<>'),
              repr([(m.mail_from, m.rcpts) for m in double]))
        check('the deferred bounce\'s queue file says null_sender=yes',
              _null_sender_files(inst) == 1, inst.log_tail())


def _null_sender_files(inst):
    """Files still queued (the deferred bounce) whose header has
    null_sender=yes."""
    n = 0
    for name in os.listdir(inst.path('queue/new')):
        with open(inst.path('queue/new/' + name), 'rb') as f:
            head = f.read(8192).split(b'\n\n')[0]
        n += b'\nnull_sender=yes\n' in head
    return n


main()
finish()
