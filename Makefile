# SPDX-License-Identifier: MIT
#
# tenant-init build. Plain GNU make; every library through pkg-config.
#
#   make            build build/tenant-init (hardened, -Werror)
#   make test       install missing dependencies (as root), then build and
#                   run unit + integration tests, the same under ASan+UBSan,
#                   valgrind over the unit tests, format and lint checks
#   make asan       the sanitizer build only (build/asan/tenant-init)
#   make fuzz       each libFuzzer target (tests/fuzz/) for FUZZ_SECONDS
#                   (60), FUZZ_TARGETS=regex picks some
#   make install    PREFIX=/usr/local DESTDIR=
#   make demo | e2e | bench | fuzz | format | format-check | lint | deps | clean
#
# V=1 shows the full commands. CC=clang builds with clang.

PREFIX	?= /usr/local
DESTDIR	?=
CC	?= gcc
FUZZ_CC	?= clang
FUZZ_SECONDS ?= 60
VERSION	:= $(shell cat VERSION 2>/dev/null || echo 0.0.0-dev)

PKGS := inih libcap libseccomp libnl-3.0 libnl-route-3.0 libnl-idiag-3.0 \
	libcurl expat jansson libcrypto sqlite3
# The fake gateway (tests/helpers/fakegw.c) is a libmicrohttpd server; PID 1
# no longer links it (supervisor/health.c is our own responder).
HELPER_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null)

ifeq ($(VARIANT),asan)
BUILD	:= build/asan
OPT	:= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	   -fno-sanitize-recover=undefined -DTENANT_SANITIZED=1
LDOPT	:= -fsanitize=address,undefined
else ifeq ($(VARIANT),fuzz)
# libFuzzer targets (tests/fuzz/, docs/HACKING.md): the code under test
# gets coverage instrumentation (fuzzer-no-link); only the targets link
# libFuzzer's main. Never part of the production binary.
BUILD	:= build/fuzz
CC	:= $(FUZZ_CC)
OPT	:= -O1 -g -fno-omit-frame-pointer \
	   -fsanitize=fuzzer-no-link,address,undefined \
	   -fno-sanitize-recover=undefined -DTENANT_SANITIZED=1
LDOPT	:= -fsanitize=fuzzer,address,undefined
else
BUILD	:= build
OPT	:= -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
LDOPT	:= -pie -Wl,-z,relro,-z,now
endif

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wmissing-declarations -Wpointer-arith \
	-Wformat=2 -Wformat-security -Wformat-nonliteral -Wswitch-enum \
	-Wswitch-default -Wimplicit-fallthrough -Wundef -Wcast-align -Wvla \
	-Wno-missing-field-initializers

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CPPFLAGS += -I. -D_GNU_SOURCE -DTENANT_INIT_VERSION='"$(VERSION)"'
CFLAGS	 += -std=gnu11 $(OPT) $(WARN) $(PKG_CFLAGS) -MMD -MP
LDFLAGS	 += $(LDOPT)
LDLIBS	 += $(PKG_LIBS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

SRCS	  := $(sort $(wildcard init/*.c supervisor/*.c sync/*.c policy/*.c))
LIB_SRCS  := $(filter-out init/main.c,$(SRCS))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRCS := $(sort $(wildcard tests/helpers/*.c))
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(BUILD)/tests/helpers/%)
BIN	  := $(BUILD)/tenant-init
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)

.SECONDARY:

.PHONY: all test check asan clang install uninstall demo e2e bench fuzz format \
	format-check lint deps clean unit-bins helpers fuzz-bins fuzz-link

all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libtenant.a: $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN): $(BUILD)/init/main.o $(BUILD)/libtenant.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libtenant.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Test helpers (fake gateway, probes) are small standalone programs.
$(BUILD)/tests/helpers/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) -std=gnu11 -O1 -g $(WARN) -o $@ $< $(LDLIBS) \
		$(HELPER_LIBS)

unit-bins: $(UNIT_BINS)
helpers: $(HELPER_BINS)

# A fuzz target: its harness and whatever it pulls from libtenant.a.
build/fuzz/fuzz-%: build/fuzz/tests/fuzz/fuzz-%.o build/fuzz/libtenant.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

fuzz-bins:
	$(Q)$(MAKE) --no-print-directory VARIANT=fuzz fuzz-link

fuzz-link: $(FUZZ_BINS)
	@:

# Each target for FUZZ_SECONDS over its seeds (tests/fuzz/corpus/NAME) and
# what earlier runs found (build/fuzz/corpus/NAME). FUZZ_TARGETS=regex.
fuzz: fuzz-bins
	$(Q)tests/fuzz/run.sh $(FUZZ_SECONDS) '$(FUZZ_TARGETS)'

asan:
	$(Q)$(MAKE) --no-print-directory VARIANT=asan all unit-bins

# The one test command (README.md, .ci/run). deps.sh installs what is
# missing when run as root, or prints the one command to run and fails.
# TI_STRICT: with every dependency installed, a suite that skips for a
# missing prerequisite fails instead (tests/lib.sh).
test:
	$(Q)tests/deps.sh ensure
	$(Q)TI_STRICT=1 $(MAKE) --no-print-directory check

check: all unit-bins helpers
	$(Q)$(MAKE) --no-print-directory VARIANT=asan all unit-bins
	$(Q)$(MAKE) --no-print-directory fuzz-bins
	$(Q)$(MAKE) --no-print-directory CC=clang BUILD=build/clang all
	$(Q)$(MAKE) --no-print-directory format-check lint
	$(Q)TI_BUILD=$(BUILD) TI_ASAN_BUILD=build/asan tests/run.sh

# The real OpenClaw gateway (Node 26 + openclaw from npm, cached once).
e2e: all helpers
	$(Q)tests/deps.sh ensure
	$(Q)TI_STRICT=1 TI_BUILD=$(BUILD) TI_ONLY='^e2e/' TI_SKIP_ASAN=1 \
		TI_SKIP_VALGRIND=1 tests/run.sh

MANDIR	?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc

# The policy file installed is the built-in policy written out; an image
# edits it (or sets TENANT_GATEWAY_USER) rather than starting from nothing.
install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSCONFDIR)/tenant-init
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/tenant-init
	install -m 0644 docs/tenant-init.8 $(DESTDIR)$(MANDIR)/man8/tenant-init.8
	install -m 0644 docs/tenant-init-policy.5 \
		$(DESTDIR)$(MANDIR)/man5/tenant-init-policy.5
	install -m 0644 images/policy.ini \
		$(DESTDIR)$(SYSCONFDIR)/tenant-init/policy.ini

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/tenant-init
	rm -f $(DESTDIR)$(MANDIR)/man8/tenant-init.8
	rm -f $(DESTDIR)$(MANDIR)/man5/tenant-init-policy.5
	rm -f $(DESTDIR)$(SYSCONFDIR)/tenant-init/policy.ini

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	$(Q)clang-format --dry-run -Werror $(FORMAT_FILES)
	@echo "  FORMAT  ok"

# After setup, PID 1 must never exit on an error (STYLE.md 2.3): exit() and
# die() are allowed only in main.c, the subcommands and forked children
# (which use _exit).
lint:
	$(Q)! grep -nE '(^|[^_a-z])(exit|die)\(' $(SRCS) | \
		grep -vE '^init/main\.c:|_exit\(|atexit\(' || \
		{ echo "lint: exit()/die() outside setup code"; exit 1; }
	@echo "  LINT    ok"

# The real gateway under tenant-init on this machine (no root needed once
# the Debian packages are there; as root on a fresh machine deps.sh
# installs them first, otherwise it names the one command to run).
demo:
	$(Q)tests/deps.sh ensure
	$(Q)$(MAKE) --no-print-directory all
	$(Q)demo/run.sh

# Benchmarks (not tests): figures go to bench/RESULTS.md.
bench: all helpers
	$(Q)tests/deps.sh ensure
	$(Q)bench/run.sh

deps:
	tests/deps.sh install

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
