#!/usr/bin/python3
"""test_priv_run.py: run/ is root's and clients check who listens (issue
18, finding 4).  run/ is not world-writable (a local user cannot create
a name there); links left where relay-master writes its own files
(status.tmp, ready.tmp, master.pid) lead nowhere; each daemon's socket
names the daemon's uid to a client (SO_PEERCRED); and a listener of
another uid put in the place of policy.sock or queue.sock gets neither
a request nor a message: relayctl explain and relay-smtpd refuse it.
Not root: prints a SKIP note and no PASS line."""
import os
import pwd
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Instance, as_user, check, finish,  # noqa: E402
                     skipped_unless_root, tcp_pair)

STRANGER = 'nobody'
PLANTED = ('status.tmp', 'ready.tmp', 'master.pid')


def ident(path):
    st = os.lstat(path)
    with open(path, 'rb') as f:
        return (st.st_uid, stat.S_IMODE(st.st_mode), st.st_mtime_ns, f.read())


def peer_uid(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        cred = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        return struct.unpack('3i', cred)[1]
    finally:
        s.close()


def run_dir_closed(inst):
    st = os.stat(inst.path('run'))
    check('run/ belongs to root and is 0755',
          st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o755,
          oct(st.st_mode))
    made = as_user(STRANGER, lambda: open(inst.path('run/x.sock'), 'w') and 'made')
    check('a local user cannot create a name in run/', made != 'made', made)


def links_untouched(secret_dir):
    targets = {}
    inst = Instance().prepare()
    try:
        os.mkdir(inst.path('run'), 0o755)
        for name in PLANTED:
            t = os.path.join(secret_dir, name)
            with open(t, 'w') as f:
                f.write('root only\n')
            os.chmod(t, 0o600)
            targets[name] = ident(t)
            os.symlink(t, inst.path('run/' + name))
        inst.start()
        inst.stop()
        for name in PLANTED:
            t = os.path.join(secret_dir, name)
            check('run/%s as a link: its root-only target untouched' % name,
                  ident(t) == targets[name], repr((targets[name], ident(t))))
    finally:
        inst.stop()
        inst.remove()


class Stranger:
    """A listening socket bound by STRANGER (in a folder of its own),
    then moved by root to where a daemon's socket is: whatever a client
    sends it is counted."""

    def __init__(self, where):
        self.tmp = tempfile.mkdtemp(prefix='relaybox-stranger-')
        pw = pwd.getpwnam(STRANGER)
        os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
        self.r, w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.r)
            self._serve(pw, w)
        os.close(w)
        os.read(self.r, 1)  # listening
        os.rename(os.path.join(self.tmp, 's'), where)

    def _serve(self, pw, w):
        got = 0
        try:
            os.setgroups([pw.pw_gid])
            os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
            os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)
            s = socket.socket(socket.AF_UNIX)
            s.bind(os.path.join(self.tmp, 's'))
            os.chmod(os.path.join(self.tmp, 's'), 0o666)  # as any would
            s.listen(8)
            os.write(w, b'l')
            s.settimeout(4)
            while True:
                try:
                    c, _ = s.accept()
                except socket.timeout:
                    break
                c.settimeout(2)
                try:
                    while True:
                        b = c.recv(65536)
                        if not b:
                            break
                        got += len(b)
                except OSError:
                    pass
                c.close()
        finally:
            os.write(w, str(got).encode())
            os._exit(0)

    def bytes_received(self):
        data = b''
        while True:
            b = os.read(self.r, 64)
            if not b:
                break
            data += b
        os.waitpid(self.pid, 0)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return int(data or b'-1')


def reply(f):
    """One SMTP reply (all its lines) from the file f, '' at EOF."""
    text = ''
    while True:
        line = f.readline().decode(errors='replace')
        text += line
        if len(line) < 4 or line[3] != '-':
            return text


def smtpd(inst, steps):
    """relay-smtpd -d DIR on a loopback TCP connection (relay-policy
    believes a client's address only from its socket): its greeting,
    then each step sent after the reply to the one before; everything
    it answered."""
    srv, cli = tcp_pair()
    env = dict(os.environ, TCPREMOTEIP='127.0.0.1', TCPREMOTEPORT='5',
               TCPLOCALIP='127.0.0.1', TCPLOCALPORT='25', PROTO='TCP')
    env.pop('RELAYBOX_TLS', None)
    p = subprocess.Popen([os.path.join(BIN, 'relay-smtpd'), '-d', inst.dir],
                         stdin=srv, stdout=srv, stderr=subprocess.DEVNULL,
                         env=env)
    srv.close()
    cli.settimeout(30)
    f = cli.makefile('rb')
    out = ''
    try:
        out += reply(f)
        for step in steps:
            cli.sendall(step)
            out += reply(f)
    except OSError:
        pass
    finally:
        f.close()
        cli.close()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return out


def peers_checked(inst):
    for sock, user in (('policy.sock', 'relaypolicy'),
                       ('queue.sock', 'relayqueue'),
                       ('remote.sock', 'relayremote')):
        uid = peer_uid(inst.path('run/' + sock))
        check('run/%s: SO_PEERCRED names %s' % (sock, user),
              uid == pwd.getpwnam(user).pw_uid, repr(uid))
    body = [b'EHLO x\r\n', b'MAIL FROM:<a@example.com>\r\n',
            b'RCPT TO:<b@example.org>\r\n', b'DATA\r\n',
            b'Subject: secret\r\n\r\nthe body\r\n.\r\n', b'QUIT\r\n']
    fake = Stranger(inst.path('run/queue.sock'))
    out = smtpd(inst, body)
    got = fake.bytes_received()
    check('queue.sock of another uid: no message handed to it', got == 0,
          repr(got))
    check('queue.sock of another uid: the recipient was accepted',
          ' 2.1.5 ' in out, out)
    check('queue.sock of another uid: the client gets 451', '\n451 ' in out, out)
    fake = Stranger(inst.path('run/policy.sock'))
    r = inst.relayctl('explain', '--ip', '127.0.0.1', '--from',
                      'a@example.com', '--rcpt', 'b@example.org')
    out = smtpd(inst, [b'EHLO x\r\n', b'AUTH PLAIN AGEAcGFzc3dvcmQ=\r\n',
                       b'QUIT\r\n'])
    got = fake.bytes_received()
    check('policy.sock of another uid: no request (nor password) sent to it',
          got == 0, repr(got))
    check('policy.sock of another uid: relayctl explain refuses',
          r.returncode != 0 and 'refused' in r.stderr,
          repr((r.returncode, r.stdout, r.stderr)))
    check('policy.sock of another uid: relay-smtpd answers 421',
          out.startswith('421 '), out)


def main():
    if skipped_unless_root('priv_run'):
        return
    secret_dir = tempfile.mkdtemp(prefix='relaybox-secret-')
    os.chmod(secret_dir, 0o700)
    try:
        links_untouched(secret_dir)
        # smtpd() writes each script at once: not a client that waits
        # for replies, which pipelining_strict would refuse at EHLO
        with Instance(conf_overrides={'pipelining_strict': 'no'}) as inst:
            run_dir_closed(inst)
            peers_checked(inst)
    finally:
        shutil.rmtree(secret_dir, ignore_errors=True)


main()
finish()
