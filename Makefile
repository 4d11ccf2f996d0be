# relaybox: one non-recursive Makefile; each part adds its programs in
# <part>/module.mk.  Objects go to build/, programs to bin/.

CC       ?= gcc
PREFIX   ?= /usr/local
DESTDIR  ?=
SANITIZE ?= -fsanitize=address,undefined -fno-omit-frame-pointer
OPT      ?= -O1 -g
CFLAGS   := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
            -Wformat=2 -Wno-format-nonliteral $(OPT) $(SANITIZE) \
            -Ilib $(shell pkg-config --cflags openssl libbsd-overlay 2>/dev/null) -MMD -MP
LDFLAGS  := $(SANITIZE)
LDLIBS   := $(shell pkg-config --libs openssl libbsd) -lcdb -lcrypt -lresolv

BUILD := build
BIN   := bin

LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_A   := $(BUILD)/librelay.a

PROGRAMS :=
MAN_PAGES :=

all: programs

# defined before the modules are read: each module.mk calls it
# $(call program,name,objects): link bin/name from objects and the library.
define program
$(BIN)/$(1): $(2) $(LIB_A)
	@mkdir -p $(BIN)
	$$(CC) $$(LDFLAGS) -o $$@ $(2) $(LIB_A) $$(LDLIBS)
endef

include $(wildcard */module.mk)

programs: $(addprefix $(BIN)/,$(PROGRAMS))

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

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
	$(CC) $(LDFLAGS) -o $@ $(BUILD)/tests/unit/$*.o $(call unit_links,$<) $(LIB_A) $(LDLIBS)

# keep the test objects: make would delete them as intermediates, and its
# "rm" line would then come after the test summary
.SECONDARY: $(UNIT_SRC:%.c=$(BUILD)/%.o)

unit: $(UNIT_BIN)

test: programs unit
	tests/run

bench:
	bench/run

run: 
	conf/run-dev

install: programs
	conf/install.sh "$(DESTDIR)" "$(PREFIX)"

clean:
	rm -rf $(BUILD) $(BIN)

.PHONY: all programs unit test bench run install clean

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
