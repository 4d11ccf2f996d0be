# queue/: relay-queue, durable injection (queue/QUEUE.md).
QUEUE_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard queue/*.c))
PROGRAMS += relay-queue
$(eval $(call program,relay-queue,$(QUEUE_OBJ)))
MAN_PAGES += man/relay-queue.8
