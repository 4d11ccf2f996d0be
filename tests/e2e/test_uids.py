#!/usr/bin/python3
"""test_uids.py: run as root (CI is), every daemon runs under its own uid
(/proc/<pid>/status: real, effective, saved and filesystem uid), none but
relay-master keeps root, and neither do the relay-smtpd session processes.
Not root: prints a SKIP note and no PASS line."""
import os
import pwd
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Raw, Sink, check, finish, is_root, skip,  # noqa: E402
                     wait_until)

EXPECT = {
    'relay-policy': 'relaypolicy',
    'relay-queue': 'relayqueue',
    'relay-remote': 'relayremote',
    'relay-send': 'relaysend',
    'relay-listen': 'relaysmtpd',
}


def proc_ids(pid):
    """({'Uid': [r, e, s, fs], 'Gid': [...]}, 'CapEff' hex) or None."""
    try:
        with open('/proc/%d/status' % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out = {}
    for line in lines:
        k, _, v = line.partition(':')
        if k in ('Uid', 'Gid'):
            out[k] = [int(x) for x in v.split()]
        elif k in ('CapEff', 'Groups', 'Name'):
            out[k] = v.strip()
    return out


def descendants(root):
    """pid -> name of every process below root (by parent pid)."""
    parent, name = {}, {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(')') + 2:].split()
        parent[int(d)] = int(rest[1])  # field 4: parent pid
        name[int(d)] = stat[stat.find('(') + 1:stat.rfind(')')]
    found, todo = {}, [root]
    while todo:
        p = todo.pop()
        for c, pp in parent.items():
            if pp == p and c not in found:
                found[c] = name[c]
                todo.append(c)
    return found


def main():
    if not is_root():
        skip('uids', 'not running as root: every daemon runs as the invoking '
             'user (CI runs this as root)')
        return
    with Sink() as sink, Instance(sink=sink) as inst:
        st = inst.status()
        check('relay-master runs as root', st.get('relay-master', (0, -1))[1] == 0,
              st)
        uids = {}
        for name, user in EXPECT.items():
            want = pwd.getpwnam(user).pw_uid
            pid = st.get(name, (0, 0))[0]
            # ready means the daemon's socket exists; it may create that as
            # root and drop a moment later: allow it a few seconds
            wait_until(lambda: (proc_ids(pid) or {}).get('Uid') ==
                       [want] * 4, 10)
            ids = proc_ids(pid) if pid else None
            check('%s runs as %s (uid %d): real/effective/saved/fs' %
                  (name, user, want),
                  ids is not None and ids['Uid'] == [want] * 4,
                  ids and ids['Uid'])
            check('%s has no capabilities' % name,
                  ids is not None and int(ids.get('CapEff', '1'), 16) == 0,
                  ids and ids.get('CapEff'))
            uids[name] = want
        check('each part has its own uid (listen/policy/queue/send/remote)',
              len(set(uids.values())) == len(uids), uids)
        qgid = None
        try:
            import grp
            qgid = grp.getgrnam('relayq').gr_gid
        except KeyError:
            pass
        ids = proc_ids(st.get('relay-queue', (0, 0))[0])
        check('relay-queue is in group relayq',
              qgid is not None and ids is not None and
              str(qgid) in ids.get('Groups', '').split(), ids)
        # an open SMTP session: its relay-smtpd must not be root either
        r = Raw(inst.port)
        code, _ = r.reply()
        check('session: greeting', code == 220, code)
        procs = {}
        for _ in range(50):  # the session process may take a moment
            procs = descendants(inst.proc.pid)
            if any(n.startswith('relay-smtpd') for n in procs.values()):
                break
            time.sleep(0.1)
        smtpd = [p for p, n in procs.items() if n.startswith('relay-smtpd')]
        check('session: a relay-smtpd process serves it', smtpd, procs)
        rootly = [(p, n) for p, n in procs.items()
                  if 0 in (proc_ids(p) or {'Uid': []})['Uid']]
        check('no process but relay-master has uid 0 anywhere', not rootly,
              rootly)
        r.close()
    finish()


if __name__ == '__main__':
    main()
