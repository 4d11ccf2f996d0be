#!/usr/bin/python3
"""test_ctl_badconf.py: relay.conf edited while the relay runs, with a
mistake in it (man/relayctl.8, "A relay.conf with an error"):

- relayctl status and stop still work: they find the running relay from
  run/master.pid (in the run_dir the file names, read past the bad
  line), print a warning on stderr naming the file, line and error,
  and do their work (status lists the daemons, stop ends them all);
- relayctl start and reload refuse, naming the error, exit 100, and
  leave the running relay as it was;
- a bad value that relay.conf's checks refuse (dkim_fail) is treated
  the same way;
- with the relay stopped, stop says "not running" (exit 0) and still
  warns.
Before the fix, status and stop died with "fatal: ...relay.conf:N:
unknown setting" and the relay could only be killed by hand."""
import os
import re
import shutil
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, alive, check, finish  # noqa: E402

DAEMONS = ('relay-policy', 'relay-queue', 'relay-remote', 'relay-send',
           'relay-listen')


def run_status(run_dir):
    """run/status as {name: pid} (the instance's own run_dir)."""
    out = {}
    try:
        with open(os.path.join(run_dir, 'status')) as f:
            for line in f:
                w = line.split()
                if len(w) == 5:
                    out[w[0]] = int(w[1])
    except OSError:
        pass
    return out


def test_typo(inst, run_dir):
    """An unknown setting before run_dir (which is not the default)."""
    r = inst.relayctl('start')
    check('start with a good relay.conf: exit 0', r.returncode == 0,
          r.stdout + r.stderr)
    pids = run_status(run_dir)
    master = pids.get('relay-master', 0)
    with open(inst.path('relay.conf')) as f:
        good = f.read()
    with open(inst.path('relay.conf'), 'w') as f:
        f.write('conn_maxx = 5\n' + good)
    err = "relay.conf:1: unknown setting 'conn_maxx'"

    r = inst.relayctl('status')
    check('typo: status still lists every daemon running (exit 0)',
          r.returncode == 0 and all(
              re.search(r'^%s\s+running' % d, r.stdout, re.M)
              for d in DAEMONS), r.stdout + r.stderr)
    check('typo: status warns, naming the line and the error',
          'warning' in r.stderr and err in r.stderr, r.stderr)
    check('typo: status does not die', 'fatal' not in r.stderr, r.stderr)

    for cmd in ('start', 'reload'):
        r = inst.relayctl(cmd)
        check('typo: %s refuses (exit 100), naming the error' % cmd,
              r.returncode == 100 and err in r.stderr,
              (r.returncode, r.stdout, r.stderr))
    check('typo: the relay still runs after start and reload refused',
          master and alive(master))

    r = inst.relayctl('stop')
    check('typo: stop ends the relay (exit 0, "stopped")',
          r.returncode == 0 and 'stopped' in r.stdout,
          (r.returncode, r.stdout, r.stderr))
    check('typo: stop warns with the error and the pid it stops',
          err in r.stderr and str(master) in r.stderr, r.stderr)
    left = [n for n, p in pids.items() if p and alive(p)]
    check('typo: no daemon left after stop', not left, left)

    r = inst.relayctl('stop')
    check('typo, stopped: stop says not running, exit 0, warns',
          r.returncode == 0 and 'not running' in r.stdout and
          err in r.stderr, (r.returncode, r.stdout, r.stderr))
    r = inst.relayctl('status')
    check('typo, stopped: status exit 3, warns', r.returncode == 3 and
          err in r.stderr, (r.returncode, r.stdout, r.stderr))
    with open(inst.path('relay.conf'), 'w') as f:
        f.write(good)


def test_bad_value(inst, run_dir):
    """A value relay.conf's own checks refuse, after run_dir."""
    r = inst.relayctl('start')
    check('bad value: started again (exit 0)', r.returncode == 0,
          r.stdout + r.stderr)
    pids = run_status(run_dir)
    with open(inst.path('relay.conf'), 'a') as f:
        f.write('dkim_fail = sometimes\n')
    r = inst.relayctl('status')
    check('bad value: status works and warns about dkim_fail',
          r.returncode == 0 and 'dkim_fail' in r.stderr and
          'warning' in r.stderr, (r.returncode, r.stdout, r.stderr))
    r = inst.relayctl('start')
    check('bad value: start refuses (exit 100)', r.returncode == 100 and
          'dkim_fail' in r.stderr, (r.returncode, r.stderr))
    r = inst.relayctl('stop')
    left = [n for n, p in pids.items() if p and alive(p)]
    check('bad value: stop ends every daemon', r.returncode == 0 and
          not left, (r.returncode, r.stderr, left))


def main():
    inst = Instance().prepare()
    run_dir = tempfile.mkdtemp(prefix='relaybox-e2e-run-')
    os.chmod(run_dir, 0o755)
    with open(inst.path('relay.conf'), 'a') as f:
        f.write('run_dir = %s\n' % run_dir)
    try:
        test_typo(inst, run_dir)
        test_bad_value(inst, run_dir)
    finally:
        for p in inst.pids():  # what is left of this instance only
            os.kill(p, signal.SIGKILL)
        inst.remove()
        shutil.rmtree(run_dir, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
