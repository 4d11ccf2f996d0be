#!/usr/bin/python3
"""test_delivery_inject.py: relay-send hands its bounces to relay-queue
(run/queue.sock) and waits for the answer at most inject_timeout
seconds.  With relay-queue stopped (SIGSTOP) while a bounce of 300 KiB
(RET=FULL: more than a pipe holds) is being handed over:
  - relay-send gives up at the deadline and logs it, instead of waiting
    for ever (its loop carries every delivery);
  - once relay-queue runs again it queues nothing of the abandoned,
    cut-short injection, and relay-send's next try queues the bounce:
    exactly one bounce reaches the sender, whole.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish, smtp_session, wait_until  # noqa: E402

END = b'the end of the bounced message'


def bounces(sink):
    return [m for m in sink.messages if m.mail_from in ('', '<>')]


def stop_queue(inst, sig):
    pids = inst.pids(['relay-queue'])
    for pid in pids:
        os.kill(pid, sig)
    return pids


def main():
    # 451 first: the message waits in the queue while relay-queue is
    # stopped; the 550 of the next attempt makes the bounce
    with Sink(codes={'bad@example.org': [451, 550]}) as sink, \
            Instance(sink=sink, conf_overrides={'inject_timeout': '3'}) as inst:
        body = (b'Subject: will bounce\r\nMessage-ID: <inj1@test>\r\n\r\n' +
                (b'x' * 998 + b'\r\n') * 300 + END + b'\r\n')
        with smtp_session(inst.port) as c:
            c.ehlo('client.test')
            c.sendmail('a@example.com', ['bad@example.org'], body,
                       mail_options=['RET=FULL'])
        deferred = inst.wait_log(r'to=<bad@example.org> .*status=deferred', 30)
        check('the first attempt is deferred', deferred, inst.log_tail())
        stopped = stop_queue(inst, signal.SIGSTOP)
        try:
            check('relay-queue stopped', stopped)
            t0 = time.time()
            gave_up = inst.wait_log(r'notification not queued: .*inject_timeout', 40)
            check('relay-send gives up on the stopped relay-queue at inject_timeout',
                  gave_up, inst.log_tail())
            check('within the deadline and the retry (%.0f s)' % (time.time() - t0),
                  time.time() - t0 < 30)
        finally:
            stop_queue(inst, signal.SIGCONT)
        check('the bounce arrives once relay-queue runs again',
              wait_until(lambda: bounces(sink), 60), inst.log_tail())
        time.sleep(5)  # a second, cut-short bounce would be here by now
        got = bounces(sink)
        check('exactly one bounce', len(got) == 1,
              '%d: %r' % (len(got), [len(m.data) for m in got]))
        check('the bounce carries the whole message',
              got and END in got[0].data, got and len(got[0].data))
        check('relay-queue queued nothing of the abandoned injection',
              inst.wait_log(r'client hung up before the end of the message', 5),
              inst.log_tail())
    finish()


if __name__ == '__main__':
    signal.alarm(300)
    main()
