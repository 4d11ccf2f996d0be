# policy/: relay-policy, the relay decisions and the rate counters.
POLICY_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard policy/*.c))
PROGRAMS += relay-policy
MAN_PAGES += man/relay-policy.8
$(eval $(call program,relay-policy,$(POLICY_OBJ)))
