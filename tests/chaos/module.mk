# tests/chaos/: long crash-safety runs, not part of `make test` (its short
# form there is tests/e2e/test_chaos_short.py).  `make chaos` sends 5,000
# messages over at least 60 s while daemons are killed with SIGKILL (at
# most 5 minutes); `make chaos-short` is the bounded form for CI (2,000
# messages, at most 150 s).  Both run the test build (build/asan/bin, or
# $RELAYBOX_BIN).  The customer archives every message to an address
# (relay.rules archive=): every copy must arrive too (CHAOS_ARGS="--archive
# maildir": into the customer's maildir; "--archive none": off).
# Duplicates are allowed (delivery is at least once): the run counts them
# and blames each on the kill that made it ('# chaos: duplicates ...'
# line, tests/chaos/chaos_dups.py); any loss fails it.
# Extra arguments: CHAOS_ARGS="--seed N ...".
CHAOS_ARGS ?=

chaos: asan
	tests/with-bin build/asan/bin /usr/bin/python3 tests/chaos/chaos.py $(CHAOS_ARGS)

chaos-short: asan
	tests/with-bin build/asan/bin /usr/bin/python3 tests/chaos/chaos.py --messages 2000 --min-seconds 30 \
	    --max-seconds 150 $(CHAOS_ARGS)

.PHONY: chaos chaos-short
