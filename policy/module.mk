# policy/: relay-policy, the relay decisions and the rate counters.
POLICY_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard policy/*.c))
PROGRAMS += relay-policy
MAN_PAGES += man/relay-policy.8
$(eval $(call program,relay-policy,$(POLICY_OBJ)))

# `make bench` also measures relay-policy's decisions per second through
# its socket over 100,000 address rules (bench/policy_bench), optimised
# and without sanitizers, like bench/run.
policy-bench:
	$(MAKE) -s BUILD=build-bench BIN=bin-bench SANITIZE= OPT="-O2 -g" bin-bench/relay-policy bin-bench/makecdb
	/usr/bin/python3 bench/policy_bench --bin bin-bench
bench: policy-bench
.PHONY: policy-bench
