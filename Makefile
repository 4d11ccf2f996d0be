# relaybox: one non-recursive Makefile; each part adds its programs in
# <part>/module.mk.
#
# Two builds that never share an object:
#   make            release: -O2 -g, no sanitizers; objects in build/release,
#                   programs in bin/ (what make install, make run and
#                   make bench use)
#   make test       the test build, VARIANT=asan (ASan + UBSan): objects,
#                   programs and unit tests under build/asan/, then every
#                   test (tests/run)
# CFLAGS, CPPFLAGS and LDFLAGS (e.g. from dpkg-buildflags) are appended to
# the project's own flags of the release build, never replacing them;
# DESTDIR and PREFIX place make install.

CC       ?= gcc
PREFIX   ?= /usr/local
DESTDIR  ?=
CFLAGS   ?= -O2 -g
CPPFLAGS ?=
LDFLAGS  ?=
VARIANT  ?= release

PKG_CFLAGS := $(shell pkg-config --cflags openssl libbsd-overlay 2>/dev/null)
# what the code needs whatever the caller's flags say
RELAY_CPPFLAGS := -D_GNU_SOURCE -Ilib $(PKG_CFLAGS)
RELAY_CFLAGS   := -std=c11 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
                  -Wno-format-nonliteral -MMD -MP
LDLIBS   := $(shell pkg-config --libs openssl libbsd libidn2) -lcdb -lcrypt -lresolv -lhiredis

ifeq ($(VARIANT),asan)
# the test build is the same everywhere: the caller's flags stay out
SANITIZE     := -fsanitize=address,undefined -fno-omit-frame-pointer
VARIANT_CFLAGS  := -O1 -g $(SANITIZE)
VARIANT_LDFLAGS := $(SANITIZE)
BUILD := build/asan
BIN   := build/asan/bin
else ifeq ($(VARIANT),release)
VARIANT_CFLAGS  = $(CFLAGS)
VARIANT_LDFLAGS = $(LDFLAGS)
BUILD := build/release
BIN   := bin
else
$(error VARIANT is release or asan, not $(VARIANT))
endif
ALL_CFLAGS  = $(RELAY_CPPFLAGS) $(if $(filter release,$(VARIANT)),$(CPPFLAGS)) \
              $(RELAY_CFLAGS) $(VARIANT_CFLAGS)
ALL_LDFLAGS = $(VARIANT_LDFLAGS)

LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_A   := $(BUILD)/librelay.a

PROGRAMS :=
MAN_PAGES :=

all: programs

# defined before the modules are read: each module.mk calls it
# $(call program,name,objects): link $(BIN)/name from objects and the library.
define program
$(BIN)/$(1): $(2) $(LIB_A)
	@mkdir -p $(BIN)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $(2) $(LIB_A) $$(LDLIBS)
endef

include $(wildcard */module.mk)

# EXEC_ONLY (set by the modules): programs made mode 0711 at every make,
# an older build's included; a uid that may run such a program but not
# read it gets it not dumpable from the exec on (make install keeps it).
# The test build keeps them readable: the sanitizers read their options
# from /proc/self/environ, which such a process cannot open.
EXEC_MODE := $(if $(filter release,$(VARIANT)),711,755)
programs: $(addprefix $(BIN)/,$(PROGRAMS))
	$(if $(EXEC_ONLY),@chmod $(EXEC_MODE) $(addprefix $(BIN)/,$(EXEC_ONLY)))

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Unit tests: tests/unit/test_<name>.c, each links the library and the
# part objects named in its first line "// links: smtpd/smtp_cmd.c ...".
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
unit_links = $(patsubst %.c,$(BUILD)/%.o,$(shell sed -n '1s|^// links:||p' $(1)))
.SECONDEXPANSION:
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/tests/unit/%.o $$(call unit_links,tests/unit/%.c) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(BUILD)/tests/unit/$*.o $(call unit_links,$<) $(LIB_A) $(LDLIBS)

# keep the test objects: make would delete them as intermediates, and its
# "rm" line would then come after the test summary
.SECONDARY: $(UNIT_SRC:%.c=$(BUILD)/%.o)

unit: $(UNIT_BIN)

# the test build's programs and unit tests (tests/run builds it itself)
asan:
	$(MAKE) VARIANT=asan programs unit

# installs what the tests need (conf/deps.sh), builds the test build,
# runs every test (TESTS="e2e tls": tests/run's arguments, one group)
TESTS ?=
test:
	conf/deps.sh test
	+tests/run $(TESTS)

bench:
	bench/run

run: 
	conf/run-dev

install: programs
	PROGRAMS="$(PROGRAMS)" BIN="$(BIN)" conf/install.sh "$(DESTDIR)" "$(PREFIX)"

clean:
	rm -rf build bin

.PHONY: all programs unit asan test bench run install clean

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
