#!/usr/bin/python3
"""test_dsn_relayed_owed.py: a "relayed" notice (NOTIFY=SUCCESS, next
hop without DSN) that cannot be queued when the recipient is delivered
(run/queue.sock unreachable for a few seconds, as while relay-queue
restarts) is owed, not lost: the message stays queued with the owed
notice in its state file, the notice is sent once relay-queue takes
mail again, exactly once, and then the message leaves the queue.  A
relay-send restart while it is owed still sends it (the state file
says so)."""
import os
import signal
import smtplib
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish, wait_until  # noqa: E402

SENDER = 'sender@example.com'
MSG = b'From: sender@example.com\r\nSubject: owed\r\n\r\nbody\r\n'


def relayed(sink):
    with sink.lock:
        return [m for m in sink.messages
                if m.mail_from in ('', '<>') and SENDER in m.rcpts and
                b'Action: relayed' in m.data]


def owed_lines(inst):
    d = inst.path('queue/state')
    n = 0
    for name in os.listdir(d):
        with open(os.path.join(d, name), 'rb') as f:
            n += sum(1 for line in f if line.startswith(b'R '))
    return n


def run(restart_send):
    name = 'restart: ' if restart_send else ''
    with Sink(codes={'ok@x.test': [451, 250]}) as sink, Instance(
            sink=sink, conf_overrides={'retry_min': 1, 'retry_max': 2}) \
            as inst:
        with smtplib.SMTP('127.0.0.1', inst.port, timeout=30) as s:
            s.ehlo('client.test')
            s.sendmail(SENDER, ['ok@x.test'], MSG,
                       rcpt_options=['NOTIFY=SUCCESS'])
        check(name + 'first attempt deferred',
              inst.wait_log(r'to=<ok@x\.test>.*status=deferred', 30),
              inst.log_tail())
        sock = inst.path('run/queue.sock')
        mode = stat.S_IMODE(os.stat(sock).st_mode)
        os.chmod(sock, 0)  # relay-send (not root) cannot connect
        try:
            check(name + 'the notice cannot be queued',
                  inst.wait_log(r'notification not queued', 30),
                  inst.log_tail())
            time.sleep(1)
            check(name + 'the message stays queued while the notice is '
                  'owed, the state file says so',
                  inst.queue_count() == 1 and owed_lines(inst) >= 1,
                  inst.log_tail())
            if restart_send:
                pid = inst.status()['relay-send'][0]
                os.kill(pid, signal.SIGKILL)
                check(name + 'relay-send back',
                      wait_until(lambda: inst.status().get(
                          'relay-send', (pid,))[0] != pid, 30),
                      inst.log_tail())
                time.sleep(2)
        finally:
            os.chmod(sock, mode)
        check(name + 'the owed notice arrives',
              wait_until(lambda: relayed(sink), 30), inst.log_tail())
        check(name + 'then the message leaves the queue',
              inst.wait_queue_empty(30), inst.log_tail())
        time.sleep(4)  # room for a duplicate
        got = relayed(sink)
        check(name + 'exactly one relayed notice, for ok@x.test',
              len(got) == 1 and b'ok@x.test' in got[0].data,
              repr([m.data[:200] for m in got]))


run(False)
run(True)
finish()
