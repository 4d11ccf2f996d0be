#!/usr/bin/python3
"""test_master_hang_loop.py: a daemon killed as hung again and again is
slowed down like one that keeps dying.  relay-send is stopped (SIGSTOP)
as soon as each new one says it serves, daemon_hang_timeout 3: it is
killed as hung each time; after the third time in a row relay-master
logs a fatal line saying so and starts it again only after 30 s, not a
second later, and the relay is not ready meanwhile.  (The old build
restarted it a second after each kill, for as long as it hung: forever
with a limit of 10 s or more, as each of those deaths came too late
after its start to count as a quick death.)"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, alive, check, finish,  # noqa: E402
                     no_sanitizer_report, wait_until)

LIMIT = 3  # daemon_hang_timeout
KILLS = 3  # kills as hung in a row before the back-off (ctl/master_child.c)
HANG_LINE = r'relay-master\[\d+\]: fatal: relay-send pid=%d hangs: silent'
LOOP_LINE = (r'relay-master\[\d+\]: fatal: relay-send was killed as hung '
             r'%d times in a row: retrying every 30 s' % KILLS)


def ready_pid(inst, old):
    """relay-send's pid once a new one (not in old) said it serves."""
    pid = inst.status().get('relay-send', (0, 0))[0]
    if pid and pid not in old and \
            ('relay-send pid=%d is ready' % pid) in inst.log():
        return pid
    return 0


def test_hang_loop(inst):
    stopped = []
    try:
        for i in range(KILLS):
            if not wait_until(lambda: ready_pid(inst, stopped), 15):
                check('hang %d: a new relay-send serves' % (i + 1), False,
                      inst.log_tail(10))
                return
            pid = ready_pid(inst, stopped)
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
            check('hang %d: relay-send pid %d killed as hung' % (i + 1, pid),
                  inst.wait_log(HANG_LINE % pid, LIMIT + 10),
                  inst.log_tail(10))
        check('a fatal line says it was killed as hung %d times in a row'
              % KILLS, inst.wait_log(LOOP_LINE, 5), inst.log_tail(10))
        mark = len(inst.log())
        time.sleep(6)
        check('not started again within 6 s of the last kill',
              'started relay-send' not in inst.log()[mark:] and
              inst.status().get('relay-send', (0, 0))[0] == 0,
              inst.log_tail(10))
        check('the relay is not ready meanwhile',
              not os.path.exists(inst.path('run/ready')))
    finally:
        for pid in stopped:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def main():
    with Instance(conf_overrides={'daemon_hang_timeout': LIMIT}) as inst:
        test_hang_loop(inst)
        no_sanitizer_report(inst)
    finish()


if __name__ == '__main__':
    main()
