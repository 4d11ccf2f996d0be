# smtpd/: relay-smtpd (one SMTP session per process, UCSPI) and
# relay-listen (binds, keeps the pool of workers that accept, caps).
# Pool workers accept on relay-listen's sockets and share its cap table.
SMTPD_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(filter-out smtpd/listen_%.c,$(wildcard smtpd/*.c)) \
	smtpd/listen_sock.c smtpd/listen_slots.c)
LISTEN_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard smtpd/listen_*.c))
PROGRAMS += relay-smtpd relay-listen
# relay-listen execs the workers as user_smtpd: a binary that uid cannot
# read makes each one not dumpable from its exec, so no other worker can
# open its memory in the moment before its own prctl (ARCHITECTURE.md,
# "Which sessions share a worker")
EXEC_ONLY += relay-smtpd
MAN_PAGES += man/relay-smtpd.8 man/relay-listen.8
$(eval $(call program,relay-smtpd,$(SMTPD_OBJ)))
$(eval $(call program,relay-listen,$(LISTEN_OBJ)))
