# tests/chaos/: long crash-safety runs, not part of `make test` (its short
# form is tests/e2e/test_chaos_short.py).  `make chaos` sends 5,000
# messages while daemons are killed with SIGKILL (at most ~5 minutes);
# CI runs a bounded form, e.g.
#   make chaos CHAOS_ARGS="--messages 2000 --max-seconds 150"
CHAOS_ARGS ?=

chaos: programs
	/usr/bin/python3 tests/chaos/chaos.py $(CHAOS_ARGS)

.PHONY: chaos
