# metrics/: relay-metrics, the Prometheus endpoint and status page
# (libmicrohttpd), reading what the daemons publish (lib/metrics.h).
MON_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard metrics/mon_*.c))
PROGRAMS += relay-metrics
MAN_PAGES += man/relay-metrics.8
$(BIN)/relay-metrics: $(MON_OBJ) $(LIB_A)
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $(MON_OBJ) $(LIB_A) $(LDLIBS) -lmicrohttpd -lpthread
