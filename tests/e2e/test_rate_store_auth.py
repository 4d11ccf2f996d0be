#!/usr/bin/python3
"""test_rate_store_auth.py: where the Redis login (rate_store_auth) is.
Its default is DIR/rate_store.auth, root's, in root's folder, not in
secrets/ (relay-remote's folder, where relay-remote could swap in its
own file while the operator writes the password there, and read it):

- relayctl logs in to Redis with DIR/rate_store.auth;
- as relayremote, the file can be neither read nor replaced;
- an older install's secrets/rate_store is still read while
  DIR/rate_store.auth is absent, and relay-master warns at its start
  that it must move; once DIR/rate_store.auth is there, it is the one
  read.
Not root: prints a SKIP note and no PASS line."""
import os
import pwd
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, as_user, check, finish,  # noqa: E402
                     skipped_unless_root)
from redisserver import RedisServer  # noqa: E402


def stats(inst):
    r = inst.relayctl('stats', timeout=30)
    return r.returncode, r.stdout + r.stderr


def remote_cannot_touch(inst):
    auth = inst.path('rate_store.auth')

    def read():
        with open(auth) as f:
            return f.read()

    def swap():
        own = os.path.join(inst.path('secrets'), 'mine')
        with open(own, 'w') as f:
            f.write('user relay\npassword guess\n')
        os.rename(own, auth)
        return 'swapped'
    got = as_user('relayremote', read)
    check('as relayremote: rate_store.auth cannot be read',
          got.startswith('error:') and 'Permission denied' in got, got)
    got = as_user('relayremote', swap)
    check('as relayremote: rate_store.auth cannot be replaced',
          got != 'swapped' and 'guess' not in open(auth).read(), got)


def old_install(inst, redis):
    os.unlink(inst.path('rate_store.auth'))
    redis.write_auth(inst.dir, 'secrets/rate_store')
    rc, out = stats(inst)
    check('an older install: secrets/rate_store is still read',
          rc == 0, '%s: %s' % (rc, out))
    inst.start()
    warned = inst.wait_log(r'relay-master\[\d+\]: warning: \S*secrets/'
                           r'rate_store: the Redis login is in '
                           r'relay-remote\'s folder: move it to \S*'
                           r'/rate_store\.auth', 5)
    check('an older install: relay-master warns that it must move', warned,
          inst.log_tail())
    inst.stop()
    redis.write_auth(inst.dir, 'secrets/rate_store', password='wrong')
    redis.write_auth(inst.dir)
    rc, out = stats(inst)
    check('rate_store.auth there: secrets/rate_store is not read',
          rc == 0, '%s: %s' % (rc, out))


def main():
    if skipped_unless_root('test_rate_store_auth'):
        return finish()
    with RedisServer() as redis:
        inst = Instance(conf_overrides={'rate_store': redis.url()})
        inst.prepare()
        try:
            os.mkdir(inst.path('secrets'), 0o700)
            pw = pwd.getpwnam('relayremote')
            os.chown(inst.path('secrets'), pw.pw_uid, pw.pw_gid)
            redis.write_auth(inst.dir)
            rc, out = stats(inst)
            check('relayctl logs in to Redis with DIR/rate_store.auth',
                  rc == 0, '%s: %s' % (rc, out))
            remote_cannot_touch(inst)
            old_install(inst, redis)
        finally:
            inst.stop()
            inst.remove()
    return finish()


if __name__ == '__main__':
    sys.exit(main())
