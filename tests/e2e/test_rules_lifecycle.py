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


def fresh(name, fn):
    d = tempfile.mkdtemp(prefix='rules-%s-' % name)
    try:
        fn(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    fresh('wait', waiting_makecdb)
    fresh('pruned', diff_pruned)
    return finish()


if __name__ == '__main__':
    sys.exit(main())
