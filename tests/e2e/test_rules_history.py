#!/usr/bin/python3
"""test_rules_history.py: one rule set for a fleet.  makecdb gives the same
bytes for the same rules (in another directory, with rules that share a
range), keeps every change as a version with an audit line and a diff,
and `relayctl rules rollback` puts an older set back atomically: a running
relay-policy decides by it at once (relayctl explain before and after),
relay.rules is restored, and the rollback is itself a version.  Versions
beyond rules_history_keep are pruned; a set in place before the history
began is adopted as version 1.  Root writes nothing through a name
another uid could have planted: a rollback leaves relay.rules in a
folder of another uid's as it is (and says so), and a history folder
that is a link, another uid's or writable by others is refused.  No
control character reaches the operator's terminal: makecdb refuses them
in comments too, and `rules diff` escapes what a version holds."""
import filecmp
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Instance, as_user, check, finish,  # noqa: E402
                     skipped_unless_root, wait_until)

STRANGER = 'nobody'

HASH = '$y$j9T$QZX8zIS24MiakOgbqtF4P1$YjhjkxMfZ.RuNVLs900gW2n7O4OZWClHKj3pjS4fQ74'
BASE = """\
customer acme licenses=10 paid=yes
domain acme.test customer=acme
user dev@acme.test hash={h}
rule acme lan senders=domain auth=ip
rule acme also senders=domain auth=ip
ip acme also 127.0.0.33
""".format(h=HASH)
V1 = BASE + "ip acme lan 127.0.0.31\n"
V2 = V1 + "ip acme lan 127.0.0.32\n"
V3 = BASE + "ip acme lan 127.0.0.32\nip acme also 127.0.0.32\n"


def makecdb(d, *args):
    return subprocess.run([os.path.join(BIN, 'makecdb'), '-d', d] +
                          list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60)


def relayctl(d, *args):
    return subprocess.run([os.path.join(BIN, 'relayctl'), '-d', d] +
                          list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def compile_rules(d, text):
    with open(os.path.join(d, 'relay.rules'), 'w') as f:
        f.write(text)
    return makecdb(d)


def verdict(inst, ip):
    r = inst.relayctl('explain', '--ip', ip, '--from', 'a@acme.test',
                      '--rcpt', 'r@example.org')
    m = re.search(r'reply:\s+(\d{3} [\d.]+)', r.stdout)
    return m.group(1) if m else r.stdout + r.stderr


def audit(d):
    with open(os.path.join(d, 'rules-history', 'audit')) as f:
        return [line.rstrip('\n').split('\t') for line in f]


def deterministic(d):
    """The same relay.rules compiled in a fresh directory: the same bytes
    and the same `rules version` hash."""
    other = tempfile.mkdtemp(prefix='rules-other-')
    try:
        shutil.copy(os.path.join(d, 'relay.rules'), other)
        makecdb(other)
        for name in ('rules.cdb', 'users.cdb'):
            check('makecdb deterministic: %s byte-identical on another box'
                  % name, filecmp.cmp(os.path.join(d, name),
                                      os.path.join(other, name),
                                      shallow=False))
        a = relayctl(d, 'rules', 'version').stdout.split()
        b = relayctl(other, 'rules', 'version').stdout.split()
        check('rules version: the same hash on both', a and b and
              a[0] == b[0] and len(a[0]) == 64, '%s %s' % (a, b))
    finally:
        shutil.rmtree(other, ignore_errors=True)


def versions_and_rollback(inst):
    d = inst.dir
    check('v1: 127.0.0.31 relays', verdict(inst, '127.0.0.31') ==
          '250 2.1.5', verdict(inst, '127.0.0.31'))
    r = makecdb(d)
    check('makecdb of unchanged rules: no new version',
          'rules version 1' in r.stdout and len(audit(d)) == 1, r.stdout)
    r = compile_rules(d, V2)
    check('v2: makecdb says version 2', 'rules version 2' in r.stdout,
          r.stdout)
    compile_rules(d, V3)
    check('v3: 127.0.0.31 refused (policy follows the new set)',
          wait_until(lambda: verdict(inst, '127.0.0.31') == '550 5.7.0',
                     10), verdict(inst, '127.0.0.31'))
    deterministic(d)
    r = relayctl(d, 'rules', 'diff', '3')
    check('rules diff 3: the removed line', r.returncode == 0 and
          '\n-ip acme lan 127.0.0.31\n' in r.stdout and
          '+ip acme also 127.0.0.32' in r.stdout, r.stdout + r.stderr)
    r = relayctl(d, 'rules', 'rollback', '2')
    check('rollback 2: exit 0, version 4', r.returncode == 0 and
          'version 4' in r.stdout, r.stdout + r.stderr)
    check('after rollback: 127.0.0.31 relays again at once',
          wait_until(lambda: verdict(inst, '127.0.0.31') == '250 2.1.5',
                     10), verdict(inst, '127.0.0.31'))
    with open(os.path.join(d, 'relay.rules')) as f:
        check('rollback restores relay.rules', f.read() == V2)
    a = audit(d)
    check('audit: versions 1-3 by makecdb, 4 the rollback', [
        (x[0], x[5]) for x in a] == [('1', 'makecdb'), ('2', 'makecdb'),
                                     ('3', 'makecdb'), ('4', 'rollback to 2')],
        a)
    check('audit: who and when on every line', all(
        x[2] == 'root' and re.match(r'\d{4}-\d\d-\d\dT', x[1]) for x in a)
        if os.geteuid() == 0 else True, a)
    check('audit: version 4 is the set of version 2', a[3][3] == a[1][3])
    v = relayctl(d, 'rules', 'version').stdout.split()
    check('rules version: hash of version 2, says version 4',
          v[0] == a[1][3] and v[-1] == '4', v)
    h = relayctl(d, 'rules', 'history').stdout
    check('rules history: four versions, only the one in place marked',
          len(re.findall(r'^[ *]\s*\d+\s', h, re.M)) == 4 and
          re.findall(r'^\*\s*(\d+)\s', h, re.M) == ['4'], h)
    r = relayctl(d, 'rules', 'rollback', '9')
    check('rollback to an unknown version: refused',
          r.returncode != 0 and 'no version 9' in r.stderr, r.stderr)
    st = os.stat(os.path.join(d, 'users.cdb'))
    check('rollback: users.cdb stays private (no other-read)',
          not st.st_mode & 0o004, oct(st.st_mode))
    st = os.stat(os.path.join(d, 'rules-history'))
    check('rules-history is 0700', st.st_mode & 0o777 == 0o700,
          oct(st.st_mode))


def pruned_and_adopted():
    d = tempfile.mkdtemp(prefix='rules-keep-')
    try:
        with open(os.path.join(d, 'relay.conf'), 'w') as f:
            f.write('rules_history_keep = 2\n')
        compile_rules(d, V1)
        shutil.rmtree(os.path.join(d, 'rules-history'))
        r = compile_rules(d, V2)
        a = audit(d)
        check('a set in place before the history is adopted as version 1',
              len(a) == 2 and a[0][5].startswith('adopted') and
              a[1][5] == 'makecdb', a)
        compile_rules(d, V3)
        compile_rules(d, V1)
        kept = sorted(n for n in os.listdir(os.path.join(d, 'rules-history'))
                      if n.isdigit())
        check('rules_history_keep = 2: versions 3 and 4 kept, audit whole',
              kept == ['3', '4'] and len(audit(d)) == 4, kept)
        r = relayctl(d, 'rules', 'rollback', '1')
        check('rollback to a pruned version: refused, says so',
              r.returncode != 0 and 'no longer kept' in r.stderr, r.stderr)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def plant_links(target, rules):
    """As STRANGER: links to target at the names an older makecdb used
    for its temp file (<relay.rules>.tmp.<pid>) for the next pids."""
    def plant():
        with open('/proc/sys/kernel/ns_last_pid') as f:
            n = int(f.read())
        for pid in range(n + 1, n + 2000):
            os.symlink(target, '%s.tmp.%d' % (rules, pid))
        return 'planted'
    return as_user(STRANGER, plant)


def ident(path):
    st = os.lstat(path)
    with open(path, 'rb') as f:
        return (st.st_uid, st.st_mode, f.read())


def rollback_into_foreign_folder():
    """relay.rules kept in a folder a local user owns (a checkout of
    theirs): the rollback puts the CDBs back but does not write there,
    so the links that user planted lead nowhere."""
    if skipped_unless_root('rollback into a folder of another uid'):
        return
    t = tempfile.mkdtemp(prefix='rules-foreign-')
    try:
        os.chmod(t, 0o755)
        inst, src = os.path.join(t, 'inst'), os.path.join(t, 'src')
        os.mkdir(inst)
        os.mkdir(src)
        pw = pwd.getpwnam(STRANGER)
        os.chown(src, pw.pw_uid, pw.pw_gid)
        victim, rules = os.path.join(t, 'victim'), os.path.join(src, 'relay.rules')
        with open(victim, 'w') as f:
            f.write('root only\n')
        os.chmod(victim, 0o600)
        before = ident(victim)
        for text in (V1, V2):
            with open(rules, 'w') as f:
                f.write(text)
            makecdb(inst, rules)
        os.chown(rules, pw.pw_uid, pw.pw_gid)
        planted = plant_links(victim, rules)
        r = relayctl(inst, 'rules', 'rollback', '1')
        check('foreign folder: the planted links lead nowhere (target '
              'untouched)', planted == 'planted' and ident(victim) == before,
              repr((planted, before, ident(victim))))
        check('foreign folder: the CDBs are rolled back, relay.rules not, '
              'and the output says so', r.returncode == 0 and
              'NOT restored' in r.stderr and
              'rules-history/1/relay.rules' in r.stderr,
              r.stdout + r.stderr)
        with open(rules) as f:
            check('foreign folder: relay.rules as it was',
                  f.read() == V2 and not os.path.islink(rules))
        v = relayctl(inst, 'rules', 'version').stdout.split()
        check('foreign folder: the set in place is version 1\'s',
              v and v[0] == audit(inst)[0][3], v)
    finally:
        shutil.rmtree(t, ignore_errors=True)


def history_refused(t, hist, why):
    """makecdb and relayctl rules refuse the history folder hist."""
    inst = os.path.join(t, 'inst')
    r = compile_rules(inst, V1)
    check('history %s: makecdb refuses it, writes nothing' % why,
          r.returncode != 0 and 'refused' in r.stdout and
          not os.path.exists(os.path.join(inst, 'rules.cdb')), r.stdout)
    r = relayctl(inst, 'rules', 'history')
    check('history %s: relayctl rules history refuses it' % why,
          r.returncode != 0 and 'refused' in r.stderr, r.stdout + r.stderr)


def history_folder_checked():
    """rules_history must be root's alone: a folder others can write
    would let them plant N.tmp or audit links that root then follows."""
    t = tempfile.mkdtemp(prefix='rules-hist-')
    try:
        os.chmod(t, 0o755)
        inst, hist = os.path.join(t, 'inst'), os.path.join(t, 'hist')
        victim_dir, victim = os.path.join(t, 'victimdir'), os.path.join(t, 'victim')
        for d in (inst, victim_dir):
            os.mkdir(d)
        with open(os.path.join(inst, 'relay.conf'), 'w') as f:
            f.write('rules_history = %s\n' % hist)
        for name in ('relay.rules', 'users.cdb'):
            with open(os.path.join(victim_dir, name), 'w') as f:
                f.write('important\n')
        with open(victim, 'w') as f:
            f.write('keep me\n')
        os.mkdir(hist)
        os.chmod(hist, 0o777)
        for n in ('1.tmp', '2.tmp'):
            os.symlink(victim_dir, os.path.join(hist, n))
        os.symlink(victim, os.path.join(hist, 'audit'))
        history_refused(t, hist, 'mode 0777')
        with open(victim) as f:
            check('history mode 0777: the planted audit link leads nowhere',
                  f.read() == 'keep me\n')
        check('history mode 0777: the planted N.tmp link leads nowhere',
              sorted(os.listdir(victim_dir)) == ['relay.rules', 'users.cdb'],
              os.listdir(victim_dir))
        shutil.rmtree(hist)
        real = os.path.join(t, 'real')
        os.mkdir(real, 0o700)
        os.symlink(real, hist)
        history_refused(t, hist, 'a symbolic link')
        os.unlink(hist)
        if os.geteuid() == 0:
            os.mkdir(hist, 0o700)
            pw = pwd.getpwnam(STRANGER)
            os.chown(hist, pw.pw_uid, pw.pw_gid)
            history_refused(t, hist, 'of another uid')
            os.chown(hist, 0, 0)
        else:
            os.mkdir(hist, 0o700)
        r = compile_rules(inst, V1)
        check('history root\'s and 0700: kept as version 1',
              r.returncode == 0 and 'rules version 1' in r.stdout, r.stdout)
    finally:
        shutil.rmtree(t, ignore_errors=True)


def control_characters():
    d = tempfile.mkdtemp(prefix='rules-ctrl-')
    try:
        compile_rules(d, V1)
        r = compile_rules(d, V1 + '# \x1b]0;owned\x07\x1b[2J comment\n')
        check('a comment with control characters: refused',
              r.returncode == 100 and 'control character' in r.stdout,
              r.stdout)
        r = compile_rules(d, V2 + '#\ta comment\twith tabs\n')
        check('a comment with tabs: taken', r.returncode == 0 and
              'rules version 2' in r.stdout, r.stdout)
        # a version kept before comments were checked
        with open(os.path.join(d, 'rules-history', '2', 'relay.rules'),
                  'a') as f:
            f.write('# \x1b]0;owned\x07\x1b[2J\x9b1m end\n')
        r = relayctl(d, 'rules', 'diff', '2')
        check('rules diff: control characters escaped as rules history '
              'escapes them', r.returncode == 0 and
              not re.search('[\x00-\x08\x0b-\x1f\x7f-\x9f]', r.stdout) and
              '+# \\x1B]0;owned\\x07\\x1B[2J\\xC2\\x9B1m end\n' in r.stdout and
              '+ip acme lan 127.0.0.32\n' in r.stdout, repr(r.stdout))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    with Instance(rules_text=V1) as inst:
        versions_and_rollback(inst)
    pruned_and_adopted()
    rollback_into_foreign_folder()
    history_folder_checked()
    control_characters()
    return finish()


if __name__ == '__main__':
    sys.exit(main())
