#!/usr/bin/python3
"""test_master_ready.py: relay-master calls the relay ready only once
every daemon on the mail path said it serves (lib/notify.h), not when
its process merely runs.  A relay-send that runs but never gets through
its start (a stand-in that only sleeps) keeps run/ready away and makes
`relayctl start -w` fail, so an operator is never told "ready" by a
relay whose daemon is stuck or about to die of its configuration, and
relay-master names it in the log once it has not said it serves for
daemon_hang_timeout seconds (it is not killed: a start may be long);
with the real relay-send the same instance becomes ready."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Instance, alive, check, finish  # noqa: E402

STAND_IN = '#!/bin/sh\nexec sleep 120\n'
LIMIT = 3  # daemon_hang_timeout


def bin_with_stand_in(tmp):
    """A copy of BIN whose relay-send only sleeps.  relay-master and
    relayctl are copied (each finds the others beside its own
    /proc/self/exe), the rest linked."""
    for name in os.listdir(BIN):
        src, dst = os.path.join(BIN, name), os.path.join(tmp, name)
        if name == 'relay-send':
            with open(dst, 'w') as f:
                f.write(STAND_IN)
            os.chmod(dst, 0o755)
        elif name in ('relay-master', 'relayctl'):
            shutil.copy2(src, dst)
        else:
            os.symlink(src, dst)


def relayctl(bindir, inst, *args):
    return subprocess.run([os.path.join(bindir, 'relayctl'), '-d', inst.dir]
                          + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60,
                          env=inst.environ())


def stop(bindir, inst):
    relayctl(bindir, inst, 'stop')
    for pid, _ in inst.status().values():
        if pid and alive(pid):
            os.kill(pid, 9)


def main():
    tmp = tempfile.mkdtemp(prefix='relaybox-bin-')
    inst = Instance(conf_overrides={'daemon_hang_timeout': LIMIT}).prepare()
    try:
        bin_with_stand_in(tmp)
        r = relayctl(tmp, inst, 'start', '-w', '4')
        check('a relay-send that never serves: relayctl start -w 4 fails '
              '(%d)' % r.returncode, r.returncode != 0, r.stdout)
        time.sleep(1)
        check('no run/ready while relay-send has not said it serves',
              not os.path.exists(inst.path('run/ready')) and
              'ready: every daemon' not in inst.log(), inst.log_tail())
        r = relayctl(tmp, inst, 'status')
        check('relayctl status: relay-send running, "ready no"',
              re.search(r'^relay-send\s+running', r.stdout, re.M) and
              re.search(r'^ready\s+no$', r.stdout, re.M), r.stdout)
        pid = inst.status()['relay-send'][0]
        line = (r'warning: relay-send pid=%d has not said it serves after '
                r'\d+ s' % pid)
        m = inst.wait_log(line, LIMIT + 10)
        check('relay-master names the daemon it waits for, once',
              m and len(re.findall(line, inst.log())) == 1 and
              inst.log().count('has not said it serves') == 1,
              inst.log_tail())
        check('that daemon is not killed for it (same pid)',
              inst.status()['relay-send'][0] == pid and alive(pid) and
              'hangs: silent' not in inst.log(), inst.log_tail())
        stop(tmp, inst)
        r = relayctl(BIN, inst, 'start', '-w', '30')
        check('the real relay-send: relayctl start -w 30 succeeds (%d)' %
              r.returncode, r.returncode == 0 and
              os.path.exists(inst.path('run/ready')), r.stdout)
        check('relay-master logs each daemon ready',
              all('%s pid=' % d in inst.log() for d in
                  ('relay-policy', 'relay-queue', 'relay-remote',
                   'relay-send', 'relay-listen')) and
              inst.log().count(' is ready') >= 5, inst.log_tail())
    finally:
        stop(BIN, inst)
        inst.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


if __name__ == '__main__':
    sys.exit(main())
