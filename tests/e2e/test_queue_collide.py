#!/usr/bin/python3
"""test_queue_collide.py: the moves between new/ and hold/ never replace
a file already there.  Two files with one id (a clock stepped back under
relay-queue's ids, or a file put there by hand) stay two files:
- relay-send refusing a file of new/ (here a symbolic link) whose id is
  held leaves the held message as it is, logs why, and the refused file
  stays in new/, never sent;
- relayctl queue release and hold of an id that is in both folders
  move nothing, say so and exit 111."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, Sink, check, finish  # noqa: E402
from test_delivery import inject  # noqa: E402


def read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError:
        return b''


def refused_beside_held(inst, qid):
    """A symbolic link new/<qid> beside the held hold/<qid>."""
    held = inst.path('queue/hold/' + qid)
    before = read(held)
    link = inst.path('queue/new/' + qid)
    os.symlink('/etc/hostname', link)
    check('refuse: logged, the held id named',
          inst.wait_log(qid + r': refused: a symbolic link; hold/%s exists '
                        r'already' % qid, 40), inst.log_tail())
    check('refuse: the held message is left as it was',
          not os.path.islink(held) and read(held) == before)
    check('refuse: the refused file stays in new/', os.path.islink(link))
    if os.path.islink(link):
        os.unlink(link)


def release_onto_new(inst, qid):
    """new/<qid>, another file, beside the held hold/<qid>."""
    held = inst.path('queue/hold/' + qid)
    other = inst.path('queue/new/' + qid)
    text = read(held).replace(b'Subject: collide', b'Subject: other')
    with open(other + '.tmp', 'wb') as f:
        f.write(text)
    os.rename(other + '.tmp', other)
    before = read(held)
    for cmd in ('release', 'hold'):
        r = inst.relayctl('queue', cmd, qid)
        check('%s onto an existing id: exit 111, said' % cmd,
              r.returncode == 111 and 'exists already' in r.stderr,
              '%d %r %r' % (r.returncode, r.stdout, r.stderr))
        check('%s onto an existing id: both files as they were' % cmd,
              read(held) == before and read(other) == text)


with Sink(codes={'stuck@example.org': 451}) as sink, \
        Instance(sink=sink, conf_overrides={'retry_min': 3600,
                                            'retry_max': 3600}) as inst:
    for subject in (b'collide', b'collide too'):
        rc, err = inject(inst, 'a@example.com', ['stuck@example.org'],
                         b'Subject: %s\r\n\r\nx\r\n' % subject)
        check('inject', rc == 0, err)
    ids = sorted(os.listdir(inst.path('queue/new')))
    check('both tried and deferred', len(ids) == 2 and all(
        inst.wait_log(q + r': to=<stuck@example.org>.*deferred', 30)
        for q in ids), inst.log_tail())
    ids = (ids + ['NONE', 'NONE'])[:2]
    r = inst.relayctl('queue', 'hold', '--all')
    check('held', r.returncode == 0, r.stdout + r.stderr)
    refused_beside_held(inst, ids[0])
    release_onto_new(inst, ids[1])
    check('nothing delivered', not sink.messages)
finish()
