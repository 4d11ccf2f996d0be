# tests/: fuzz targets (tests/fuzz/fuzz_<name>.c, libFuzzer style) for
# the lib/ parsers and, through the part sources named in a target's first
# line "// links: send/send_dsn.c ...", for the parts' own code, in the
# test build (VARIANT=asan, build/asan/).  `make fuzz` builds each twice:
# with gcc and the plain driver tests/fuzz/driver.c
# (build/asan/fuzz/fuzz_<name>, linked with build/asan/librelay.a), and,
# when clang is installed, with libFuzzer (build/asan/fuzz/lf_<name>,
# linked with a coverage-instrumented copy of lib/ in
# build/asan/fuzz/liblf.a); then tests/fuzz/run runs each for
# FUZZ_SECONDS.  `make test` does not depend on any of it.
FUZZ_NAMES   := ns kv addr cidr cfg io qfile qstate dsn dns remote policy queue smtpd dkim
FUZZ_SECONDS ?= 30
FUZZ_CLANG   := $(shell command -v clang 2>/dev/null)
FUZZ_CFLAGS   = $(filter-out -MMD -MP,$(ALL_CFLAGS))
FUZZ_LFFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Ilib \
		$(shell pkg-config --cflags openssl libbsd-overlay 2>/dev/null)
FUZZ_LF_OBJ  := $(LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_LF_A    := $(BUILD)/fuzz/liblf.a

FUZZ_DRIVERS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_LF      := $(if $(FUZZ_CLANG),$(FUZZ_NAMES:%=$(BUILD)/fuzz/lf_%))

# the part objects are intermediates: keep them (as the unit tests do)
.PRECIOUS: $(BUILD)/fuzz/obj/%.o

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_LFFLAGS) -MMD -MP -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(FUZZ_LF_A): $(FUZZ_LF_OBJ)
	rm -f $@ && ar rcs $@ $^

# the objects of the part sources a target names in its first line
# (patterns allowed; a program's *_main.c is never linked: the target has
# its own main)
fuzz_links = $(filter-out %_main.c,$(wildcard $(shell sed -n '1s|^// links:||p' $(1))))
fuzz_objs = $(patsubst %.c,$(BUILD)/%.o,$(call fuzz_links,$(1)))
fuzz_lfobjs = $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(call fuzz_links,$(1)))

.SECONDEXPANSION:
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/driver.c $(LIB_A) \
		$$(call fuzz_objs,tests/fuzz/fuzz_%.c)
	@mkdir -p $(dir $@)
	$(CC) $(FUZZ_CFLAGS) $(ALL_LDFLAGS) -o $@ $< tests/fuzz/driver.c \
	    $(call fuzz_objs,$<) $(LIB_A) $(LDLIBS)

$(BUILD)/fuzz/lf_%: tests/fuzz/fuzz_%.c $(FUZZ_LF_A) \
		$$(call fuzz_lfobjs,tests/fuzz/fuzz_%.c)
	clang $(FUZZ_LFFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< \
	    $(call fuzz_lfobjs,$<) $(FUZZ_LF_A) $(LDLIBS)

ifeq ($(VARIANT),asan)
# relay-queue's code signs with libopendkim (queue/module.mk)
$(BUILD)/fuzz/fuzz_queue $(BUILD)/fuzz/lf_queue: LDLIBS += $(DKIM_LIBS)

fuzz-build: $(FUZZ_DRIVERS) $(FUZZ_LF)
else
fuzz-build:
	$(MAKE) VARIANT=asan fuzz-build
endif

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run $(FUZZ_NAMES)

.PHONY: fuzz fuzz-build

# `make test-many`: tests/e2e/test_smtpd_many.py at 10,000 open sessions
# (half in TLS) on the release build, the one the bounds on memory per
# session are for; at most 10 minutes.  `make test` runs the same test
# with 2,000 sessions on the test build.
MANY_N ?= 10000
test-many:
	conf/deps.sh test
	$(MAKE) VARIANT=release programs
	RELAYBOX_MANY_N=$(MANY_N) timeout 600 tests/with-bin bin \
	    /usr/bin/python3 tests/e2e/test_smtpd_many.py

.PHONY: test-many

# tests/chaos/ (the `chaos` target): */module.mk does not reach it
include tests/chaos/module.mk

# tests/e2e/hang_link.c: an LD_PRELOAD shim for test_queue_seal.py (it
# blocks relay-queue's linkat once, on request); plain flags, no
# sanitizers: the daemons load it beside the ASan runtime.  tests/run
# builds it with the unit tests.
HANG_LINK_SO := build/hang_link.so
$(HANG_LINK_SO): tests/e2e/hang_link.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -O1 -fPIC -shared -o $@ $< -ldl

unit: $(HANG_LINK_SO)
