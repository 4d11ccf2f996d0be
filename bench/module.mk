# bench/: `make bench` also prints the rate counters' updates per second
# (bench/rate_bench.c, optimised, without sanitizers, like bench/run).
RATE_BENCH_OBJ := $(BUILD)/bench/rate_bench.o $(BUILD)/policy/rate.o $(BUILD)/policy/rate_set.o
$(eval $(call program,rate-bench,$(RATE_BENCH_OBJ)))
rate-bench:
	$(MAKE) -s BUILD=build-bench BIN=bin-bench SANITIZE= OPT="-O2 -g" bin-bench/rate-bench
	bin-bench/rate-bench
bench: rate-bench
.PHONY: rate-bench
