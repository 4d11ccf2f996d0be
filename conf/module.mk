# conf/: makecdb, the compiler of relay.rules into rules.cdb + users.cdb.
MAKECDB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard conf/makecdb*.c))
PROGRAMS += makecdb
$(eval $(call program,makecdb,$(MAKECDB_OBJ)))
MAN_PAGES += man/makecdb.8 man/relay.rules.5
