# conf/: makecdb, the compiler of relay.rules into rules.cdb + users.cdb.
# The history of compiled sets (rulehist*) is shared with relayctl rules.
RULEHIST_SRC := conf/mkfile.c $(wildcard conf/rulehist*.c)
MAKECDB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard conf/makecdb*.c) \
		$(RULEHIST_SRC))
PROGRAMS += makecdb
$(eval $(call program,makecdb,$(MAKECDB_OBJ)))
MAN_PAGES += man/makecdb.8 man/relay.rules.5
