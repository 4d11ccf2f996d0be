# send/: relay-send (send_*.c, the scheduler) and relay-remote (remote_*.c,
# outbound SMTP).  Each program's lines are kept together.

# relay-remote
REMOTE_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard send/remote_*.c))
PROGRAMS += relay-remote
$(eval $(call program,relay-remote,$(REMOTE_OBJ)))
# libcurl fetches MTA-STS policies (remote_sts_fetch.c): relay-remote only
$(BIN)/relay-remote: LDLIBS += $(shell pkg-config --libs libcurl)
MAN_PAGES += man/relay-remote.8

# relay-send
SEND_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard send/send_*.c))
PROGRAMS += relay-send
$(eval $(call program,relay-send,$(SEND_OBJ)))
MAN_PAGES += man/relay-send.8
