#!/usr/bin/python3
"""test_chaos_short.py: the short form of tests/chaos/chaos.py for `make
test`: 1,000 messages (spread over at least 12 s) from 6 parallel SMTP
clients while relay-send, relay-remote (its listener and its workers),
relay-queue, relay-smtpd (and now and then relay-listen and
relay-policy) are killed with SIGKILL at random moments; every message that got a 250 must arrive (duplicates are
counted, not failed), the queue must drain, every daemon must run
again.  The customer archives to an address (archive=): every message
that got a 250 must have its journal report arrive too, and nothing of
the archive reach a recipient.  Bounded to ~60 s; `make chaos` runs
5,000 messages."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'chaos'))
from chaos import run  # noqa: E402
from harness import finish  # noqa: E402

run(messages=1000, nclients=6, max_seconds=60, kill_every=0.2,
    min_seconds=12, tag='chaos short')
finish()
