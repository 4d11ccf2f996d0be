# ctl/: relay-master (the supervisor) and relayctl (the operator's tool).
# relayctl links every ctl/ctl_*.c: each subcommand lives in its own file,
# some of them owned by other parts (see ctl/ctl.h).
MASTER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard ctl/master_*.c))
# relayctl dkim reads relay.rules with makecdb's own parser
RELAYCTL_OBJ := $(patsubst %.c,$(BUILD)/%.o,ctl/relayctl_main.c $(wildcard ctl/ctl_*.c) \
		conf/makecdb_lex.c conf/makecdb_parse.c conf/makecdb_check.c \
		conf/makecdb_dkim.c $(RULEHIST_SRC))
PROGRAMS += relay-master relayctl
MAN_PAGES += man/relay-master.8 man/relayctl.8
$(eval $(call program,relay-master,$(MASTER_OBJ)))
$(eval $(call program,relayctl,$(RELAYCTL_OBJ)))
