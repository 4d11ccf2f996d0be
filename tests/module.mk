# tests/: fuzz targets for the lib/ parsers (tests/fuzz/fuzz_<name>.c,
# libFuzzer style).  `make fuzz` builds each twice: with gcc and the plain
# driver tests/fuzz/driver.c (build/fuzz/fuzz_<name>), and, when clang is
# installed, with libFuzzer (build/fuzz/lf_<name>); then tests/fuzz/run
# runs each for FUZZ_SECONDS.  `make test` does not depend on any of it.
FUZZ_NAMES   := ns kv addr cidr cfg io qfile qstate
FUZZ_SECONDS ?= 30
FUZZ_CLANG   := $(shell command -v clang 2>/dev/null)
FUZZ_CFLAGS  := $(filter-out -MMD -MP,$(CFLAGS))
# the lib/ sources each target exercises (libFuzzer builds compile them
# with coverage instrumentation, so they cannot use build/librelay.a)
FUZZ_SRC_ns   := lib/ns.c lib/usock.c
FUZZ_SRC_kv   := lib/kv.c lib/ns.c lib/usock.c
FUZZ_SRC_addr := lib/addr.c
FUZZ_SRC_cidr := lib/ipaddr.c
FUZZ_SRC_cfg  := lib/cfg.c
FUZZ_SRC_io   := lib/io.c
FUZZ_SRC_qfile  := lib/qfile.c
FUZZ_SRC_qstate := lib/qstate.c

FUZZ_DRIVERS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_LF      := $(if $(FUZZ_CLANG),$(FUZZ_NAMES:%=$(BUILD)/fuzz/lf_%))

define fuzz_target
$(BUILD)/fuzz/fuzz_$(1): tests/fuzz/fuzz_$(1).c tests/fuzz/driver.c $(LIB_A)
	@mkdir -p $(BUILD)/fuzz
	$$(CC) $$(FUZZ_CFLAGS) -o $$@ tests/fuzz/fuzz_$(1).c tests/fuzz/driver.c $(LIB_A) $$(LDLIBS)
$(BUILD)/fuzz/lf_$(1): tests/fuzz/fuzz_$(1).c $(FUZZ_SRC_$(1))
	@mkdir -p $(BUILD)/fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Ilib \
	    -fsanitize=fuzzer,address,undefined -o $$@ tests/fuzz/fuzz_$(1).c $(FUZZ_SRC_$(1)) $$(LDLIBS)
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call fuzz_target,$(n))))

fuzz-build: $(FUZZ_DRIVERS) $(FUZZ_LF)

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run $(FUZZ_NAMES)

.PHONY: fuzz fuzz-build
