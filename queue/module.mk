# queue/: relay-queue, durable injection (queue/QUEUE.md).
QUEUE_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard queue/*.c))
PROGRAMS += relay-queue
$(eval $(call program,relay-queue,$(QUEUE_OBJ)))
MAN_PAGES += man/relay-queue.8
# libopendkim signs (queue_dkim*.c): linked into relay-queue alone, and
# into the unit tests and fuzz targets that link those files.
DKIM_LIBS := $(shell pkg-config --libs opendkim)
$(BIN)/relay-queue: LDLIBS += $(DKIM_LIBS)
$(BUILD)/tests/test_queue_commit $(BUILD)/tests/test_queue_dkim \
$(BUILD)/tests/test_queue_reason: LDLIBS += $(DKIM_LIBS)
$(BUILD)/fuzz/fuzz_queue $(BUILD)/fuzz/lf_queue $(BUILD)/fuzz/fuzz_dkim $(BUILD)/fuzz/lf_dkim: LDLIBS += $(DKIM_LIBS)
