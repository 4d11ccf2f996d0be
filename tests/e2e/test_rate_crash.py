#!/usr/bin/python3
"""test_rate_crash.py: mail is never relayed uncounted (doc/BEHAVIOUR.md
§3), not even when relay-policy dies in the middle of a transaction.

The last accepted RCPT gives relay-smtpd the admission proof that
relay-queue takes for DATA, so a message can be queued after relay-policy
is gone; its recipients must already be counted where the restarted
relay-policy (or the other boxes of a fleet) find them.

For each store (rate_store = local, the counters file; and a Redis
shared by the fleet), customer "one" has peak = 3:
- 3 RCPTs get 250, relay-policy is killed (SIGKILL) and restarted by
  relay-master, then DATA: either DATA is refused (451), or the message
  is queued and counted: relayctl stats shows rcpts_10m=3/3 and the next
  session's first RCPT gets 450 4.2.1.
- a client that quits after its RCPTs (no DATA) costs nothing: the next
  session gets 3 recipients again (relay-smtpd lets the transaction go
  explicitly).
- customer "four": the relay-smtpd worker serving the session is killed
  after 3 RCPTs (it may have queued the message with the proof it held):
  relay-policy sees its connection close with the transaction open and
  counts it (3/3, the next RCPT 450).
- (redis) customer "five": 3 RCPTs reserved in Redis, Redis stopped
  (SIGSTOP) so that relay-policy finds it down, the client says RSET:
  the release waits and goes once Redis answers again, so the room comes
  back (a reservation left in Redis would count for the peak window).
- (redis) customer "seven": a RCPT sent while Redis is stopped gets 451
  after rate_store_timeout, but Redis runs its script once it goes on;
  the client says RSET: that reservation is taken out too (0/3, and 3
  RCPTs get 250), not left to count for the day.
- (local) customer "three": relay-queue stopped (SIGSTOP) while the message
  comes, so relay-smtpd's wait for its answer ends (data_timeout = 3 s)
  and the client gets 451; relay-queue then goes on (SIGCONT) and queues
  the message it had whole: it is relayed, and counted (3/3), because
  relay-smtpd did not give the reservation back.
- customer "six" (an instance with smtp_timeout = 2 s): 2 RCPTs, then
  relay-policy stopped (SIGSTOP) past relay-smtpd's wait, so the 3rd RCPT
  gets 421 and the session ends; nothing can be queued, so once
  relay-policy goes on (SIGCONT) the transaction is given back (0/3) and
  the client's retry gets 3 recipients.
- (redis, same instance, rate_store_timeout = 1 s) customer "eight": a
  message of 3 whose commit Redis runs only after relay-policy stopped
  waiting for it (Redis stopped before the final dot, continued 2.5 s
  later): the commit is journalled and replayed once Redis answers, yet
  the message counts 3, not 6.
"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import *  # noqa: E402,F403
from redisserver import TIMEOUT_MS, RedisServer  # noqa: E402

# one customer a scenario (peak 3, daily 100), customer N on 127.0.0.N
CUSTOMERS = ('one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight')
RULES = '\n'.join(
    'customer %s licenses=1 paid=yes peak=3 daily=100\n'
    'domain %s.example customer=%s\n'
    'rule %s lo senders=domain auth=ip\n'
    'ip %s lo 127.0.0.%d/32\n' % (c, c, c, c, c, i + 1)
    for i, c in enumerate(CUSTOMERS))
PEAK = '450 4.2.1 Peak SMTP relay limit exceeded for customer.'


def session(inst, ip, sender, rcpts):
    """EHLO, MAIL, the RCPTs: the open connection and the RCPT codes."""
    c = Raw(inst.port, source_ip=ip)
    c.reply()
    c.cmd(b'EHLO h.test\r\n')
    c.cmd(b'MAIL FROM:<%s>\r\n' % sender.encode())
    codes = [c.cmd(b'RCPT TO:<%s>\r\n' % r.encode()) for r in rcpts]
    return c, codes


def stats(inst, cust):
    m = re.search(r'rcpts_10m=(\S+)',
                  inst.relayctl('stats', '--customer', cust).stdout)
    return m.group(1) if m else None


def kill_policy(inst):
    """SIGKILL relay-policy; True once relay-master has started a new one
    and it listens."""
    def listening():
        return inst.log().count('policy.sock')

    pid, before = inst.status().get('relay-policy', (None,))[0], listening()
    os.kill(pid, signal.SIGKILL)
    return wait_until(lambda: inst.status().get('relay-policy', (0,))[0]
                      not in (0, None, pid) and listening() > before, 30)


def test_crash(inst, sink, store):
    rcpts = ['r%d@example.org' % i for i in range(3)]
    c, codes = session(inst, '127.0.0.1', 'a@one.example', rcpts)
    check('%s: 3 RCPTs of a peak of 3 accepted' % store,
          [r[0] for r in codes] == [250] * 3, codes)
    check('%s: relay-policy killed and restarted' % store, kill_policy(inst))
    data = c.cmd(b'DATA\r\n')
    end = None
    if data[0] == 354:
        end = c.cmd(b'Subject: crash\r\n\r\nbody\r\n.\r\n')
    c.cmd(b'QUIT\r\n')
    c.close()
    if data[0] == 451 or (end and end[0] >= 400):
        check('%s: DATA refused after the crash' % store, True)
        return
    check('%s: the message was queued' % store, end and end[0] == 250,
          (data, end))
    check('%s: it is counted: rcpts_10m=3/3' % store,
          wait_until(lambda: stats(inst, 'one') == '3/3', 10),
          stats(inst, 'one'))
    c, codes = session(inst, '127.0.0.1', 'a@one.example',
                       ['s0@example.org'])
    check('%s: the next session\'s first RCPT gets 450' % store,
          '%d %s' % (codes[0][0], codes[0][1][-1]) == PEAK, codes)
    c.cmd(b'QUIT\r\n')
    c.close()


def test_quit(inst, store):
    """A transaction the client abandons is let go, not counted."""
    rcpts = ['q%d@example.org' % i for i in range(3)]
    c, codes = session(inst, '127.0.0.2', 'a@two.example', rcpts)
    c.cmd(b'QUIT\r\n')
    c.close()
    c, again = session(inst, '127.0.0.2', 'a@two.example', rcpts)
    c.cmd(b'QUIT\r\n')
    c.close()
    check('%s: a transaction the client quits costs nothing' % store,
          [r[0] for r in codes + again] == [250] * 6, (codes, again))
    check('%s: ... and stats show none of it' % store,
          wait_until(lambda: stats(inst, 'two') in (None, '0/3'), 5),
          stats(inst, 'two'))


def worker_of(inst, c):
    """The pid of the relay-smtpd worker that logged c's connect."""
    port = c.s.getsockname()[1]
    pat = re.compile(r'relay-smtpd\[(\d+)\]: info: connect [0-9.]+:%d ' % port)
    for line in inst.log().splitlines():
        m = pat.search(line)
        if m:
            return int(m.group(1))
    return None


def test_smtpd_killed(inst, store):
    rcpts = ['k%d@example.org' % i for i in range(3)]
    c, codes = session(inst, '127.0.0.4', 'a@four.example', rcpts)
    found = []
    wait_until(lambda: found.append(worker_of(inst, c)) or found[-1], 10)
    pid = found[-1]
    check('%s: smtpd killed: 3 RCPTs accepted, worker found' % store,
          [r[0] for r in codes] == [250] * 3 and pid, (codes, pid))
    if not pid:
        return
    os.kill(pid, signal.SIGKILL)
    c.close()
    check('%s: smtpd killed: the transaction is counted (3/3)' % store,
          wait_until(lambda: stats(inst, 'four') == '3/3', 10),
          stats(inst, 'four'))
    c, codes = session(inst, '127.0.0.4', 'a@four.example', ['k9@example.org'])
    c.close()
    check('%s: smtpd killed: the next RCPT gets 450' % store,
          '%d %s' % (codes[0][0], codes[0][1][-1]) == PEAK, codes)


def test_release_while_down(inst, redis):
    rcpts = ['d%d@example.org' % i for i in range(3)]
    c, codes = session(inst, '127.0.0.5', 'a@five.example', rcpts)
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        c2 = Raw(inst.port, source_ip='127.0.0.5')
        c2.reply()
        c2.cmd(b'EHLO h.test\r\n')
        got = c2.cmd(b'MAIL FROM:<a@five.example>\r\n')
        if got[0] == 250:
            got = c2.cmd(b'RCPT TO:<x@example.org>\r\n')
        c2.close()
        rset = c.cmd(b'RSET\r\n')
        time.sleep(0.5)  # relay-policy takes the reset while Redis is down
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
    c.cmd(b'QUIT\r\n')
    c.close()
    check('redis down: 3 RCPTs, then 451 while Redis is stopped, RSET',
          [r[0] for r in codes] == [250] * 3 and got[0] == 451 and
          rset[0] == 250, (codes, got, rset))

    def room():
        c, codes = session(inst, '127.0.0.5', 'a@five.example',
                           ['y@example.org'])
        c.cmd(b'QUIT\r\n')
        c.close()
        return codes[0][0] == 250
    check('redis down: the reservations are released once Redis answers '
          'again', wait_until(room, 15, 0.5))


def test_rcpt_timed_out(inst, redis):
    c, _ = session(inst, '127.0.0.7', 'a@seven.example', [])
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        got = c.cmd(b'RCPT TO:<t0@example.org>\r\n')
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
    rset = c.cmd(b'RSET\r\n')
    c.cmd(b'QUIT\r\n')
    c.close()
    check('redis stalled: the RCPT gets 451, RSET 250',
          got[0] == 451 and rset[0] == 250, (got, rset))

    def released():  # a decision lets relay-policy see Redis back
        c, _ = session(inst, '127.0.0.7', 'a@seven.example',
                       ['t1@example.org'])
        c.cmd(b'QUIT\r\n')
        c.close()
        return stats(inst, 'seven') in (None, '0/3')
    check('redis stalled: the RCPT Redis ran late is released (0/3)',
          wait_until(released, 15, 0.5), stats(inst, 'seven'))
    c, codes = session(inst, '127.0.0.7', 'a@seven.example',
                       ['t%d@example.org' % i for i in range(3)])
    c.cmd(b'QUIT\r\n')
    c.close()
    check('redis stalled: then 3 RCPTs of a peak of 3 get 250',
          [r[0] for r in codes] == [250] * 3, codes)


def test_queue_silent(inst, sink):
    """relay-queue's answer never comes: the message may be queued."""
    rcpts = ['u%d@example.org' % i for i in range(3)]
    c, codes = session(inst, '127.0.0.3', 'a@three.example', rcpts)
    data = c.cmd(b'DATA\r\n')
    qpid = inst.status()['relay-queue'][0]
    os.kill(qpid, signal.SIGSTOP)
    try:
        end = c.cmd(b'Subject: stalled\r\n\r\nbody\r\n.\r\n')
    finally:
        os.kill(qpid, signal.SIGCONT)
    c.close()
    check('queue silent: 3 RCPTs, DATA 354, then 451 after the wait',
          [r[0] for r in codes] == [250] * 3 and data[0] == 354 and
          end[0] == 451, (codes, data, end))
    got = wait_until(lambda: any('u0@example.org' in m.rcpts
                                 for m in sink.messages), 30)
    check('queue silent: the message was queued and relayed all the same',
          got)
    check('queue silent: and it is counted (3/3)',
          wait_until(lambda: stats(inst, 'three') == '3/3', 10),
          stats(inst, 'three'))


def test_policy_stalled(inst, store):
    """relay-smtpd gives up on relay-policy mid-transaction: no message."""
    c, codes = session(inst, '127.0.0.6', 'a@six.example',
                       ['p0@example.org', 'p1@example.org'])
    pid = inst.status()['relay-policy'][0]
    os.kill(pid, signal.SIGSTOP)
    try:
        third = c.cmd(b'RCPT TO:<p2@example.org>\r\n')
    finally:
        os.kill(pid, signal.SIGCONT)
    c.close()
    check('%s: policy stalled: 2 RCPTs, the 3rd 421 after smtp_timeout'
          % store, [r[0] for r in codes] == [250] * 2 and third[0] == 421,
          (codes, third))
    check('%s: policy stalled: nothing counted once it goes on (0/3)'
          % store, wait_until(lambda: stats(inst, 'six') in (None, '0/3'),
                              10), stats(inst, 'six'))
    c, codes = session(inst, '127.0.0.6', 'a@six.example',
                       ['p%d@example.org' % i for i in range(3)])
    c.cmd(b'QUIT\r\n')
    c.close()
    check('%s: policy stalled: the retry gets 3 recipients' % store,
          [r[0] for r in codes] == [250] * 3, codes)


def test_commit_late(inst, redis):
    c, codes = session(inst, '127.0.0.8', 'a@eight.example',
                       ['c%d@example.org' % i for i in range(3)])
    data = c.cmd(b'DATA\r\n')
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        end = c.cmd(b'Subject: late\r\n\r\nbody\r\n.\r\n')
        c.cmd(b'QUIT\r\n')
        c.close()
        time.sleep(2.5)  # past rate_store_timeout: the commit is journalled
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
    check('commit late: 3 RCPTs, the message queued while Redis is stopped',
          [r[0] for r in codes] == [250] * 3 and data[0] == 354 and
          end[0] == 250, (codes, data, end))

    def replayed():  # a decision replays the journal
        c, _ = session(inst, '127.0.0.8', 'a@eight.example',
                       ['c9@example.org'])
        c.cmd(b'QUIT\r\n')
        c.close()
        return 'Redis answers again' in inst.log()
    check('commit late: Redis back, the journal replayed',
          wait_until(replayed, 15, 0.5))
    check('commit late: the message counts once (3/3)',
          stats(inst, 'eight') == '3/3', stats(inst, 'eight'))


def run_stalled(store, sink, conf, redis=None):
    """An instance that gives up on relay-policy after 2 s."""
    inst = Instance(conf_overrides=dict(conf, smtp_timeout=2),
                    rules_text=RULES, sink=sink)
    try:
        inst.prepare()
        if redis:
            redis.write_auth(inst.dir)
        inst.start()
        test_policy_stalled(inst, store)
        if redis:
            test_commit_late(inst, redis)
    finally:
        inst.stop()
        inst.remove()


def run(store, sink, conf, redis=None):
    inst = Instance(conf_overrides=conf, rules_text=RULES, sink=sink)
    try:
        inst.prepare()
        if redis:
            redis.write_auth(inst.dir)
        inst.start()
        test_quit(inst, store)
        test_crash(inst, sink, store)
        test_smtpd_killed(inst, store)
        if redis:
            test_release_while_down(inst, redis)
            test_rcpt_timed_out(inst, redis)
        else:
            test_queue_silent(inst, sink)
    finally:
        inst.stop()
        inst.remove()


def main():
    with Sink() as sink:
        run('local', sink, {'data_timeout': 3})
        run_stalled('local', sink, {})
        with RedisServer() as redis:
            conf = {'rate_store': redis.url(),
                    'rate_store_timeout': TIMEOUT_MS,
                    'rate_store_prefix': 'crash%d:' % os.getpid()}
            run('redis', sink, conf, redis)
            run_stalled('redis', sink, dict(conf, rate_store_timeout=1000),
                        redis)
    finish()


if __name__ == '__main__':
    main()
