#!/usr/bin/python3
"""test_rules_lifecycle.py: the edges of the rule-set life cycle, on
instance directories without daemons.  A makecdb that waits for the
history lock compiles and keeps the relay.rules it reads after the wait;
`relayctl rules rollback` writes every file before it renames any, puts
the set back when the files in place are another one, refuses a set
makecdb would refuse (a retired DKIM key) and a version without
relay.rules unless --force, and names the users and passwords it changes;
`rules diff` of a pruned version says so."""
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, finish, wait_until  # noqa: E402

BASE = """\
customer acme licenses=10 paid=yes
domain acme.test customer=acme
rule acme lan senders=domain auth=ip
"""


def run(prog, d, *args):
    return subprocess.run([os.path.join(BIN, prog), '-d', d] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60)


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


def read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def compile_rules(d, text):
    write(os.path.join(d, 'relay.rules'), text)
    return run('makecdb', d)


def version_hash(d):
    return run('relayctl', d, 'rules', 'version').stdout.split()[0]


def hash_of_text(text):
    """The hash makecdb gives text, compiled in a directory of its own."""
    other = tempfile.mkdtemp(prefix='rules-other-')
    try:
        compile_rules(other, text)
        return version_hash(other)
    finally:
        shutil.rmtree(other, ignore_errors=True)


def blocked_in_lock(pid):
    try:
        return 'lock' in read('/proc/%d/wchan' % pid)
    except OSError:
        return False


def waiting_makecdb(d):
    """Another run holds the history lock; makecdb starts with relay.rules
    A, then relay.rules becomes B; the lock is released."""
    a = BASE + "ip acme lan 127.0.0.31\nip acme lan 127.0.0.32\n"
    b = BASE + "ip acme lan 127.0.0.33\n"
    compile_rules(d, BASE + "ip acme lan 127.0.0.31\n")
    write(os.path.join(d, 'relay.rules'), a)
    with open(os.path.join(d, 'rules-history', 'lock'), 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        p = subprocess.Popen([os.path.join(BIN, 'makecdb'), '-d', d],
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        try:
            wait_until(lambda: blocked_in_lock(p.pid), 20)
            time.sleep(0.5)
            write(os.path.join(d, 'relay.rules'), b)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
        out = p.communicate(timeout=60)[0]
    kept = read(os.path.join(d, 'rules-history', '2', 'relay.rules'))
    live = version_hash(d)
    check('waiting makecdb: kept relay.rules is the text read after the '
          'lock', kept == b, out + kept)
    check('waiting makecdb: the set in place is compiled from that text',
          live == hash_of_text(kept), out)


def diff_pruned(d):
    """rules_history_keep = 2, four versions: 1 and 2 are pruned."""
    write(os.path.join(d, 'relay.conf'), 'rules_history_keep = 2\n')
    for i in (31, 32, 33, 34):
        compile_rules(d, BASE + 'ip acme lan 127.0.0.%d\n' % i)
    for args in (['2'], ['2', '4'], ['4', '1']):
        r = run('relayctl', d, 'rules', 'diff', *args)
        check('rules diff %s of a pruned version: says so, exit 100'
              % ' '.join(args), r.returncode == 100 and r.stdout == '' and
              'no longer kept' in r.stderr, r)
    r = run('relayctl', d, 'rules', 'diff', '3')
    check('rules diff 3 (2 pruned): the diff 3 was kept with',
          r.returncode == 0 and '-ip acme lan 127.0.0.32' in r.stdout and
          '+ip acme lan 127.0.0.33' in r.stdout, r)
    r = run('relayctl', d, 'rules', 'diff', '3', '4')
    check('rules diff 3 4: both kept', r.returncode == 0 and
          '+ip acme lan 127.0.0.34' in r.stdout, r)


def audit_len(d):
    return len(read(os.path.join(d, 'rules-history', 'audit')).splitlines())


def immutable(path, on):
    subprocess.run(['chattr', '+i' if on else '-i', path], check=True)


def users_set(d, hashes):
    """BASE with users: {address: hash}."""
    return BASE + "ip acme lan 127.0.0.31\n" + ''.join(
        'user %s hash=%s\n' % (a, h) for a, h in sorted(hashes.items()))


def pw_hash(pw):
    return subprocess.run([os.path.join(BIN, 'makecdb'), '--hash'],
                          input=pw + '\n', stdout=subprocess.PIPE,
                          text=True, timeout=60).stdout.strip()


def rollback_writes_first(d):
    """Version 1 came from a staging copy removed since: its relay.rules
    cannot be written back, so nothing may change."""
    stage = os.path.join(d, 'stage')
    inst = os.path.join(d, 'inst')
    os.mkdir(stage)
    os.mkdir(inst)
    write(os.path.join(stage, 'relay.rules'),
          BASE + "ip acme lan 127.0.0.31\n")
    run('makecdb', inst, os.path.join(stage, 'relay.rules'))
    compile_rules(inst, BASE + "ip acme lan 127.0.0.32\n")
    before, n = version_hash(inst), audit_len(inst)
    shutil.rmtree(stage)
    r = run('relayctl', inst, 'rules', 'rollback', '1')
    check('rollback failing to write relay.rules: exit 111, nothing '
          'changed', r.returncode == 111 and version_hash(inst) == before
          and audit_len(inst) == n and 'nothing changed' in r.stderr, r)


def rename_fails(d, a, b):
    """rules.cdb cannot be replaced (immutable): users.cdb, renamed
    already, is put back, for a rollback and for makecdb."""
    compile_rules(d, a)
    compile_rules(d, b)
    before = version_hash(d)
    users = read_bytes(os.path.join(d, 'users.cdb'))
    rules = os.path.join(d, 'rules.cdb')
    immutable(rules, True)
    try:
        r = run('relayctl', d, 'rules', 'rollback', '1')
        check('rollback whose rules.cdb rename fails: exit 111, the set '
              'before put back', r.returncode == 111 and
              version_hash(d) == before and 'version 2, is back' in
              r.stderr and read_bytes(os.path.join(d, 'users.cdb')) == users, r)
        r = compile_rules(d, a)
        check('makecdb whose rules.cdb rename fails: exit 111, users.cdb '
              'put back', r.returncode == 111 and version_hash(d) == before
              and read_bytes(os.path.join(d, 'users.cdb')) == users, r)
    finally:
        immutable(rules, False)
    r = run('relayctl', d, 'rules', 'rollback', '1')
    check('then the rollback goes through', r.returncode == 0, r)


def rollback_half_way(d):
    h1, h2 = pw_hash('leaked'), pw_hash('new one')
    rename_fails(d, users_set(d, {'dev@acme.test': h1}),
                 users_set(d, {'dev@acme.test': h2}))


def rollback_latest_foreign(d):
    """The files in place are a set the history does not have; rollback
    to the latest version puts it back and keeps the foreign one."""
    compile_rules(d, BASE + "ip acme lan 127.0.0.31\n")
    compile_rules(d, BASE + "ip acme lan 127.0.0.32\n")
    latest = version_hash(d)
    other = tempfile.mkdtemp(prefix='rules-foreign-')
    try:
        compile_rules(other, BASE + "ip acme lan 127.0.0.66\n")
        for name in ('rules.cdb', 'users.cdb'):
            shutil.copy(os.path.join(other, name), os.path.join(d, name))
        foreign = version_hash(other)
    finally:
        shutil.rmtree(other, ignore_errors=True)
    r = run('relayctl', d, 'rules', 'rollback', '2')
    hist = read(os.path.join(d, 'rules-history', 'audit'))
    check('rollback to the latest when another set is in place: puts it '
          'back', r.returncode == 0 and version_hash(d) == latest, r)
    check('the set found in place is kept as a version first',
          foreign in hist and 'found in place' in hist, hist)
    r = run('relayctl', d, 'rules', 'rollback', '2')
    check('rollback to the set in place: nothing to do, exit 0',
          r.returncode == 0 and version_hash(d) == latest, r)


def rollback_checks(d):
    """A retired DKIM key: the version fails makecdb's checks."""
    os.chmod(d, 0o755)
    for sel in ('s1', 's2'):
        run('relayctl', d, 'dkim', 'keygen', 'acme.test', sel)
    line = "dkim acme.test %s key=dkim/acme.test.%s.key\n"
    r1 = compile_rules(d, BASE + "ip acme lan 127.0.0.31\n" +
                       line % ('s1', 's1'))
    r2 = compile_rules(d, BASE + "ip acme lan 127.0.0.31\n" +
                       line % ('s2', 's2'))
    check('dkim s1 then s2 compiled', 'rules version 2' in r2.stderr,
          r1.stderr + r2.stderr)
    os.unlink(os.path.join(d, 'dkim', 'acme.test.s1.key'))
    before = version_hash(d)
    r = run('relayctl', d, 'rules', 'rollback', '1')
    check('rollback to a version whose DKIM key is gone: refused, exit '
          '100, nothing changed', r.returncode == 100 and
          version_hash(d) == before and 'acme.test.s1.key' in r.stderr and
          '--force' in r.stderr, r)
    r = run('relayctl', d, 'rules', 'rollback', '--force', '1')
    check('rollback --force: done all the same', r.returncode == 0 and
          version_hash(d) != before, r)


def rollback_users(d):
    leaked, new = pw_hash('leaked'), pw_hash('new one')
    compile_rules(d, users_set(d, {'dev@acme.test': leaked,
                                   'gone@acme.test': leaked}))
    compile_rules(d, users_set(d, {'dev@acme.test': new,
                                   'kept@acme.test': new}))
    r = run('relayctl', d, 'rules', 'rollback', '1')
    check('rollback names the users and passwords it changes',
          r.returncode == 0 and
          'brings back user gone@acme.test' in r.stdout and
          'removes user kept@acme.test' in r.stdout and
          'password hash of user dev@acme.test' in r.stdout and
          leaked not in r.stdout, r)


def rollback_adopted(d):
    compile_rules(d, BASE + "ip acme lan 127.0.0.31\n")
    shutil.rmtree(os.path.join(d, 'rules-history'))
    compile_rules(d, BASE + "ip acme lan 127.0.0.99\n")
    before = version_hash(d)
    r = run('relayctl', d, 'rules', 'rollback', '1')
    check('rollback to the adopted version: refused, exit 100',
          r.returncode == 100 and version_hash(d) == before and
          'no relay.rules' in r.stderr, r)
    r = run('relayctl', d, 'rules', 'rollback', '--force', '1')
    check('rollback --force to it: done, says relay.rules is not restored',
          r.returncode == 0 and version_hash(d) != before and
          'NOT restored' in r.stderr, r)


def fresh(name, fn):
    d = tempfile.mkdtemp(prefix='rules-%s-' % name)
    try:
        fn(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    fresh('wait', waiting_makecdb)
    fresh('pruned', diff_pruned)
    fresh('first', rollback_writes_first)
    fresh('half', rollback_half_way)
    fresh('foreign', rollback_latest_foreign)
    fresh('checks', rollback_checks)
    fresh('users', rollback_users)
    fresh('adopted', rollback_adopted)
    return finish()


if __name__ == '__main__':
    sys.exit(main())
