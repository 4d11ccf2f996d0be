#!/usr/bin/python3
"""test_queue_seal.py: the seal line and the commit's fast path
(queue/QUEUE.md, "The seal").
  - every queue file relay-queue writes has `seal=<64 hex>` as its second
    line; a message answered from its pool file has the SHA-256 of the
    file with those 64 characters taken as `0`s, computed here
    independently, on files in new/ (written by the daemon from memory
    and from its spool) and on one relay-send retired into pool/; one
    queued by hand (no pool) and an archive copy keep the zeros, so that
    nothing but an answered message is ever named from pool/; relayctl
    queue show does not list it, the message delivered does not carry
    it, and an envelope's `Iseal=` field is refused (100);
  - relay-queue's start, on files planted in pool/: a sealed file whose
    qid is not its name (committed, not yet named) is delivered once and
    its pool name is gone; a torn one (a byte changed after sealing), an
    unsealed one (all zeros), a retired one (qid = name) are never
    delivered and stay in pool/; a sealed one that is also hold/<qid>
    stays held and loses its pool name; one that is also new/<qid>
    (sealed, or not, as a slow-path message is), and a retired one that
    is still new/<qid>, are delivered once and lose their pool names
    (planted with os.link, so with two links; the one-link state a power
    cut leaves, where the file is left alone, needs a filesystem image
    and is not made here);
  - the crash window: relay-queue answered status 0 for a message written
    into a pool file, then was killed (kill -9) before the file was named
    in new/ (its naming thread held in linkat by tests/e2e/hang_link.c):
    the restarted relay-queue names it, and it is delivered exactly
    once;
  - a link into new/ that fails (ENOSPC from the same shim): the message
    is answered, kept in pool/ and not delivered, the failure is logged
    at the 1st, 2nd, 4th and 8th of its once-a-second tries only, and
    once the link works it is named, logged, and delivered once; the
    same at a start: a message caught in the crash window whose link at
    the restart fails is tried again, named once it works, and delivered
    once;
  - delivered between its link into new/ and the removal of its pool
    name (unlinkat held by the same shim), then relay-queue killed: the
    big message is retired into pool/<qid> (not unlinked), and the
    restart drops the pool name instead of delivering it again; when
    that retire fails (ENOSPC from the shim) the message is kept in new/,
    neither unlinked nor delivered again; when the write of its results
    fails too (ENOSPC from the same shim), it is delivered once, not in
    a loop, kept in new/ until named, then taken out."""
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, DEFAULT_RULES, ROOT, Instance, Sink,  # noqa: E402
                     check, finish, queue_inject, smtp_session, wait_until)
from test_delivery import inject as inject_by_hand  # noqa: E402

HEAD = b'relaybox-queue 1\nseal='
ZERO = b'0' * 64
SHIM = os.path.join(ROOT, 'build', 'hang_link.so')
_ids = [0]
BIG = (b'x' * 78 + b'\r\n') * 16000  # 1.25 MiB: spooled (SPOOL_MEM)
# over relay-send's SEND_POOL_FILE_MAX (64 KiB), which it unlinks once
# delivered, under relay-queue's SPOOL_MEM (so the fast path)
BIG_POOLED = (b'y' * 78 + b'\r\n') * 1300


# --- the seal, computed here from the contract alone ----------------------
def seal_calc(data):
    off = len(HEAD)
    return hashlib.sha256(data[:off] + ZERO + data[off + 64:]) \
        .hexdigest().encode()


def seal_stored(data):
    """The 64 characters of the seal line, or None when there is none."""
    end = len(HEAD) + 64
    if not data.startswith(HEAD) or data[end:end + 1] != b'\n':
        return None
    return data[len(HEAD):len(HEAD) + 64]


def seal_valid(data):
    s = seal_stored(data)
    return s is not None and s != ZERO and s == seal_calc(data)


def sealed(data):
    off = len(HEAD)
    data = data[:off] + ZERO + data[off + 64:]
    return data[:off] + seal_calc(data) + data[off + 64:]


# --- the relay -----------------------------------------------------------
def inject(inst, rcpt, subject, info=b'', body=None):
    """One message through run/queue.sock; relay-queue's answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect(inst.path('run/queue.sock'))
        return queue_inject(
            s, b'Subject: %s\r\n\r\n%s' % (
                subject, body or b'body of %s\r\n' % subject),
            b'Iip=127.0.0.1\0Ihelo=client.test\0' + info +
            b'Fa@example.com\0T' + rcpt.encode() + b'\0\0') or {}
    finally:
        s.close()


def fresh_qid():
    """An id in relay-queue's form no process of its makes (pid FFFFE)."""
    _ids[0] += 1
    return '%08X%05X%05X0' % (int(time.time()), _ids[0], 0xFFFFE)


def read(inst, rel):
    try:
        with open(inst.path(rel), 'rb') as f:
            return f.read()
    except OSError:
        return None


def header_qid(data):
    m = re.search(rb'^qid=([0-9A-F]+)$', data.split(b'\n\n', 1)[0], re.M)
    return m.group(1).decode() if m else None


def count(sink, rcpt):
    return sum(1 for r, _ in sink.recipients() if r == rcpt)


def pid_of(inst, name):
    return inst.status().get(name, (0,))[0]


# --- the seal on real files ----------------------------------------------
def test_retired(sink, inst):
    """The retired file's path (the template for the plants), or None."""
    rep = inject(inst, 'sealed@example.org', b'sealed')
    qid = rep.get('id')
    check('a message is queued', rep.get('status') == '0', repr(rep))
    check('and delivered', sink.wait_rcpts('sealed@', 1, 20) == 1,
          inst.log_tail())
    check('it arrives without the seal line',
          all(b'seal=' not in m.data for r, m in sink.recipients()
              if r == 'sealed@example.org'), repr(sink.messages))
    retired = 'queue/pool/%s' % qid
    check('relay-send retired it into pool/<qid>',
          wait_until(lambda: os.path.exists(inst.path(retired)), 20),
          sorted(os.listdir(inst.path('queue/pool')))[-3:])
    data = read(inst, retired) or b''
    stored = seal_stored(data)
    check('its second line is seal=<64 hex>', stored is not None and
          re.fullmatch(rb'[0-9a-f]{64}', stored), repr(data[:120]))
    check('the seal is not all zeros', stored not in (None, ZERO),
          repr(stored))
    check('the seal is the SHA-256 of the file with it taken as zeros',
          stored == seal_calc(data), '%r != %r' % (stored, seal_calc(data)))
    return inst.path(retired) if data else None


def queued_file(inst, rcpt):
    """The file in new/ of the message to rcpt (the sink defers it);
    named there maybe only after its answer (the fast path)."""
    def find():
        for n in os.listdir(inst.path('queue/new')):
            data = read(inst, 'queue/new/' + n) or b''
            head = data.split(b'\n\n')[0] + b'\n'
            if b'\nrcpt=%s\n' % rcpt.encode() in head:
                return n, data
        return None
    return wait_until(find, 10) or (None, b'')


def test_queued(inst):
    """Files waiting in new/, written by the daemon (a message in
    memory, one spooled to disk: over 1 MiB) and by hand."""
    rep = inject(inst, 'later@example.org', b'later')
    check('a deferred message is queued', rep.get('status') == '0', repr(rep))
    qid, data = queued_file(inst, 'later@example.org')
    check('its file in new/ is sealed too', seal_valid(data),
          repr(data[:120]))
    r = inst.relayctl('queue', 'show', qid or 'X')
    check('relayctl queue show does not list the seal',
          r.returncode == 0 and 'later@example.org' in r.stdout
          and 'seal' not in r.stdout, r.stdout + r.stderr)
    rep = inject(inst, 'big@example.org', b'big', body=BIG)
    _, data = queued_file(inst, 'big@example.org')
    check('a message spooled to disk (over 1 MiB) is sealed',
          rep.get('status') == '0' and seal_valid(data), repr(rep))
    rc, err = inject_by_hand(inst, 'a@example.com', ['byhand@example.org'],
                             b'Subject: by hand\r\n\r\nx\r\n')
    _, data = queued_file(inst, 'byhand@example.org')
    check('a message queued by hand (relay-queue without -l, no pool) '
          'keeps a zero seal', rc == 0 and seal_stored(data) == ZERO,
          err + repr(data[:120]))


def test_archive_copy(inst):
    with smtp_session(inst.port) as c:  # customer example: archived
        c.sendmail('a@example.com', ['kept@example.org'],
                   b'Subject: kept\r\n\r\nkept\r\n')
    m = inst.wait_log(r'relay-queue.*: ([0-9A-F]+): archive=([0-9A-F]+)$',
                      20)
    copy = 'queue/pool/%s' % (m.group(2) if m else 'X')
    orig = 'queue/pool/%s' % (m.group(1) if m else 'X')
    check('the archive copy is delivered and retired', m and wait_until(
        lambda: os.path.exists(inst.path(copy)) and
        os.path.exists(inst.path(orig)), 20), inst.log_tail())
    data = read(inst, copy) or b''
    check('the archive copy keeps a zero seal (never answered from '
          'pool/)', seal_stored(data) == ZERO, repr(data[:120]))
    # named the usual way (the copy first): were it sealed, a crash before
    # its name would let the restart deliver it without its copy
    data = read(inst, orig) or b''
    check('a message with an archive copy keeps a zero seal',
          seal_stored(data) == ZERO, repr(data[:120]))
    rep = inject(inst, 'forged@example.org', b'forged', b'Iseal=x\0')
    check('an envelope field Iseal= is refused (100)',
          rep.get('status') == '100', repr(rep))


# --- what relay-queue's start does with pool files -----------------------
def make_plant(template, qid, rcpt, kind):
    """The retired file, made message qid to rcpt: sealed, torn (sealed,
    then a byte of the message changed), or unsealed (zeros)."""
    old_qid = header_qid(template)
    old_rcpt = b'sealed@example.org'
    data = template.replace(old_qid.encode(), qid.encode()) \
        .replace(old_rcpt, rcpt.encode())
    if seal_stored(data) is None:  # a relay-queue without seals wrote it
        data = HEAD + ZERO + b'\n' + data[len(HEAD) - len(b'seal='):]
    data = data[:len(HEAD)] + ZERO + data[len(HEAD) + 64:]
    if kind == 'zero':
        return data
    data = sealed(data)
    if kind == 'torn':
        data = data[:-3] + bytes([data[-3] ^ 0x01]) + data[-2:]
    return data


def plant(inst, st, name, data, also=None):
    """pool/<name> holding data, owned and moded as st (a real pool
    file); also: a second name of it (hold/<qid>, new/<qid>)."""
    tmp = inst.path('plant.tmp')
    with open(tmp, 'wb') as f:
        f.write(data)
    os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, st.st_mode & 0o7777)
    if also:
        os.link(tmp, inst.path(also))
    os.rename(tmp, inst.path('queue/pool/' + name))


def plant_all(inst, retired):
    """Each kind of pool file made from the retired one: {kind: (qid,
    pool name, rcpt)}."""
    with open(retired, 'rb') as f:
        template = f.read()
    st = os.stat(retired)
    cases = {}
    for kind in ('sealed', 'torn', 'zero', 'held', 'named', 'pooled',
                 'halfretired', 'zeronamed'):
        qid, name = fresh_qid(), fresh_qid()
        if kind == 'halfretired':  # relay-send's rename half on disk
            name = qid
        rcpt = 'plant-%s@example.org' % kind
        also = {'held': 'queue/hold/' + qid, 'pooled': 'queue/pool/' + qid,
                'named': 'queue/new/' + qid,
                'halfretired': 'queue/new/' + qid,
                'zeronamed': 'queue/new/' + qid}.get(kind)
        plant(inst, st, name, make_plant(
            template, qid, rcpt, 'zero' if kind == 'zeronamed' else
            kind if kind in ('torn', 'zero') else 'sealed'), also)
        cases[kind] = (qid, name, rcpt)
    return cases


def test_start(sink, inst, retired):
    inst.stop()
    cases = plant_all(inst, retired)
    inst.start()

    qid, name, rcpt = cases['sealed']
    check('start: a sealed pool file whose qid is not its name is '
          'delivered', sink.wait_rcpts(rcpt, 1, 20) == 1, inst.log_tail())
    check('start: and logged as recovered', inst.wait_log(
        r'relay-queue.*%s: recovered from pool/%s \(committed, not yet '
        r'named\)' % (qid, name), 5), inst.log_tail())
    check('start: its pool name is gone',
          not os.path.exists(inst.path('queue/pool/' + name)), name)
    check('start: a sealed file also in new/ is delivered',
          sink.wait_rcpts(cases['named'][2], 1, 20) == 1, inst.log_tail())
    check('start: a retired file still new/<qid> is delivered',
          sink.wait_rcpts(cases['halfretired'][2], 1, 20) == 1,
          inst.log_tail())
    check('start: an unsealed file also new/<qid> (renamed from pool/, '
          'pool/ never synced) is delivered',
          sink.wait_rcpts(cases['zeronamed'][2], 1, 20) == 1,
          inst.log_tail())
    time.sleep(3)  # what else would be delivered has been by now
    for kind in ('sealed', 'named', 'halfretired', 'zeronamed'):
        check('start: the %s file is delivered exactly once' % kind,
              count(sink, cases[kind][2]) == 1, repr(sink.messages))
    for kind in ('named', 'zeronamed'):
        check('start: the %s file also in new/ lost its pool name (never '
              'written over)' % kind, not os.path.exists(
                  inst.path('queue/pool/' + cases[kind][1])),
              cases[kind][1])
    for kind, what in (('torn', 'a torn file (a byte changed after '
                        'sealing)'), ('zero', 'an unsealed file (zeros)'),
                       ('held', 'a sealed file also in hold/'),
                       ('pooled', 'a sealed file also pool/<qid>')):
        check('start: %s is not delivered' % what,
              count(sink, cases[kind][2]) == 0, repr(sink.messages))
    for kind in ('torn', 'zero'):
        check('start: the %s file stays in pool/' % kind,
              os.path.exists(inst.path('queue/pool/' + cases[kind][1])),
              cases[kind][1])
    check('start: a retired file (qid = its name) is not delivered again',
          count(sink, 'sealed@example.org') == 1 and
          os.path.exists(retired), repr(sink.messages))
    qid, name, _ = cases['pooled']
    check('start: the one also pool/<qid> keeps that name only',
          os.path.exists(inst.path('queue/pool/' + qid)) and
          not os.path.exists(inst.path('queue/pool/' + name)), name)
    qid, name, _ = cases['held']
    check('start: the held one stays held',
          os.path.exists(inst.path('queue/hold/' + qid)), qid)
    check('start: and lost its pool name',
          not os.path.exists(inst.path('queue/pool/' + name)), name)


# --- the crash window ----------------------------------------------------
def preload_env(inst):
    """The daemons' environment: hang_link.so preloaded (a copy in the
    instance, which relay-queue's uid can read), armed for relay-queue.
    An ASan build wants its runtime first in the list: it is named
    first (found with ldd), which keeps ASan's link-order check on
    (ASAN_OPTIONS=verify_asan_link_order=0 would also do)."""
    shim = inst.path('hang_link.so')
    shutil.copy(SHIM, shim)
    os.chmod(shim, 0o644)
    out = subprocess.run(['ldd', os.path.join(BIN, 'relay-queue')],
                         stdout=subprocess.PIPE, text=True).stdout
    asan = re.findall(r'(\S*libasan\.so\S*) => (\S+)', out)
    os.mkdir(inst.path('hang'))
    os.chmod(inst.path('hang'), 0o777)  # relay-queue removes the marker
    return {'LD_PRELOAD': ' '.join([p for _, p in asan] + [shim]),
            'HANG_LINK_PROG': 'relay-queue',
            'HANG_LINK_MARKER': inst.path('hang/marker'),
            'HANG_LINK_FAIL': inst.path('hang/fail'),
            'HANG_UNLINK_MARKER': inst.path('hang/unlink'),
            'HANG_RENAME_PROG': 'relay-send',
            'HANG_RENAME_FAIL': inst.path('hang/rename'),
            'HANG_STATE_FAIL': inst.path('hang/state')}


def pool_file_of(inst, qid):
    d = inst.path('queue/pool')
    for n in os.listdir(d):
        data = read(inst, 'queue/pool/' + n) or b''
        if header_qid(data) == qid:
            return n, data
    return None, b''


def restore_env(saved):
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_crash_window(sink):
    """relay-master hands its environment to the daemons it starts and
    restarts: it is set around the instance's start only."""
    if not check('crash: the shim is built (make unit: %s)' % SHIM,
                 os.path.exists(SHIM)):
        return
    inst = Instance(sink=sink).prepare()
    env = preload_env(inst)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with inst:
            restore_env(saved)
            crash_window(sink, inst, env['HANG_LINK_MARKER'])
            link_fails(sink, inst, env['HANG_LINK_FAIL'])
            start_link_fails(sink, inst, env['HANG_LINK_MARKER'],
                             env['HANG_LINK_FAIL'])
            delivered_while_named(sink, inst, env['HANG_UNLINK_MARKER'])
            retire_fails_while_named(sink, inst, env['HANG_UNLINK_MARKER'],
                                     env['HANG_RENAME_FAIL'])
            disk_full_while_named(sink, inst, env['HANG_UNLINK_MARKER'],
                                  env['HANG_RENAME_FAIL'],
                                  env['HANG_STATE_FAIL'])
    finally:
        restore_env(saved)


def held_injection(inst, marker, label, rcpt, body=None):
    """One message injected on the fast path with the shim armed by
    marker: checked acknowledged and relay-queue held in the call; its
    qid.  A pool name takes the fast path once relay-queue knows it
    durable: its directories synced after it saw the name (its
    once-a-second tick, test_queue_pool.py); then the next injection
    takes one."""
    time.sleep(2.5)
    open(marker, 'w').close()
    rep = inject(inst, rcpt, rcpt.split('@')[0].encode(), body=body)
    check('%s: the message is acknowledged (status 0)' % label,
          rep.get('status') == '0', repr(rep))
    check('%s: relay-queue reached the held call (the shim holds it)'
          % label, wait_until(lambda: not os.path.exists(marker), 10),
          inst.log_tail())
    return rep.get('id', 'X')


def kill_queue(inst, label):
    """relay-queue killed (-9); True once relay-master restarted it."""
    old = pid_of(inst, 'relay-queue')
    check('%s: relay-queue runs' % label, old > 1, repr(inst.status()))
    if old > 1:
        os.kill(old, signal.SIGKILL)
    return check('%s: relay-queue is restarted' % label, wait_until(
        lambda: pid_of(inst, 'relay-queue') not in (0, old), 20),
        inst.log_tail())


def crash_window(sink, inst, marker):
    qid = held_injection(inst, marker, 'crash', 'crash@example.org')
    check('crash: acknowledged before it is named in new/ (so not '
          'delivered yet)', not os.path.exists(inst.path('queue/new/' + qid))
          and count(sink, 'crash@example.org') == 0,
          '%r %r' % (os.listdir(inst.path('queue/new')), sink.messages))
    name, data = pool_file_of(inst, qid)
    check('crash: it is a sealed pool file meanwhile',
          name is not None and name != qid and seal_valid(data),
          '%r %r' % (name, data[:120]))
    kill_queue(inst, 'crash')
    check('crash: the message is delivered',
          sink.wait_rcpts('crash@', 1, 20) == 1, inst.log_tail())
    check('crash: the restarted relay-queue logged its recovery',
          inst.wait_log(r'relay-queue.*%s: recovered from pool/%s '
                        r'\(committed, not yet named\)' % (qid, name), 5),
          inst.log_tail())
    time.sleep(2)
    check('crash: delivered exactly once', count(sink, 'crash@example.org')
          == 1, repr(sink.messages))


def link_fails(sink, inst, fail):
    time.sleep(2.5)  # a durable pool name again (see crash_window)
    open(fail, 'w').close()
    try:
        rep = inject(inst, 'full@example.org', b'full')
        qid = rep.get('id', 'X')
        check('full disk: the message is acknowledged (status 0)',
              rep.get('status') == '0', repr(rep))
        said = r'relay-queue.*%s: queued \(sealed in pool/\S+\) but not ' \
               r'named in new/ \(try %d\): No space left on device'
        check('full disk: the 8th try is logged',
              inst.wait_log(said % (qid, 8), 20), inst.log_tail())
        lines = [t for t in range(1, 9)
                 if re.search(said % (qid, t), inst.log())]
        check('full disk: only the 1st, 2nd, 4th and 8th tries are logged',
              lines == [1, 2, 4, 8], lines)
        check('full disk: not delivered while unnamed',
              count(sink, 'full@example.org') == 0, repr(sink.messages))
    finally:
        os.unlink(fail)
    check('full disk: named once the link works',
          inst.wait_log(r'relay-queue.*%s: named in new/ after \d+ failed '
                        r'tries' % qid, 10), inst.log_tail())
    check('full disk: then delivered once',
          sink.wait_rcpts('full@', 1, 20) == 1, inst.log_tail())


def start_link_fails(sink, inst, marker, fail):
    qid = held_injection(inst, marker, 'start, full disk',
                         'restart-full@example.org')
    open(fail, 'w').close()
    try:
        kill_queue(inst, 'start, full disk')
        check('start, full disk: the restart could not name it',
              inst.wait_log(r'relay-queue.*%s: sealed in pool/\S+ but '
                            r'cannot be named in new/: No space left' % qid,
                            20), inst.log_tail())
        check('start, full disk: tried again',
              inst.wait_log(r'relay-queue.*%s: queued \(sealed in pool/\S+\)'
                            r' but not named in new/ \(try 2\)' % qid, 10),
              inst.log_tail())
        check('start, full disk: not delivered meanwhile',
              count(sink, 'restart-full@example.org') == 0,
              repr(sink.messages))
    finally:
        os.unlink(fail)
    check('start, full disk: named once the link works',
          inst.wait_log(r'relay-queue.*%s: named in new/ after \d+ failed '
                        r'tries' % qid, 10), inst.log_tail())
    check('start, full disk: delivered once',
          sink.wait_rcpts('restart-full@', 1, 20) == 1, inst.log_tail())
    time.sleep(1.5)
    check('start, full disk: and only once',
          count(sink, 'restart-full@example.org') == 1, repr(sink.messages))


def delivered_while_named(sink, inst, marker):
    """Delivered between the naming thread's link and its removal of
    the pool name, then relay-queue killed: a big message (which
    relay-send would unlink, not retire) is retired into pool/<qid>, and
    the restart does not deliver it again."""
    qid = held_injection(inst, marker, 'named, delivered',
                         'twice@example.org', BIG_POOLED)
    check('named, delivered: delivered', sink.wait_rcpts('twice@', 1, 20)
          == 1, inst.log_tail())
    retired = inst.path('queue/pool/' + qid)
    check('named, delivered: retired into pool/<qid> though big',
          wait_until(lambda: os.path.exists(retired), 10) and
          os.stat(retired).st_nlink == 2, inst.log_tail())
    names = [n for n in os.listdir(inst.path('queue/pool')) if n != qid
             and header_qid(read(inst, 'queue/pool/' + n) or b'') == qid]
    check('named, delivered: its sealed pool name is still there',
          len(names) == 1, names)
    name = names[0] if names else None
    kill_queue(inst, 'named, delivered')
    check('named, delivered: the restart drops the pool name',
          wait_until(lambda: name and not os.path.exists(
              inst.path('queue/pool/' + name)), 10), name)
    time.sleep(2)
    check('named, delivered: not delivered again',
          count(sink, 'twice@example.org') == 1 and
          not os.path.exists(inst.path('queue/new/' + qid)),
          [ln for ln in inst.log().splitlines() if qid in ln])


def out_once_named(sink, inst, label, qid, rcpt, once):
    """relay-queue killed while it names qid (its shim held): after the
    restart the message leaves new/, and rcpt got it exactly once."""
    kill_queue(inst, label)
    check('%s: taken out of new/ once named' % label,
          wait_until(lambda: not os.path.exists(
              inst.path('queue/new/' + qid)), 30), inst.log_tail())
    time.sleep(2)
    check('%s: %s' % (label, once), count(sink, rcpt) == 1,
          (count(sink, rcpt),
           [ln for ln in inst.log().splitlines() if qid in ln]))


def retire_fails_while_named(sink, inst, marker, rfail):
    """The same with relay-send's retire into pool/ failing (a full
    disk): the message is kept in new/, not unlinked, and after the kill
    neither delivered again nor left behind."""
    open(rfail, 'w').close()
    try:
        qid = held_injection(inst, marker, 'retire fails',
                             'unretired@example.org', BIG_POOLED)
        check('retire fails: delivered',
              sink.wait_rcpts('unretired@', 1, 20) == 1, inst.log_tail())
        check('retire fails: kept in new/, not unlinked',
              inst.wait_log(r'relay-send.*%s: delivered, not retired into '
                            r'pool/ while relay-queue names it' % qid, 10)
              and os.path.exists(inst.path('queue/new/' + qid)),
              inst.log_tail())
    finally:
        os.unlink(rfail)
    out_once_named(sink, inst, 'retire fails', qid, 'unretired@example.org',
                   'delivered once')


def disk_full_while_named(sink, inst, marker, rfail, sfail):
    """The retire fails and so does the write of its results: the
    message is sent once, not again and again; kept in new/ while its
    pool name is there, with its results in memory only, and taken out
    once relay-queue's restart has named it, never sent again."""
    for f in (rfail, sfail):
        open(f, 'w').close()
    try:
        qid = held_injection(inst, marker, 'disk full', 'full2@example.org')
        check('disk full: delivered', sink.wait_rcpts('full2@', 1, 20) >= 1,
              inst.log_tail())
        time.sleep(3)
        check('disk full: delivered once, not again and again',
              count(sink, 'full2@example.org') == 1,
              count(sink, 'full2@example.org'))
        check('disk full: kept in new/ while it has its pool name',
              os.path.exists(inst.path('queue/new/' + qid)),
              inst.log_tail())
    finally:
        for f in (rfail, sfail):
            os.unlink(f)
    out_once_named(sink, inst, 'disk full', qid, 'full2@example.org',
                   'delivered once in all')


def main():
    with Sink(codes={r: 451 for r in ('later@example.org', 'big@example.org',
                                      'byhand@example.org')}) as sink:
        with Instance(sink=sink, rules_text=DEFAULT_RULES.replace(
                'paid=yes', 'paid=yes archive=journal@archive.test'),
                conf_overrides={'retry_min': 300, 'retry_max': 300}) as inst:
            retired = test_retired(sink, inst)
            test_queued(inst)
            test_archive_copy(inst)
            if check('a retired file to plant from', retired, ''):
                test_start(sink, inst, retired)
        test_crash_window(sink)
    finish()


if __name__ == '__main__':
    main()
