#!/usr/bin/python3
"""test_readme.py: README's two commands, run as root in a fresh clone in a
folder the relay users cannot reach (mode 0700, as a clone under /root).

make run (README's first command, as written; the port from
RELAYBOX_PORT, a free one): the relay comes up, README's swaks line gets
250, README's relayctl status line works; stopped as Ctrl-C stops it,
relayhost set in run-instance/relay.conf as the banner says, make run
again relays README's swaks message to a test server, where it arrives
once.  make test (the second command) with TESTS naming one group: the
set-up (packages, users, the test build, a copy of the programs the relay
users can run) goes through and the group passes; the whole suite is
what CI runs from a fresh clone (.ci/run), not repeated here.

The clone is of the committed HEAD: uncommitted changes are not in it.
Needs root, git and a git work tree; at most ~10 minutes."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ROOT, Sink, check, finish, free_port,  # noqa: E402
                     is_root, skip, wait_until)

# as from a shell: not inside the make that runs this test (make test, CI),
# the clone's own programs and instance
ENV = {k: v for k, v in os.environ.items()
       if k not in ('MAKELEVEL', 'MAKEFLAGS', 'MFLAGS', 'MAKEOVERRIDES',
                    'RELAYBOX_BIN', 'RELAYBOX_DIR')}
ENV['MAKEFLAGS'] = '-j2'


def readme_commands():
    """The commands of README's first code block."""
    with open(os.path.join(ROOT, 'README.md')) as f:
        block = f.read().split('```')[1]
    return [line.split('#')[0].strip() for line in block.splitlines()
            if line.strip()]


def readme_line(prefix):
    """README's line starting with prefix (swaks, bin/relayctl)."""
    with open(os.path.join(ROOT, 'README.md')) as f:
        for line in f:
            if line.startswith(prefix):
                return line.strip()
    return None


def start_run(clone, cmd, port, log):
    return subprocess.Popen(['sh', '-c', cmd], cwd=clone, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            env=dict(ENV, RELAYBOX_PORT=str(port)))


def stop_run(p):
    """Ctrl-C: SIGINT to the process group; then make sure."""
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGINT)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def swaks_readme(clone, port):
    line = readme_line('swaks ').replace('--port 2525', '--port %d' % port)
    return subprocess.run(line, shell=True, cwd=clone, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60)


def test_make_run(clone, cmd, top):
    port = free_port()
    ready = os.path.join(clone, 'run-instance', 'run', 'ready')
    logpath = os.path.join(top, 'make-run.log')
    with open(logpath, 'w') as log, Sink() as sink:
        p = start_run(clone, cmd, port, log)
        try:
            up = wait_until(lambda: os.path.exists(ready) or
                            p.poll() is not None, 400, 0.5)
            with open(logpath) as f:
                out = f.read()
            check('make run: the relay comes up (run-instance/run/ready)',
                  up and os.path.exists(ready), out[-3000:])
            check('make run: runs a copy the relay users can reach',
                  'cannot reach' in out and '/var/tmp/relaybox-run.' in out,
                  out[-1500:])
            r = swaks_readme(clone, port)
            check("make run: README's swaks line gets 250 after DATA",
                  r.returncode == 0 and re.search(r'<-  250 2\.0\.0 Ok: queued',
                                                  r.stdout), r.stdout[-1500:])
            st = subprocess.run(readme_line('bin/relayctl -d run-instance status'),
                                shell=True, cwd=clone, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=60)
            check("make run: README's relayctl status line: all running",
                  st.returncode == 0 and 'relay-listen' in st.stdout, st.stdout)
        finally:
            stop_run(p)
        check('make run: Ctrl-C stops it', p.returncode is not None and
              not os.path.exists(ready))
        conf = os.path.join(clone, 'run-instance', 'relay.conf')
        with open(conf, 'a') as f:
            f.write('relayhost = [127.0.0.1]:%d\n' % sink.port)
        p = start_run(clone, cmd, port, log)
        try:
            wait_until(lambda: os.path.exists(ready) or p.poll() is not None,
                       120, 0.5)
            r = swaks_readme(clone, port)
            # the first run's message may still be queued (no DNS here)
            # and now go to the sink too: count this one by its Message-Id
            m = re.search(r'-> Message-Id: (<[^>]+>)', r.stdout)
            mid = m.group(1).encode() if m else b'?'

            def copies():
                return sum(mid in x.data for x in list(sink.messages))
            wait_until(lambda: copies() >= 1, 30)
            time.sleep(1)
            check('make run again with relayhost: the message arrives once',
                  r.returncode == 0 and m and copies() == 1,
                  r.stdout[-800:])
        finally:
            stop_run(p)
    with open(logpath) as f:
        m = re.search(r'(/var/tmp/relaybox-run\.\d+)/bin', f.read())
    return m.group(1) if m else None


def test_make_test(clone, cmd):
    r = subprocess.run(cmd + ' TESTS="e2e test_relay_basic"', shell=True,
                       cwd=clone, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=900,
                       env=ENV)
    summary = [line for line in r.stdout.splitlines()
               if re.match(r'\d+ passed, \d+ failed$', line)]
    check('make test (one group) in the 0700 clone: set-up done, a copy run',
          'not reachable by the relay users' in r.stdout, r.stdout[-2000:])
    check('make test (one group): passes', r.returncode == 0 and
          summary and re.match(r'[1-9]\d* passed, 0 failed$', summary[-1]),
          r.stdout[-2000:])


def main():
    if not is_root():
        skip('readme', 'needs root (the daemons run as their own users)')
        finish()
        return
    if subprocess.run(['git', '-C', ROOT, 'rev-parse', 'HEAD'],
                      stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        skip('readme', 'not a git work tree')
        finish()
        return
    cmds = readme_commands()
    check("README's two commands are make run and make test",
          cmds == ['make run', 'make test'], repr(cmds))
    top = tempfile.mkdtemp(prefix='relaybox-readme-')  # 0700, like /root
    clone = os.path.join(top, 'relaybox')
    stage = None
    try:
        subprocess.run(['git', 'clone', '-q', ROOT, clone], check=True,
                       timeout=120)
        stage = test_make_run(clone, cmds[0], top)
        test_make_test(clone, cmds[1])
    finally:
        shutil.rmtree(top, ignore_errors=True)
        if stage and stage.startswith('/var/tmp/relaybox-run.'):
            shutil.rmtree(stage, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
