#!/usr/bin/python3
"""redisserver.py: a redis-server for a test, on 127.0.0.1 and a free
port, in a temporary directory, without persistence, with an ACL user
(`relay`, password `secret`, only the commands INSTALL.md's ACL gives),
one for the test itself (`admin`: cli(..., admin=True)) and the default
user off.  stop() kills it
(and the test's finally/with block calls it); start() again uses the same
port, so the relays' rate_store URL stays right.

    with RedisServer() as r:
        r.url()          # redis://127.0.0.1:PORT/3
        r.kill()         # SIGKILL, as a crash
        r.start()        # back on the same port, empty
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from sink import free_port

USER, PASSWORD = 'relay', 'secret'
ADMIN, ADMIN_PASSWORD = 'admin', 'admin-secret'  # the test's, not the relay's
# rate_store_timeout for a test that is not about it: a decision waits
# that long for Redis, then gets 451 4.3.0 as documented; the default
# (250 ms) is a round trip a machine under heavy load can miss, and a
# test of shared counts must not depend on how busy the machine is
TIMEOUT_MS = 5000
# what relaybox needs, no more (INSTALL.md shows the same ACL)
COMMANDS = '-@all +@read +@write +@scripting +@connection -@dangerous +role +time +select'


class RedisServer:
    """extra: more redis.conf lines; commands: the ACL user's (a replica
    watched by Sentinel needs more: '&* +@all'); sentinel: run as a
    Sentinel (extra then holds its 'sentinel monitor' lines)."""
    def __init__(self, port=None, extra='', commands=COMMANDS,
                 sentinel=False):
        self.port = port or free_port('127.0.0.1')
        self.dir = tempfile.mkdtemp(prefix='relaybox-redis-')
        self.proc = None
        self.extra, self.commands, self.sentinel = extra, commands, sentinel

    def _conf(self):
        path = os.path.join(self.dir, 'redis.conf')
        with open(path, 'w') as f:
            f.write('bind 127.0.0.1\nport %d\ndir %s\n'
                    'daemonize no\nloglevel warning\nlogfile %s\n' %
                    (self.port, self.dir, os.path.join(self.dir, 'log')))
            if not self.sentinel:
                f.write('save ""\nappendonly no\nuser default off\n'
                        'user %s on >%s ~* %s\n'
                        'user %s on >%s ~* &* +@all\n' %
                        (USER, PASSWORD, self.commands,
                         ADMIN, ADMIN_PASSWORD))
            f.write(self.extra)
        return path

    def start(self, timeout=20):
        argv = ['redis-server', self._conf()]
        if self.sentinel:
            argv.append('--sentinel')
        self.proc = subprocess.Popen(argv,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('redis-server exited with %d' %
                                   self.proc.returncode)
            try:
                with socket.create_connection(('127.0.0.1', self.port), 1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('redis-server did not listen on %d' % self.port)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self):
        self.kill()

    def url(self, db=3):
        return 'redis://127.0.0.1:%d/%d' % (self.port, db)

    def write_auth(self, inst_dir, name='rate_store.auth', password=PASSWORD):
        """The instance's DIR/rate_store.auth (the default
        rate_store_auth); name 'secrets/rate_store': where an older
        install kept it."""
        path = os.path.join(inst_dir, name)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, 'w') as f:
            f.write('# the ACL user of the test redis\nuser %s\n'
                    'password %s\n' % (USER, password))
        os.chmod(path, 0o600)

    def cli(self, *args, db=3, admin=False):
        """redis-cli as the ACL user (admin: as the test's own user with
        every command; a Sentinel: no user); its output."""
        user, pw = (ADMIN, ADMIN_PASSWORD) if admin else (USER, PASSWORD)
        who = [] if self.sentinel else ['-n', str(db), '--user', user,
                                        '--pass', pw]
        r = subprocess.run(['redis-cli', '-p', str(self.port)] + who +
                           ['--no-auth-warning'] + [str(a) for a in args],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        return r.stdout

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def close(self):
        """Stop it and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self.close()
        return False
