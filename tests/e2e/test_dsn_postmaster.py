#!/usr/bin/python3
"""test_dsn_postmaster.py: where double bounces go (relay.conf
`postmaster`, doc/BEHAVIOUR.md §4.3):
  - postmaster = ops@example.org: a bounce that cannot be delivered
    (the sender's own address refuses it) reaches ops@example.org, from
    <>, listing the sender's failed bounce; nothing goes to
    postmaster@<hostname>;
  - when ops@example.org refuses it too, the double bounce is dropped
    with a warning (not an info line): somebody must look;
  - left at its default (postmaster@hostname) under MX routing with no
    route for the relay's hostname, relay-send warns at start that those
    notices loop back to the relay; with a relayhost it does not;
  - a postmaster that is no mailbox stops the relay at start."""
import os
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, Sink, check, finish,  # noqa: E402
                     wait_until)

MSG = b'Subject: to nowhere\r\n\r\nbody\r\n'


def to(sink, rcpt):
    with sink.lock:
        return [m for m in sink.messages if rcpt in m.rcpts]


def double_reaches_postmaster():
    codes = {'gone@x.test': 550, 'sender@example.com': 550}
    with Sink(codes=codes) as sink, Instance(
            sink=sink, conf_overrides={'postmaster': 'ops@example.org'}) \
            as inst:
        with smtplib.SMTP('127.0.0.1', inst.port, timeout=30) as s:
            s.sendmail('sender@example.com', ['gone@x.test'], MSG)
        check('the double bounce reaches the postmaster setting',
              wait_until(lambda: to(sink, 'ops@example.org'), 30),
              inst.log_tail())
        time.sleep(2)
        got = to(sink, 'ops@example.org')
        check('once, from <>, about the sender\'s failed bounce',
              len(got) == 1 and got[0].mail_from in ('', '<>') and
              b'sender@example.com' in got[0].data, repr(got))
        check('nothing to postmaster@relaybox.test',
              not to(sink, 'postmaster@relaybox.test'), inst.log_tail())
        check('no start-up warning with a relayhost',
              not re.search(r'warning: .*postmaster', inst.log()),
              inst.log_tail())


def double_dropped_warns():
    codes = {'gone@x.test': 550, 'sender@example.com': 550,
             'ops@example.org': 550}
    with Sink(codes=codes) as sink, Instance(
            sink=sink, conf_overrides={'postmaster': 'ops@example.org'}) \
            as inst:
        with smtplib.SMTP('127.0.0.1', inst.port, timeout=30) as s:
            s.sendmail('sender@example.com', ['gone@x.test'], MSG)
        check('a dropped double bounce is a warning',
              inst.wait_log(r'relay-send\[\d+\]: warning: \w+: '
                            r'undeliverable double bounce dropped', 30),
              inst.log_tail())


def default_loops_warns():
    # no relayhost, no route: postmaster@relaybox.test goes by MX
    with Instance(conf_overrides={'resolver': '127.0.0.1:9'}) as inst:
        check('start-up warning: postmaster@hostname has no route',
              inst.wait_log(r'relay-send\[\d+\]: warning: '
                            r'postmaster@relaybox\.test', 10),
              inst.log_tail())


def bad_postmaster_refused():
    err = ''
    try:
        with Instance(conf_overrides={'postmaster': 'not an address'},
                      ready_timeout=20):
            pass
    except RuntimeError as e:
        err = str(e)
    check('a postmaster that is no mailbox stops the relay at start',
          re.search(r'postmaster .*not an address', err), err)


double_reaches_postmaster()
double_dropped_warns()
default_loops_warns()
bad_postmaster_refused()
finish()
