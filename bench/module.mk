# bench/: `make bench` also prints the rate counters' updates per second
# (bench/rate_bench.c, the release build, like bench/run).
RATE_BENCH_OBJ := $(BUILD)/bench/rate_bench.o $(BUILD)/policy/rate.o $(BUILD)/policy/rate_set.o
$(eval $(call program,rate-bench,$(RATE_BENCH_OBJ)))
rate-bench:
	$(MAKE) -s VARIANT=release bin/rate-bench
	bin/rate-bench
bench: rate-bench
.PHONY: rate-bench
# bench/tls_source.c: the STARTTLS + AUTH load client of scenario 5
# (smtp-source cannot do TLS); bench/run builds bin/tls-source.
$(eval $(call program,tls-source,$(BUILD)/bench/tls_source.o))
# Its TLS is GnuTLS's (libgnutls28-dev, conf/packages.test).
$(BIN)/tls-source: LDLIBS += $(shell pkg-config --libs gnutls)
