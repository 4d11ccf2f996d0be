# policy/: relay-policy, the relay decisions and the rate counters.
POLICY_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard policy/*.c))
PROGRAMS += relay-policy
MAN_PAGES += man/relay-policy.8
$(eval $(call program,relay-policy,$(POLICY_OBJ)))

# `make bench` also measures relay-policy's decisions per second through
# its socket over 100,000 address rules (bench/policy_bench), on the
# release build, like bench/run.
policy-bench:
	$(MAKE) -s VARIANT=release bin/relay-policy bin/makecdb
	/usr/bin/python3 bench/policy_bench --bin bin
bench: policy-bench
.PHONY: policy-bench
