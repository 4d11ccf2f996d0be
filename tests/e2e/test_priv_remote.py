#!/usr/bin/python3
"""test_priv_remote.py: relay-remote, the part that talks to the
Internet, has no write access to the queue, and relay-send takes only
files that relay-queue made (issue 18, finding 3).  As relayremote, with
exactly the groups the running relay-remote has, the test tries to
create a file in new/, hold/ and pool/; a message still goes out
(relay-send hands relay-remote each queue file as a descriptor); and a
well-formed queue file planted in new/ by another uid (relayremote with
the queue group, as relay-remote had before) is not delivered but
refused, logged and moved to hold/.
Not root: prints a SKIP note and no PASS line."""
import grp
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, as_user, check, finish, skipped_unless_root,  # noqa: E402
                     smtp_session)


def proc_groups(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('Groups:'):
                return [int(g) for g in line.split()[1:]]
    return []


def remote_cannot_write(inst):
    pid = inst.status().get('relay-remote', (0, 0))[0]
    gids = proc_groups(pid)
    qgid = grp.getgrnam('relayq').gr_gid
    check('relay-remote is not in the queue group', qgid not in gids,
          repr(gids))
    names = [grp.getgrgid(g).gr_name for g in gids]
    for sub in ('new', 'hold', 'pool'):
        path = inst.path('queue/%s/.planted-by-remote' % sub)

        def make(p=path):
            with open(p, 'w') as f:
                f.write('x')
            return 'made'
        got = as_user('relayremote', make, groups=names)
        check('as relay-remote: no file can be made in queue/%s/' % sub,
              got != 'made' and not os.path.exists(path), got)


def planted_not_sent(inst, sink):
    before = sink.count()
    us = time.time_ns() // 1000
    qid = '%08X%05X%05X0' % (us // 1000000, us % 1000000, 0x7777)
    data = ('relaybox-queue 1\nqid=%s\ntime=%d\nfrom=a@example.com\n'
            'rcpt=planted@example.org\n\nSubject: planted\r\n\r\nforged\r\n'
            % (qid, time.time())).encode()
    new = inst.path('queue/new')

    def plant():
        tmp = os.path.join(new, '.' + qid)
        with open(tmp, 'wb') as f:
            f.write(data)
        os.chown(tmp, -1, grp.getgrnam('relayq').gr_gid)  # as relay-queue's
        os.chmod(tmp, 0o640)
        os.rename(tmp, os.path.join(new, qid))
        return 'planted'
    got = as_user('relayremote', plant, groups=['relayq'])
    check('a queue file planted in new/ by relayremote+relayq', got == 'planted',
          got)
    refused = inst.wait_log(r'relay-send.*%s: refused: made by uid' % qid, 15)
    time.sleep(2)  # what relay-send would have sent by now
    check('relay-send refuses the planted file and says why', refused,
          inst.log_tail())
    check('the planted file is not delivered', sink.count() == before,
          repr(sink.recipients()))
    check('the planted file is moved to hold/',
          os.path.exists(inst.path('queue/hold/' + qid)) and
          not os.path.exists(os.path.join(new, qid)),
          repr((os.listdir(new), os.listdir(inst.path('queue/hold')))))


def main():
    if skipped_unless_root('priv_remote'):
        return
    with Sink() as sink, Instance(sink=sink) as inst:
        remote_cannot_write(inst)
        with smtp_session(inst.port) as c:
            c.sendmail('a@example.com', ['b@example.org'],
                       b'Subject: out\r\n\r\nbody\r\n')
        check('a message is still delivered (its file handed over)',
              sink.wait_for(1, 30), inst.log_tail())
        planted_not_sent(inst, sink)


main()
finish()
