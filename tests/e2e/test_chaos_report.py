#!/usr/bin/python3
"""test_chaos_report.py: the chaos run's duplicate report
(tests/chaos/chaos_dups.py).  The queue id chaos.py reads from a
delivered message is relay-queue's (the Received header as relay-queue
writes it today: "id <qid>" then "for <rcpt>;" on the next line); two
copies under one id count as delivered twice, under two ids as queued
twice; each is blamed on the kill that explains it (relay-send or
relay-remote near the first arrival; the last kill of a daemon the
session needs before the client's failed try), and on "none" when no
kill was near."""
import os
import smtplib
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'chaos'))
from chaos import message, qid_of, serial_of  # noqa: E402
from chaos_dups import attribute, line, per_kill, summary  # noqa: E402
from harness import Instance, Sink, check, finish  # noqa: E402


def qid_of_a_delivered_message():
    with Sink() as sink, Instance(sink=sink) as inst:
        with smtplib.SMTP('127.0.0.1', inst.port, timeout=30) as c:
            c.sendmail('chaos@example.com', ['r7@example.org'], message(7))
        ok = sink.wait_for(1, 30)
        check('report: the message arrived', ok, inst.log_tail())
        if not ok:
            return
        # relay-master writes the line a moment after relay-queue logs
        # it: the message can reach the sink first
        logged = inst.wait_log(
            r'relay-queue\[\d+\]: info: ([0-9A-F]+): from=', 10)
        check('report: the queue id is read from the delivered message',
              logged and qid_of(sink.messages[0].data) == logged.group(1),
              '%r vs %r' % (qid_of(sink.messages[0].data),
                            logged and logged.group(1)))


class Msg:
    def __init__(self, t, serial, qid):
        self.time = t
        self.data = message(serial).replace(
            b'\r\n\r\n', b'\r\nReceived: by x\r\n\tid %s\r\n\tfor <a@b>; '
            b'now\r\n\r\n' % qid.encode(), 1)


def attribution():
    msgs = [Msg(100.0, 1, 'AAAAAAAAAA1'), Msg(100.3, 1, 'AAAAAAAAAA1'),
            Msg(200.0, 2, 'BBBBBBBBBB1'), Msg(201.0, 2, 'BBBBBBBBBB2'),
            Msg(300.0, 3, 'CCCCCCCCCC1'), Msg(300.2, 3, 'CCCCCCCCCC1'),
            Msg(400.0, 4, 'DDDDDDDDDD1')]
    kills = [(99.99, 'relay-send'), (100.01, 'relay-queue'),
             (199.5, 'relay-smtpd'), (199.505, 'relay-remote'),
             (199.9, 'relay-send')]
    failed = {2: [199.51]}
    dups = attribute(msgs, serial_of, qid_of, lambda m: False, kills,
                     failed)
    got = [(d['serial'], d['kind'], d['blame'], d['lag_ms']) for d in dups]
    check('report: one line per extra copy, with its cause',
          got == [(1, 'delivered', 'relay-send', -10),
                  (2, 'queued', 'relay-smtpd', -10),
                  (3, 'delivered', 'none', None)], repr(got))
    check('report: the summary counts them by kind and kill',
          summary(dups) == {'delivered twice': {'relay-send': 1,
                                                'none': 1},
                            'queued twice': {'relay-smtpd': 1}},
          repr(summary(dups)))
    check('report: duplicates per kill of each daemon',
          per_kill(dups, {'relay-send': 4, 'relay-smtpd': 2}) ==
          {'relay-send': 0.25, 'relay-smtpd': 0.5},
          repr(per_kill(dups, {'relay-send': 4, 'relay-smtpd': 2})))
    said = line(dups, {'relay-send': 4, 'relay-smtpd': 2})
    check('report: the same in words', said ==
          'duplicates 3: queued twice 1 (relay-smtpd 1), delivered twice 2 '
          '(none 1, relay-send 1); per kill: relay-send 0.25, '
          'relay-smtpd 0.50', said)


attribution()
qid_of_a_delivered_message()
finish()
