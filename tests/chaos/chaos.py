#!/usr/bin/python3
"""chaos.py: crash safety of the whole relay under load.

N messages (each with a unique serial in an X-Chaos-Serial header and
the body) are sent by parallel SMTP clients while a killer thread sends
SIGKILL to relay-send, relay-remote, relay-queue and relay-smtpd (and
now and then relay-listen and relay-policy) at random moments;
relay-master restarts its daemons. It also kills relay-remote's workers
(one process per relay-send connection, not relay-master's): the results
of their jobs are lost, relay-send defers them and reconnects. A client
that gets no reply, a 4xx or a broken connection tries again later on a
new connection, as a real MTA would (bounded retries), so a message
whose 250 was lost in a kill may arrive twice: that is a duplicate,
counted and reported (split into "queued twice": two queue ids, and
"delivered twice": one queue id, a kill between the receiver's 250 and
relay-send's state record). Each duplicate is blamed on the kill that
explains it (chaos_dups.py): the '# chaos:' line gives their count by
kind and daemon (dup_by_kill) and per kill of each daemon
(dup_per_kill), and a '# duplicate:' line each says which kill and how
long before or after (then a line says it all in words). A message that
got a 250 and never arrives is a loss: the test fails. One message in
BOUNCE_EVERY goes to a recipient the receiver refuses (550): for it the
DSN must arrive (it quotes the X-Chaos-Serial header). After the load
the queue must drain (bounded time), every daemon must be running again,
and the log must hold no sanitizer report. With the customer's archive
copy on (--archive ADDRESS, the default; `--archive maildir` for the
customer's folder; `--archive none` turns it off), every message that
got a 250 must also have its journal report arrive at the archive
address (or be in the maildir), with the message's envelope, and nothing
of the archive may reach a recipient.

    /usr/bin/python3 tests/chaos/chaos.py [--messages 5000] [--clients 8]
        [--max-seconds 300] [--min-seconds 60] [--kill-every 0.25]
        [--seed N] [--weights relay-policy=6,...] [--archive ADDR|none]

`make chaos` runs the full form; tests/e2e/test_chaos_short.py runs
run(messages=1000, min_seconds=12, ...) for `make test`.  Prints
PASS/FAIL lines and one '# chaos:' line with the numbers.

relay-master slows down the restart of a daemon that died 10 times in a
row within 10 s of its start (once every 30 s): the killer kills a daemon
at most QUICK_STREAK times in a row before it has lived 10 s, and never
one that started less than 1.5 s ago.
"""
import argparse
import os
import random
import re
import signal
import smtplib
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'e2e'))
from harness import Instance, Sink, check, finish, wait_until  # noqa: E402
from chaos_archive import ARCHIVE, archived, is_copy, rules  # noqa: E402
from chaos_dups import attribute, line, per_kill, summary  # noqa: E402

# relay-remote's worker for one relay-send connection (relay-master runs
# the listening parent, "relay-remote"): killed, the connection's results
# are lost and relay-send defers its jobs
WORKER = 'remote-worker'
# what the killer picks, with weights: the four of the issue often, the
# listener and policy now and then
TARGETS = (('relay-send', 6), ('relay-remote', 6), ('relay-queue', 6),
           ('relay-smtpd', 6), ('relay-listen', 1), ('relay-policy', 1),
           (WORKER, 3))
BOUNCE_EVERY = 50   # 2% of the messages bounce: their DSN must arrive
MAIN = ('relay-send', 'relay-remote', 'relay-queue', 'relay-smtpd')
QUICK_LIFE = 10.0   # relay-master's "died soon after start"
QUICK_STREAK = 4    # well below its 10-in-a-row slow-down: a daemon
                    # may also die by itself when its peer is down
SERIAL = re.compile(rb'^X-Chaos-Serial: (\d+)\r?$', re.M)
# relay-queue's Received header: "id <qid>" ends its line when "for <rcpt>;"
# follows (one recipient), else it ends with the ';'
QID = re.compile(rb'\bid ([0-9A-F]{10,})\b')
SANITIZER = re.compile(r'AddressSanitizer|LeakSanitizer|runtime error:')


def serial_of(data):
    g = SERIAL.search(data)
    return int(g.group(1)) if g else None


def rcpt(serial):
    """Every BOUNCE_EVERY-th serial goes to an address the receiver
    refuses with 550: what must arrive for it is the DSN (it carries the
    original header, X-Chaos-Serial included)."""
    if serial % BOUNCE_EVERY == BOUNCE_EVERY - 1:
        return 'bad%d@example.org' % serial
    return 'r%d@example.org' % serial


def message(serial):
    return (b'From: chaos@example.com\r\nTo: r%d@example.org\r\n'
            b'Subject: chaos %d\r\nMessage-ID: <chaos-%d@example.com>\r\n'
            b'X-Chaos-Serial: %d\r\n\r\nserial=%d\r\n%s\r\n' %
            (serial, serial, serial, serial, serial, b'x' * 200))


class Clients:
    """Parallel SMTP clients; .accepted holds each serial that got 250."""

    def __init__(self, port, n, nclients, deadline, min_seconds=0,
                 tries=30):
        self.port = port
        self.n = n
        self.todo = list(range(n))
        self.start_t = time.time()
        self.min_seconds = min_seconds
        self.lock = threading.Lock()
        self.accepted = set()
        self.given_up = set()
        self.refused = {}       # serial -> a permanent (5xx) reply
        self.failed = {}        # serial -> times of its failed tries
        self.retries = 0
        self.deadline = deadline
        self.tries = tries
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(nclients)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout):
        end = time.time() + timeout
        for t in self.threads:
            t.join(max(0.1, end - time.time()))
        return not any(t.is_alive() for t in self.threads)

    def _next(self):
        """The next serial, not before its share of min_seconds: the load
        is spread over at least that long, so the killer has time."""
        with self.lock:
            if not self.todo:
                return None
            k = self.n - len(self.todo)
            serial = self.todo.pop()
        wait = self.start_t + self.min_seconds * k / self.n - time.time()
        if wait > 0:
            time.sleep(wait)
        return serial

    def _run(self):
        conn, used = None, 0
        while True:
            serial = self._next()
            if serial is None:
                break
            conn, used = self._send(serial, conn, used)
        if conn:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                pass

    def _send(self, serial, conn, used):
        """Try serial until it gets 250, a 5xx, or the tries run out;
        returns the connection to reuse (None after any failure)."""
        for attempt in range(self.tries):
            if time.time() > self.deadline:
                break
            try:
                if conn is None or used >= 10:
                    if conn:
                        conn.quit()
                    conn, used = smtplib.SMTP('127.0.0.1', self.port,
                                              timeout=20), 0
                    code, text = conn.ehlo('chaos.test')
                    if code != 250:
                        # smtplib would go on to MAIL (and get 503):
                        # a 4xx to EHLO is a temporary failure
                        raise smtplib.SMTPResponseException(
                            code, b'EHLO: ' + text)
                conn.sendmail('chaos@example.com',
                              [rcpt(serial)], message(serial))
                with self.lock:
                    self.accepted.add(serial)
                return conn, used + 1
            except smtplib.SMTPRecipientsRefused as e:
                code, text = list(e.recipients.values())[0]
                text = b'RCPT: ' + text
            except smtplib.SMTPResponseException as e:
                code, text = e.smtp_code, e.smtp_error
                if isinstance(e, smtplib.SMTPSenderRefused):
                    text = b'MAIL: ' + text
            except (OSError, smtplib.SMTPException):
                code = 0        # no reply, connection broken: try again
            if conn:
                try:
                    conn.close()
                except OSError:
                    pass
            conn = None
            with self.lock:
                self.failed.setdefault(serial, []).append(time.time())
            if 500 <= code < 600:
                with self.lock:
                    self.refused[serial] = '%d %s at %s' % (
                        code, text.decode(errors='replace'),
                        time.strftime('%H:%M:%S'))
                return None, 0
            with self.lock:
                self.retries += 1
            time.sleep(random.uniform(0.05, 0.3) * min(attempt + 1, 5))
        with self.lock:
            self.given_up.add(serial)
        return None, 0


def pids_of(inst, name):
    """The pids running bin/<name> -d <this instance>: relay-smtpd
    sessions are relay-listen's children, not in run/status."""
    return inst.pids([name])


def status_full(inst):
    """run/status as {name: (pid, started)}."""
    out = {}
    try:
        with open(inst.path('run/status')) as f:
            for line in f:
                w = line.split()
                if len(w) == 5:
                    out[w[0]] = (int(w[1]), int(w[3]))
    except (OSError, ValueError):
        pass
    return out


class Killer:
    """kill -9 a random daemon every kill_every s (on average)."""

    def __init__(self, inst, kill_every, rng):
        self.inst = inst
        self.kill_every = kill_every
        self.rng = rng
        self.kills = {name: 0 for name, _ in TARGETS}
        self.streak = {name: 0 for name, _ in TARGETS}
        self.events = []    # (time, name) of each kill, in order
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def finish(self):
        self.stop.set()
        self.thread.join(10)

    def _run(self):
        while not self.stop.wait(self.rng.uniform(0.3, 1.7) *
                                 self.kill_every):
            now = self._eligible()
            first = [t for t in now if not self.kills[t[0]] and
                     t[0] in MAIN]
            if first:   # each of the four at least once, early
                self._kill(first[0][0], first[0][1])
            elif now:
                name, pid = self.rng.choices(
                    [(n, p) for n, p, _ in now], [w for _, _, w in now])[0]
                self._kill(name, pid)

    def _eligible(self):
        """(name, pid, weight) of each daemon that may be killed now: a
        master child that has lived 1.5 s (it is up again) and has not
        died quickly QUICK_STREAK times in a row; any relay-smtpd."""
        out = []
        st = status_full(self.inst)
        for name, weight in TARGETS:
            if name in ('relay-smtpd', WORKER):
                pids = pids_of(self.inst, 'relay-remote'
                               if name == WORKER else name)
                if name == WORKER:
                    pids = [p for p in pids if p != st.get(
                        'relay-remote', (0, 0))[0]]
                if pids:
                    out.append((name, self.rng.choice(pids), weight))
                continue
            pid, started = st.get(name, (0, 0))
            lived = time.time() - started
            if pid <= 1 or lived < 1.5:
                continue    # not running, or just restarted
            if lived >= QUICK_LIFE + 1.5:   # started is whole seconds
                self.streak[name] = 0
            if self.streak[name] < QUICK_STREAK:
                out.append((name, pid, weight))
        return out

    def _kill(self, name, pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.kills[name] += 1
        self.events.append((time.time(), name))
        if name not in ('relay-smtpd', WORKER):
            # a death within QUICK_LIFE s of the start: one more in a row
            # for relay-master (started is whole seconds: be pessimistic)
            started = status_full(self.inst).get(name, (0, 0))[1]
            if time.time() - started < QUICK_LIFE + 1.5:
                self.streak[name] += 1


def qid_of(data):
    q = QID.search(data)
    return q.group(1).decode() if q else '?'


def arrivals(sink, archive=None):
    """(serial -> times it arrived, serial -> set of queue ids): one
    serial under two queue ids was queued twice (its 250 was lost, the
    client sent it again); the same queue id twice was delivered twice
    (relay-send or relay-remote killed before the result was recorded).
    Archive copies are not arrivals (archived() counts them)."""
    seen, qids = {}, {}
    with sink.lock:
        msgs = list(sink.messages)
    for m in msgs:
        if is_copy(m, archive):
            continue
        g = SERIAL.search(m.data)
        if g:
            s = int(g.group(1))
            seen[s] = seen.get(s, 0) + 1
            qids.setdefault(s, set()).add(qid_of(m.data))
    return seen, qids


def drain(inst, sink, clients, timeout, archive=None):
    """Wait until every accepted serial arrived (and its archive copy)
    and the queue is empty; ask relay-send to retry everything now and
    then (deferred after a kill), as an operator would."""
    deadline = time.time() + timeout
    last_flush = 0
    while time.time() < deadline:
        seen = arrivals(sink, archive)[0]
        copies = archived(inst, sink, archive, serial_of, rcpt)[0]
        if (clients.accepted <= set(seen) and
                (not archive or clients.accepted <= set(copies)) and
                inst.queue_count() == 0):
            return True
        if time.time() - last_flush > 5:
            inst.relayctl('queue', 'flush', timeout=20)
            last_flush = time.time()
        time.sleep(0.5)
    return False


def all_running(inst):
    st = status_full(inst)
    return all(st.get(n, (0, 0))[0] > 1 for n, _ in TARGETS
               if n not in ('relay-smtpd', WORKER))


def run(messages=5000, nclients=8, max_seconds=300, kill_every=0.4,
        seed=None, tag='chaos', min_seconds=60, archive=ARCHIVE):
    """One chaos run; PASS/FAIL lines through harness.check; returns the
    numbers as a dict."""
    seed = seed if seed is not None else int(time.time())
    rng = random.Random(seed)
    start = time.time()
    load_end = start + max_seconds * 0.6      # the rest is for draining
    bad = {rcpt(s): 550 for s in range(messages) if 'bad' in rcpt(s)}
    with Sink(codes=bad) as sink, \
            Instance(sink=sink, rules_text=rules(archive)) as inst:
        clients = Clients(inst.port, messages, nclients, load_end,
                          min_seconds).start()
        killer = Killer(inst, kill_every, rng).start()
        clients.join(max(1, load_end - time.time() + 25))
        killer.finish()
        load_s = time.time() - start
        check('%s: every daemon runs again after the kills' % tag,
              wait_until(lambda: all_running(inst), 40, 0.2), inst.log_tail())
        drained = drain(inst, sink, clients,
                        max(30, start + max_seconds - time.time()), archive)
        seen, qids = arrivals(sink, archive)
        copies, bad_copies = archived(inst, sink, archive, serial_of, rcpt)
        lost_copies = sorted(clients.accepted - set(copies))
        lost = sorted(clients.accepted - set(seen))
        dups = sum(n - 1 for n in seen.values())
        queued_twice = sum(len(q) - 1 for q in qids.values())
        got = len(clients.accepted)
        r = dict(seed=seed, messages=messages, accepted=got,
                 given_up=len(clients.given_up), refused=len(clients.refused),
                 retries=clients.retries, arrived=sum(seen.values()),
                 dsns=len([m for m in sink.messages
                           if m.mail_from in ('', '<>') and
                           not is_copy(m, archive)]),
                 copies=sum(copies.values()), lost_copies=len(lost_copies),
                 unique=len(seen), lost=len(lost), duplicates=dups,
                 dup_queued_twice=queued_twice,
                 dup_delivered_twice=dups - queued_twice,
                 kills=dict(killer.kills), load_s=round(load_s),
                 total_s=round(time.time() - start))
        with sink.lock:
            msgs = list(sink.messages)
        extra = attribute(msgs, serial_of, qid_of,
                          lambda m: is_copy(m, archive), killer.events,
                          clients.failed)
        r['dup_by_kill'] = summary(extra)
        r['dup_per_kill'] = per_kill(extra, killer.kills)
        print('# %s: %s' % (tag, r), flush=True)
        for d in extra[:40]:
            print('# duplicate: %s' % d, flush=True)
        print('# %s: %s' % (tag, line(extra, killer.kills)), flush=True)
        check('%s: the killer killed each kind of daemon' % tag,
              all(killer.kills[n] > 0 for n in MAIN),
              repr(killer.kills))
        check('%s: most messages got a 250 despite the kills (%d/%d)' %
              (tag, got, messages), got >= messages * 0.9,
              'given up %d' % len(clients.given_up))
        check('%s: no permanent refusal caused by a crash' % tag,
              not clients.refused, repr(list(clients.refused.items())[:10]))
        check('%s: every message that got 250 arrived (lost %d)' %
              (tag, len(lost)), not lost,
              'lost serials %r\n%s' % (lost[:20], inst.log_tail()))
        if archive:
            check('%s: every message that got 250 has its archive copy '
                  '(lost %d)' % (tag, len(lost_copies)), not lost_copies,
                  'serials without a copy %r\n%s' % (lost_copies[:20],
                                                     inst.log_tail()))
            check('%s: each copy holds its message\'s envelope' % tag,
                  not bad_copies, repr(bad_copies[:3]))
            check('%s: no recipient got anything of the archive' % tag,
                  not [m for m in sink.messages if not is_copy(m, archive)
                       and (archive in m.rcpts or
                            b'X-Relaybox-Journal' in m.data)])
        dsn = [m for m in sink.messages if m.mail_from in ('', '<>') and
               not is_copy(m, archive)]
        check('%s: the bounces are DSNs to the sender, a refused '
              'recipient never got a message' % tag,
              all(m.rcpts == ['chaos@example.com'] for m in dsn) and
              not [m for m in sink.messages
                   if any(r.startswith('bad') for r in m.rcpts)],
              repr(dsn[:3]))
        check('%s: nothing arrived that was never sent' % tag,
              all(0 <= s < messages for s in seen))
        check('%s: the queue drained' % tag, drained and
              inst.queue_count() == 0, '%d left\n%s' %
              (inst.queue_count(), inst.log_tail()))
        log = inst.log().splitlines()
        slow = [x for x in log if 'in a row within' in x]
        check('%s: the killer never drove relay-master into its restart '
              'slow-down' % tag, not slow, '\n'.join(slow[:5]))
        if clients.given_up:
            print('# note: gave up after %d tries: serials %r' %
                  (clients.tries, sorted(clients.given_up)[:20]), flush=True)
        bad = [line for line in log if SANITIZER.search(line)]
        check('%s: no sanitizer report in the log' % tag, not bad,
              '\n'.join(bad[:20]))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--messages', type=int, default=5000)
    ap.add_argument('--clients', type=int, default=8)
    ap.add_argument('--max-seconds', type=int, default=300)
    ap.add_argument('--kill-every', type=float, default=0.25)
    ap.add_argument('--min-seconds', type=float, default=60,
                    help='spread the load over at least this long')
    ap.add_argument('--seed', type=int)
    ap.add_argument('--weights', help='e.g. relay-policy=6,relay-smtpd=1: '
                    'how often each daemon is picked')
    ap.add_argument('--archive', default=ARCHIVE,
                    help='the customer\'s archive address (default %s), '
                    'maildir, or none' % ARCHIVE)
    a = ap.parse_args()
    if a.weights:
        global TARGETS
        w = dict(TARGETS)
        for item in a.weights.split(','):
            name, _, n = item.partition('=')
            if name not in w:
                ap.error('unknown daemon %r' % name)
            w[name] = int(n)
        TARGETS = tuple(w.items())
    run(a.messages, a.clients, a.max_seconds, a.kill_every, a.seed,
        min_seconds=a.min_seconds,
        archive=None if a.archive == 'none' else a.archive)
    finish()


if __name__ == '__main__':
    main()
