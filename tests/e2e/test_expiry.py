#!/usr/bin/python3
"""test_expiry.py: delay warning and expiry with the real default
lifetimes (delay_warning 4 h, queue_lifetime 5 days) and a faked clock:
relay-queue runs under faketime, so a message arrives hours or days in
the past, against a receiver that answers 451 to it forever.
  - 10 s short of 4 h old: tried at once (451), then, once 4 h have
    passed, one warning DSN (Action: delayed, Status 4.x.x,
    Will-Retry-Until, the 451 as Diagnostic-Code) to the sender; the
    message stays queued;
  - 6 days old: one failure DSN (Action: failed, Status 4.4.7) and no
    warning, the message leaves the queue;
  - both read with Python's email package: multipart/report,
    report-type=delivery-status, fields of the message/delivery-status
    part;
  - no bounce for a bounce: an expired message from <> is reported to
    postmaster (dsn=double), never to <>, and gets no warning; an
    expired double bounce is dropped (logged), nothing sent;
  - 5 s short of 5 days, tried once (451) and expired at its next turn
    8 s later: the failure reports that attempt (Last-Attempt-Date its
    time, not the expiry's; Diagnostic-Code "smtp; 451 ..."; Remote-MTA
    the receiver; Status 4.4.7).
test_delivery.py covers the same with short settings and no clock."""
import calendar
import email
import email.policy
import email.utils
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish, skip,  # noqa: E402
                     wait_until)
from test_delivery import inject  # noqa: E402


def dsn(data):
    """(message, per-message fields, [per-recipient fields]) of a DSN,
    as Python's email package reads it."""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    blocks = []
    for part in msg.walk():
        if part.get_content_type() == 'message/delivery-status':
            blocks = [dict(b.items()) for b in part.get_payload()]
    return msg, (blocks[0] if blocks else {}), blocks[1:]


def dsns(sink, rcpt=None):
    with sink.lock:
        return [m for m in sink.messages if m.mail_from in ('', '<>') and
                (rcpt is None or rcpt in m.rcpts)]


def for_sender(sink, sender):
    return [m for m in dsns(sink) if m.rcpts == [sender]]


def check_report(name, m, action, status_prefix, final_rcpt):
    msg, per_msg, per_rcpt = dsn(m.data)
    check('%s: multipart/report; report-type=delivery-status' % name,
          msg.get_content_type() == 'multipart/report' and
          msg.get_param('report-type') == 'delivery-status',
          msg.get('Content-Type'))
    check('%s: Reporting-MTA and Arrival-Date' % name,
          'relaybox.test' in per_msg.get('Reporting-MTA', '') and
          per_msg.get('Arrival-Date'), repr(per_msg))
    r = per_rcpt[0] if len(per_rcpt) == 1 else {}
    check('%s: Final-Recipient %s' % (name, final_rcpt),
          r.get('Final-Recipient', '').endswith(final_rcpt), repr(per_rcpt))
    check('%s: Action %s, Status %s' % (name, action, status_prefix),
          r.get('Action') == action and
          r.get('Status', '').startswith(status_prefix), repr(r))
    return r


def log_time(line):
    """The epoch second of a log line's timestamp (UTC)."""
    return calendar.timegm(time.strptime(line[:19], '%Y-%m-%dT%H:%M:%S'))


def last_attempt():
    with Sink(codes={'late@example.org': 451}) as sink, Instance(
            sink=sink, conf_overrides={'retry_min': 8, 'retry_max': 8,
                                       'queue_lifetime': 432000,
                                       'delay_warning': 0}) as inst:
        rc, err = inject(inst, 'c@example.com', ['late@example.org'],
                         b'Subject: late\r\n\r\nx\r\n', None,
                         prefix=('faketime', '-f', '-431995s'))
        check('last attempt: injected 5 s short of 5 days', rc == 0, err)
        check('last attempt: a failure arrives',
              wait_until(lambda: for_sender(sink, 'c@example.com'), 30),
              inst.log_tail())
        tried = [log_time(line) for line in inst.log().splitlines()
                 if ' relay-send[' in line and
                 'to=<late@example.org>' in line and
                 'status=deferred (451' in line]
        fail = for_sender(sink, 'c@example.com')
        check('last attempt: tried once before it expired', len(tried) == 1,
              inst.log_tail())
        if not fail or len(tried) != 1:
            return
        r = check_report('last attempt', fail[0], 'failed', '4.4.7',
                         'late@example.org')
        lad = r.get('Last-Attempt-Date')
        when = email.utils.parsedate_to_datetime(str(lad)).timestamp() \
            if lad else 0
        check('last attempt: Last-Attempt-Date is the attempt\'s, not the '
              'expiry\'s', abs(when - tried[0]) <= 1, '%r vs %s' % (
                  r.get('Last-Attempt-Date'), time.ctime(tried[0])))
        check('last attempt: Diagnostic-Code is the 451, Remote-MTA the '
              'receiver', r.get('Diagnostic-Code', '').startswith(
                  'smtp; 451 ') and '{' not in r.get('Diagnostic-Code', '')
              and '127.0.0.1' in r.get('Remote-MTA', ''), repr(r))


def main():
    if not shutil.which('faketime'):
        skip('expiry', 'no faketime')
        finish()
    last_attempt()
    stuck = {'old@example.org': 451, 'older@example.org': 451,
             'null@example.org': 451, 'double@example.org': 451}
    with Sink(codes=stuck) as sink, Instance(sink=sink, conf_overrides={
            'retry_min': 1, 'retry_max': 2, 'delay_warning': 14400,
            'queue_lifetime': 432000}) as inst:
        for sender, rcpt, back, info in (
                ('a@example.com', 'old@example.org', '-14390s', None),
                ('b@example.com', 'older@example.org', '-6d', None),
                ('', 'null@example.org', '-6d', {'dsn': 'bounce'}),
                ('', 'double@example.org', '-6d', {'dsn': 'double'})):
            rc, err = inject(inst, sender, [rcpt],
                             b'Subject: %s\r\n\r\nx\r\n' % rcpt.encode(),
                             info, prefix=('faketime', '-f', back))
            check('injected %s at %s' % (rcpt, back), rc == 0, err)

        check('4 h old: a warning arrives',
              wait_until(lambda: for_sender(sink, 'a@example.com'), 30),
              inst.log_tail())
        check('6 days old: a failure arrives',
              wait_until(lambda: for_sender(sink, 'b@example.com'), 30),
              inst.log_tail())
        check('6 days old from <>: reported to postmaster',
              wait_until(lambda: dsns(sink, 'postmaster@relaybox.test'),
                         30), inst.log_tail())
        check('expired double bounce dropped and logged',
              inst.wait_log(r'double bounce dropped', 30), inst.log_tail())
        time.sleep(3)   # a few more retries of the 4 h old message

        warn = for_sender(sink, 'a@example.com')
        check('4 h old: exactly one DSN (no repeat)', len(warn) == 1,
              repr(warn))
        if warn:
            r = check_report('warning', warn[0], 'delayed', '4.',
                             'old@example.org')
            check('warning: Will-Retry-Until and the 451 diagnostic',
                  r.get('Will-Retry-Until') and
                  '451' in r.get('Diagnostic-Code', ''), repr(r))
        check('4 h old: still queued (not expired)',
              inst.queue_count() >= 1 and
              not inst.wait_log(r'to=<old@example.org>.*expired', 0.1),
              inst.log_tail())

        fail = for_sender(sink, 'b@example.com')
        check('6 days old: exactly one DSN, no warning', len(fail) == 1,
              repr([m.data[:300] for m in fail]))
        if fail:
            check_report('expiry', fail[0], 'failed', '4.4.7',
                         'older@example.org')
        pm = dsns(sink, 'postmaster@relaybox.test')
        check('from <>: one report to postmaster, none to <>',
              len(pm) == 1 and not [m for m in sink.messages
                                    if '' in m.rcpts or '<>' in m.rcpts],
              repr(pm))
        if pm:
            check_report('double bounce', pm[0], 'failed', '4.4.7',
                         'null@example.org')
        check('nothing else was sent: 3 DSNs in all',
              len(dsns(sink)) == 3, repr(dsns(sink)))
        check('no delivery of a stuck recipient',
              not [m for m in sink.messages if set(m.rcpts) & set(stuck)])
    finish()


if __name__ == '__main__':
    main()
