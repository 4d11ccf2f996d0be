#!/usr/bin/python3
"""test_queue_ctl.py: relayctl queue list/show/hold/release/delete/flush
against a running instance.  A held message is not delivered even when
flushed; a released one is picked up again and delivered on flush; a
deleted one leaves new/ and state/ and is never delivered.
Durability, seen through strace: hold and release fsync the destination,
then the source directory after their rename; delete fsyncs new/ and
state/ after its unlinks.  A delete waits while the file has a second
link (a message relay-queue is still naming beside its pool file) and
refuses with 111 when the link stays."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Instance, Sink, check, finish  # noqa: E402
from test_delivery import inject, wait  # noqa: E402

STRACE = ['strace', '-f', '-qq', '-y', '-e',
          'trace=openat,rename,renameat,renameat2,unlink,unlinkat,fsync']


def delivered(sink, rcpt):
    return len([m for m in sink.messages if rcpt in m.rcpts])


def traced(inst, name, *args):
    """Start relayctl args under strace, its trace in the file name.
    LeakSanitizer cannot stop a traced process's threads: it is off."""
    asan = os.environ.get('ASAN_OPTIONS', '')
    env = dict(os.environ, ASAN_OPTIONS=asan + (':' if asan else '') +
               'detect_leaks=0')
    return subprocess.Popen(
        STRACE + ['-o', inst.path(name), os.path.join(BIN, 'relayctl'),
                  '-d', inst.dir] + list(args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def trace_of(inst, name):
    try:
        with open(inst.path(name)) as f:
            return f.read()
    except OSError:
        return ''


def in_order(text, *regexes):
    """True when text has a line matching each regex, in that order."""
    lines, i = text.splitlines(), 0
    for rx in regexes:
        while i < len(lines) and not re.search(rx, lines[i]):
            i += 1
        if i == len(lines):
            return False
        i += 1
    return True


def renamed(sub_from, sub_to, qid):
    return r'rename\w*\(.*/%s/%s".*/%s/%s"' % (sub_from, qid, sub_to, qid)


def synced(inst, sub):
    real = os.path.realpath(inst.path('queue/' + sub))
    return r'(^|\s)fsync\(\d+<%s>\)\s+= 0' % re.escape(real)


def run_traced(inst, name, *args):
    p = traced(inst, name, *args)
    out, err = p.communicate(timeout=60)
    return p.returncode, out + err, trace_of(inst, name)


def link_extra(inst, qid, extra):
    """A second name for new/<qid> in pool/, as relay-queue's naming
    thread leaves one for a moment."""
    if os.path.exists(extra):
        os.unlink(extra)
    os.link(inst.path('queue/new/' + qid), extra)


def refused_delete(inst, qid, extra):
    """A second link that stays: delete waits ~2 s, then refuses."""
    link_extra(inst, qid, extra)
    t0 = time.monotonic()
    r = inst.relayctl('queue', 'delete', qid)
    took = time.monotonic() - t0
    os.unlink(extra)
    check('delete of a file with a second link: refused, exit 111',
          r.returncode == 111 and 'relayctl: %s: being queued, try again '
          '(if it stays so, relay-queue could not name it: see its log)\n'
          % qid in r.stderr, r.stdout + r.stderr)
    check('delete waited for the second link to go (~2 s)', took >= 1.5,
          '%.2f s' % took)
    check('refused delete: message and state stay',
          os.path.exists(inst.path('queue/new/' + qid)) and
          os.path.exists(inst.path('queue/state/' + qid)))


def refused_pair(inst, qids, extra):
    """Two messages with a second link each: one wait of ~2 s for the
    command, not one a message."""
    extras = [extra + str(i) for i in range(len(qids))]
    for qid, x in zip(qids, extras):
        link_extra(inst, qid, x)
    t0 = time.monotonic()
    r = inst.relayctl('queue', 'delete', *qids)
    took = time.monotonic() - t0
    for x in extras:
        os.unlink(x)
    check('delete of two with second links: both refused, exit 111',
          r.returncode == 111 and r.stderr.count('being queued') == 2,
          r.stdout + r.stderr)
    check('one wait for the command (~2 s, not ~4)', 1.5 <= took < 3.5,
          '%.2f s' % took)


def waiting_delete(inst, qid, extra):
    """A second link removed 0.3 s after relayctl opened the message:
    delete waits for it, then deletes, then syncs new/ and state/."""
    link_extra(inst, qid, extra)
    p = traced(inst, 'delete.trace', 'queue', 'delete', qid)
    try:
        reached = wait(lambda: '/new/%s"' % qid in
                       trace_of(inst, 'delete.trace'), 20)
        time.sleep(0.3)
        waiting = os.path.exists(inst.path('queue/new/' + qid))
        os.unlink(extra)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    tr = trace_of(inst, 'delete.trace')
    check('delete waits while the second link is there',
          reached and waiting, tr[-3000:])
    check('delete: exit 0 once the second link is gone', p.returncode == 0,
          out + err)
    check('delete: fsync of pool/ after the wait, of new/ and state/ '
          'after the unlinks',
          in_order(tr, synced(inst, 'pool'), r'unlink\w*\(.*/new/%s"' % qid,
                   r'unlink\w*\(.*/state/%s"' % qid,
                   synced(inst, 'new'), synced(inst, 'state')), tr[-3000:])


def two_stuck(inst):
    """Two more deferred messages (with their state files); their ids."""
    before = set(os.listdir(inst.path('queue/new')))
    for i in range(2):
        inject(inst, 'b@example.com', ['stuck@example.org'],
               b'Subject: stuck %d\r\n\r\nz\r\n' % i)
    ids = [x for x in os.listdir(inst.path('queue/new')) if x not in before]
    wait(lambda: all(os.path.exists(inst.path('queue/state/' + x))
                     for x in ids), 20)
    return ids


def pool_syncs_by_ctime(inst):
    """pool/ is fsync'd before an unlink unless the last fsync began
    after the file's last change of links (its ctime): two messages
    whose links last changed before the command need one fsync, before
    the first unlink.  (One whose pool name goes after that fsync needs
    another: that window is between two of relayctl's system calls and
    is not made here.)"""
    ids = two_stuck(inst)
    time.sleep(2.5)  # past the margin for coarse file times (2 s)
    rc, out, tr = run_traced(inst, 'delete-two.trace', 'queue', 'delete',
                             *ids)
    n = len([ln for ln in tr.splitlines() if re.search(synced(inst, 'pool'),
                                                       ln)])
    check('delete of two: one fsync of pool/, before the first unlink',
          rc == 0 and n == 1 and
          in_order(tr, synced(inst, 'pool'), r'unlink\w*\(.*/new/'),
          '%d: %s' % (n, out))


with Sink(codes={'slow@example.org': [451, 250],
                 'stuck@example.org': 451}) as sink, \
        Instance(sink=sink, conf_overrides={'retry_min': 3600,
                                            'retry_max': 3600}) as inst:
    rc, err = inject(inst, 'a@example.com', ['slow@example.org'],
                     b'Subject: slow\r\n\r\nx\r\n')
    check('inject slow', rc == 0, err)
    rc, err = inject(inst, 'b@example.com', ['stuck@example.org'],
                     b'Subject: stuck\r\n\r\ny\r\n')
    check('inject stuck', rc == 0, err)
    check('both deferred once',
          inst.wait_log(r'relay-send.*to=<slow@example.org>.*deferred', 30)
          and inst.wait_log(r'relay-send.*to=<stuck@example.org>.*deferred',
                            30), inst.log_tail())
    ids = sorted(os.listdir(inst.path('queue/new')))
    check('two messages in new/', len(ids) == 2, repr(ids))
    slow, stuck = ids[0], ids[1]

    r = inst.relayctl('queue', 'list')
    check('list: exit 0', r.returncode == 0, r.stderr)
    line = [x for x in r.stdout.splitlines() if x.startswith(slow)]
    check('list: id, sender, pending, next, last error',
          line and '<a@example.com>' in line[0] and ' 1/1 in ' in line[0]
          and '4.' in line[0], r.stdout)
    check('list: pending recipient shown', '    <slow@example.org>' in r.stdout,
          r.stdout)
    r = inst.relayctl('queue', 'show', slow)
    check('show: envelope, state, headers',
          r.returncode == 0 and 'from: <a@example.com>' in r.stdout and
          'rcpt 0: <slow@example.org> T attempts=1 last=451' in r.stdout and
          'Subject: slow' in r.stdout, r.stdout + r.stderr)
    r = inst.relayctl('queue', 'show', 'NOSUCHID')
    check('show: unknown id exits 100', r.returncode == 100)
    # An id is a queue name, never a path: nothing outside new/ and hold/
    # is opened or reported on.
    for bad in ('../../relay.conf', '', '.', '..', '../new', 'abc',
                slow + '/'):
        r = inst.relayctl('queue', 'show', bad)
        check('show: %r is no message' % bad, r.returncode == 100 and
              r.stdout == '' and
              'relayctl: queue: no message %s' % bad in r.stderr,
              repr((r.returncode, r.stdout, r.stderr)))
    r = inst.relayctl('queue', 'hold', 'NOSUCHID')
    check('hold: unknown id exits 100, naming the command',
          r.returncode == 100 and
          'relayctl: queue hold: no message matched' in r.stderr, r.stderr)
    r = inst.relayctl('queue', 'release')
    check('release: usage names the command', r.returncode == 100 and
          'usage: relayctl queue release ' in r.stderr, r.stderr)

    rc, out, tr = run_traced(inst, 'hold.trace', 'queue', 'hold', '--to',
                             'slow@*')
    check('hold --to: exit 0', rc == 0, out + tr[-3000:])
    check('hold: after the rename, fsync of hold/ then of new/',
          in_order(tr, renamed('new', 'hold', slow), synced(inst, 'hold'),
                   synced(inst, 'new')), tr[-3000:])
    check('hold: moved to hold/',
          os.listdir(inst.path('queue/hold')) == [slow] and
          slow not in os.listdir(inst.path('queue/new')))
    r = inst.relayctl('queue', 'list')
    check('list: held shown', any(x.startswith(slow) and 'held' in x
                                  for x in r.stdout.splitlines()), r.stdout)
    r = inst.relayctl('queue', 'flush')
    check('flush: exit 0', r.returncode == 0, r.stderr)
    check('flush: relay-send retries',
          inst.wait_log(r'flush: retrying', 10), inst.log_tail())
    time.sleep(2)
    check('held message not delivered on flush',
          delivered(sink, 'slow@example.org') == 0)
    check('the other one was retried (deferred again)',
          wait(lambda: len(re.findall(r'relay-send.*to=<stuck@example.org>',
                                      inst.log())) >= 2, 10),
          inst.log_tail())

    rc, out, tr = run_traced(inst, 'release.trace', 'queue', 'release', slow)
    check('release: exit 0', rc == 0, out + tr[-3000:])
    check('release: after the rename, fsync of new/ then of hold/',
          in_order(tr, renamed('hold', 'new', slow), synced(inst, 'new'),
                   synced(inst, 'hold')), tr[-3000:])
    check('release: back in new/', slow in os.listdir(inst.path('queue/new')))
    time.sleep(1)
    inst.relayctl('queue', 'flush')
    check('released message delivered after flush',
          wait(lambda: delivered(sink, 'slow@example.org') == 1, 20),
          inst.log_tail())

    rc, err = inject(inst, 'b@example.com', ['stuck@example.org'],
                     b'Subject: stuck again\r\n\r\nz\r\n')
    check('inject a second stuck one', rc == 0, err)
    again = [x for x in os.listdir(inst.path('queue/new'))
             if x not in (slow, stuck)]
    check('it is tried and deferred (a state file)', len(again) == 1 and
          wait(lambda: os.path.exists(inst.path('queue/state/' + again[0])),
               20), repr(again))
    extra = inst.path('queue/pool/ctlq-test-link')
    refused_delete(inst, again[0], extra)
    refused_pair(inst, [again[0], stuck], extra)
    waiting_delete(inst, stuck, extra)
    r = inst.relayctl('queue', 'delete', again[0])
    check('delete once the second link is gone: exit 0', r.returncode == 0,
          r.stdout + r.stderr)
    check('queue empty after delete and delivery',
          inst.wait_queue_empty(20) and
          not os.listdir(inst.path('queue/state')),
          repr(os.listdir(inst.path('queue/new'))))
    n = len(inst.log().split('to=<stuck@example.org>'))
    inst.relayctl('queue', 'flush')
    time.sleep(2)
    check('deleted message not tried again',
          len(inst.log().split('to=<stuck@example.org>')) == n)
    r = inst.relayctl('queue', 'hold', 'NOSUCHID')
    check('hold of nothing exits 100', r.returncode == 100)
    check('delivered exactly once', delivered(sink, 'slow@example.org') == 1)
    pool_syncs_by_ctime(inst)
finish()
