#!/usr/bin/python3
"""test_install_run.py: make install, then INSTALL.md's steps, then the
commands of the installed relaybox.service, as systemd would run them,
give a running relay of the release programs (no systemd in the test
box: the unit's ExecStartPre/ExecStart/ExecReload lines are run as
written, with the DESTDIR prefix put in front of its paths).

Shows: systemd-analyze verify accepts the installed unit; with relay.conf
edited as INSTALL.md section 3 says (and a self-signed certificate made
with section 5's openssl line, key 0600 root) and makecdb run as section 4
says, ExecStartPre and ExecStart bring the relay up; every daemon is the
installed program under its own user, and none has a sanitizer runtime
mapped; a message over STARTTLS arrives; ExecReload (relayctl reload)
answers; SIGTERM (the unit's KillSignal, to relay-master alone: KillMode
mixed) stops it all, a client idle in DATA told 421 4.3.2, and nothing
is left for systemd's SIGKILL of the rest.  Needs root."""
import fcntl
import os
import re
import shlex
import shutil
import signal
import smtplib
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ROOT, Sink, check, finish, free_port,  # noqa: E402
                     is_root, raw_in_data, skip, wait_until)


def unit_lines(path, dest):
    """{key: [command, ...]} of the unit, paths moved under dest."""
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r'^(Exec\w+|Kill\w+)=(.*)$', line.strip())
            if m:
                cmd = m.group(2).replace('/usr/sbin/', dest + '/usr/sbin/')
                cmd = cmd.replace('/etc/relaybox', dest + '/etc/relaybox')
                out.setdefault(m.group(1), []).append(cmd)
    return out


def configure(etc, port, tport, sink):
    """INSTALL.md 3: relay.conf; 5: the self-signed certificate."""
    tls = os.path.join(etc, 'tls')
    os.makedirs(tls, 0o750)
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:P-256', '-nodes', '-days', '825',
                    '-subj', '/CN=relay.example.com',
                    '-keyout', tls + '/privkey.pem',
                    '-out', tls + '/fullchain.pem'], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(tls + '/privkey.pem', 0o600)
    conf = os.path.join(etc, 'relay.conf')
    with open(conf) as f:
        text = f.read()
    text = re.sub(r'(?m)^listen = .*$', 'listen = 127.0.0.1:%d' % port, text)
    text += ('listen_tls = 127.0.0.1:%d\ntls_cert = %s/fullchain.pem\n'
             'tls_key = %s/privkey.pem\nrelayhost = [127.0.0.1]:%d\n'
             % (tport, tls, tls, sink.port))
    with open(conf, 'w') as f:
        f.write(text)


def daemons_ok(etc, sbin):
    """Each daemon's program and uid from /proc; and no sanitizer."""
    rows = {}
    with open(os.path.join(etc, 'run', 'status')) as f:
        for line in f:
            name, pid = line.split()[:2]
            rows[name] = int(pid)
    bad = []
    for name, pid in rows.items():
        try:
            exe = os.readlink('/proc/%d/exe' % pid)
            with open('/proc/%d/maps' % pid) as f:
                maps = f.read()
            uid = os.stat('/proc/%d' % pid).st_uid
        except OSError as e:
            bad.append('%s: %s' % (name, e))
            continue
        if exe != os.path.join(sbin, name):
            bad.append('%s runs %s' % (name, exe))
        if 'libasan' in maps or 'libubsan' in maps:
            bad.append('%s has a sanitizer runtime' % name)
        if (name == 'relay-master') != (uid == 0):
            bad.append('%s runs as uid %d' % (name, uid))
    return len(rows) >= 6 and not bad, bad or rows


def group_gone(pgid):
    """No process is left in the process group (relay-master's: its
    daemons and their relay-smtpd stay in it)."""
    try:
        os.killpg(pgid, 0)
        return False
    except ProcessLookupError:
        return True


def stop_as_systemd(p, unit, port):
    """systemctl stop: KillSignal to the main process alone (KillMode
    mixed), SIGKILL to whatever is left once it has exited."""
    check('the unit: KillMode=mixed, KillSignal=SIGTERM',
          unit.get('KillMode') == ['mixed'] and
          unit.get('KillSignal') == ['SIGTERM'], unit)
    raw = raw_in_data(port)
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        pass
    check('SIGTERM (KillSignal) stops the relay within TimeoutStopSec',
          p.returncode == 0, str(p.returncode))
    end = raw.until_closed(5)
    # before the client's own close, which would end its session too
    gone = wait_until(lambda: group_gone(p.pid), 2)
    raw.close()
    check('SIGTERM: a client idle in DATA is told 421 4.3.2, then closed',
          end is not None and end.startswith(b'421 4.3.2 '), end)
    check('SIGTERM: no process left for the SIGKILL of the rest', gone)


def run_relay(dest, unit, sink):
    etc = dest + '/etc/relaybox'
    port, tport = free_port(), free_port()
    configure(etc, port, tport, sink)
    r = subprocess.run([dest + '/usr/sbin/makecdb', '-d', etc],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    check('INSTALL 4: makecdb -d compiles the installed sample rules',
          r.returncode == 0, r.stdout)
    pre = subprocess.run(shlex.split(unit['ExecStartPre'][0]),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    check('ExecStartPre (makecdb -n) passes', pre.returncode == 0, pre.stdout)
    p = subprocess.Popen(shlex.split(unit['ExecStart'][0]),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        up = wait_until(lambda: os.path.exists(etc + '/run/ready') or
                        p.poll() is not None, 60)
        check('ExecStart: the relay comes up', up and p.poll() is None)
        # a daemon is forked as root and drops to its own uid at once;
        # on a loaded machine "ready" can come before the last one did
        found = []
        wait_until(lambda: found.append(daemons_ok(etc, dest + '/usr/sbin'))
                   or found[-1][0], 10)
        ok, detail = found[-1]
        check('every daemon is the installed release program under its '
              'own uid, no sanitizer mapped', ok, str(detail))
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP('127.0.0.1', port, timeout=30) as c:
            c.starttls(context=ctx)
            c.sendmail('you@example.com', ['someone@example.org'],
                       b'Subject: installed\r\n\r\nvia the unit\r\n')
        check('a message over STARTTLS (key 0600 root) arrives',
              sink.wait_for(1, 30))
        rl = subprocess.run(shlex.split(unit['ExecReload'][0]),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=30)
        check('ExecReload (relayctl reload) exits 0, names the certificate',
              rl.returncode == 0 and 'CN=relay.example.com' in rl.stdout,
              rl.stdout)
        stop_as_systemd(p, unit, port)
    finally:
        if p.poll() is None or not group_gone(p.pid):
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def main():
    if not is_root():
        skip('install run', 'needs root')
        finish()
        return
    dest = tempfile.mkdtemp(prefix='relaybox-installrun-')
    os.chmod(dest, 0o755)
    try:
        # one make of build/release at a time (test_install.sh's lock)
        os.makedirs(os.path.join(ROOT, 'build'), exist_ok=True)
        with open(os.path.join(ROOT, 'build', 'install.lock'), 'w') as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            r = subprocess.run(['make', '-s', 'install', 'DESTDIR=' + dest,
                                'PREFIX=/usr'], cwd=ROOT,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               timeout=900)
        check('make install DESTDIR PREFIX=/usr', r.returncode == 0,
              r.stdout[-1500:])
        unitfile = dest + '/etc/systemd/system/relaybox.service'
        unit = unit_lines(unitfile, dest)
        if shutil.which('systemd-analyze'):
            moved = dest + '/relaybox.service'
            with open(unitfile) as f, open(moved, 'w') as g:
                g.write(f.read().replace('/usr/sbin/', dest + '/usr/sbin/'))
            v = subprocess.run(['systemd-analyze', 'verify', '--man=no', moved],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
            check('systemd-analyze verify accepts the installed unit',
                  v.returncode == 0, v.stdout)
        with Sink() as sink:
            run_relay(dest, unit, sink)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    finish()


if __name__ == '__main__':
    main()
