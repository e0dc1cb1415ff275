# The build proper: included .config picks the sources, objects go under $(O).
# Called by the top Makefile; not meant to be run by hand.

# KCONFIG_CONFIG picks another configuration (the all-options-off check builds one).
KCONFIG_CONFIG ?= .config
include $(KCONFIG_CONFIG)

O ?= output
BUILD := $(O)/build
GEN := $(O)/include/generated
CC ?= gcc

VERSION := $(shell cat VERSION)
BUILD_ID := $(shell git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)

WARNINGS := -Wall -Wextra -Werror -Wformat=2 -Wvla -Wstrict-prototypes -Wmissing-prototypes
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 $(WARNINGS) -fstack-protector-strong -fPIE -pthread
CPPFLAGS += -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 -Ifirmware -Idrivers-glue -I$(O)/include \
	-DOB_VERSION='"$(VERSION)"' -DOB_BUILD_ID='"$(BUILD_ID)"'
LDFLAGS += -pie -Wl,-z,relro,-z,now -pthread
# DT_RPATH (not RUNPATH): also searched by dlopen() calls from libcivetweb, so CivetWeb finds
# the OpenSSL shim in BINDIR/../lib/ottbox before the system's libssl.so.
LDFLAGS += -Wl,--disable-new-dtags -Wl,-rpath,'$$ORIGIN/../lib/ottbox'

LDLIBS := -lm -lcivetweb -lmbedx509 -lmbedtls -lmbedcrypto -largon2 -ljansson -lsqlite3 \
	-lavformat -lavfilter -lavcodec -lavutil

# Hardware backends: libva and oneVPL are linked when their backend is on; the NVIDIA
# libraries are loaded at run time (nv-codec-headers' loader), so NVENC needs only -ldl.
pkgs-$(CONFIG_HW_VAAPI) += libva libva-drm
pkgs-$(CONFIG_HW_QSV) += vpl
ifneq ($(strip $(pkgs-y)),)
CPPFLAGS += $(shell pkg-config --cflags $(pkgs-y))
LDLIBS += $(shell pkg-config --libs $(pkgs-y))
endif
ldlibs-$(CONFIG_HW_NVENC) += -ldl
LDLIBS += $(ldlibs-y)

# ---- sources, by feature ----
lib-y := \
	firmware/core/err.c firmware/core/log.c firmware/core/json.c firmware/core/rand.c \
	firmware/core/util.c firmware/core/strbuf.c firmware/core/events.c \
	firmware/packager/timeline.c firmware/packager/publish.c \
	firmware/store/store.c firmware/store/migrations.c firmware/store/settings.c \
	firmware/store/users.c firmware/store/documents.c firmware/store/access.c \
	firmware/store/events.c \
	firmware/engine/ladder.c \
	firmware/engine/channel.c firmware/engine/input.c firmware/packager/output.c \
	firmware/engine/run.c firmware/engine/supervisor.c firmware/packager/cmaf.c \
	firmware/packager/ts.c firmware/packager/memio.c \
	firmware/access/role.c firmware/access/password.c firmware/access/session.c \
	firmware/access/ratelimit.c firmware/access/apikey.c firmware/access/bootstrap.c \
	firmware/access/token.c firmware/access/policy.c firmware/access/entitle.c \
	firmware/api/router.c firmware/api/errors.c firmware/api/server.c \
	firmware/api/handlers_system.c firmware/api/handlers_settings.c \
	firmware/api/handlers_session.c firmware/api/handlers_users.c \
	firmware/api/handlers_ladders.c firmware/api/handlers_channels.c firmware/api/origin.c \
	firmware/api/handlers_access.c firmware/api/handlers_events.c \
	drivers-glue/hw.c drivers-glue/place.c
lib-$(CONFIG_HTTPS) += firmware/api/tls.c
lib-$(CONFIG_HW_SOFTWARE) += drivers-glue/sw.c
lib-$(CONFIG_HW_VAAPI) += drivers-glue/vaapi.c
lib-$(CONFIG_HW_QSV) += drivers-glue/qsv.c
lib-$(CONFIG_HW_NVENC) += drivers-glue/nvenc.c
lib-$(CONFIG_PKG_HLS) += firmware/packager/hls.c
lib-$(CONFIG_PKG_DASH) += firmware/packager/dash.c
lib-$(CONFIG_CLOUD_SYNC) += firmware/cloud/jws.c firmware/cloud/identity.c firmware/cloud/bundle.c \
	firmware/store/cloud.c firmware/cloud/http.c firmware/cloud/plan.c firmware/cloud/apply.c \
	firmware/cloud/sync.c firmware/api/handlers_cloud.c
lib-$(CONFIG_CLOUD_SYNC) += firmware/store/webhooks.c firmware/cloud/webhooks.c \
	firmware/api/handlers_webhooks.c
tls-shim-$(CONFIG_HTTPS) := $(O)/lib/ottbox/libssl.so $(O)/lib/ottbox/libcrypto.so

# ---- variants: the firmware, and the same code under ASan+UBSan for the tests ----
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer

lib-objs := $(lib-y:%.c=$(BUILD)/%.o)
# The tests' build also has the "fault" backend (tests/hw/fault_backend.c), which fails on
# purpose to prove the runtime fallback; the firmware never has it.
lib-objs-asan := $(lib-y:%.c=$(BUILD)-asan/%.o) $(BUILD)-asan/tests/hw/fault_backend.o

# Tests and harnesses of a feature that is off are left out with its sources.
tests-off := $(if $(CONFIG_CLOUD_SYNC),,tests/unit/test_cloud_% tests/fuzz/fuzz_bundle.c \
	tests/fuzz/fuzz_http.c)
UNIT_SRCS := $(filter-out $(tests-off),$(sort $(wildcard tests/unit/test_*.c)))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/unit/%)
UNIT_BINS_ASAN := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/unit-asan/%)
FUZZ_SRCS := $(filter-out $(tests-off),$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_REPLAY := $(FUZZ_SRCS:tests/fuzz/%.c=$(O)/tests/fuzz-replay/%)
BENCH_SRCS := $(sort $(wildcard tests/bench/*_bench.c))
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.c=$(O)/tests/bench/%)

.PHONY: all firmware www unit-bins fuzz-bins bench-bins asan-daemon
all: firmware www

firmware: $(O)/bin/ottboxd $(tls-shim-y)

# The OpenSSL shim CivetWeb loads (see firmware/api/openssl_compat.c), and libcrypto beside it.
$(O)/lib/ottbox/libssl.so: firmware/api/openssl_compat.c scripts/build.mk
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -shared -fPIC -Wl,-soname,libssl.so -o $@ $< \
		-l:libssl.so.3 -l:libcrypto.so.3
$(O)/lib/ottbox/libcrypto.so:
	@mkdir -p $(dir $@)
	ln -sf $$($(CC) -print-file-name=libcrypto.so.3) $@

$(GEN)/autoconf.h: $(KCONFIG_CONFIG) Kconfig scripts/kconfig.py
	@mkdir -p $(GEN)
	KCONFIG_CONFIG=$(KCONFIG_CONFIG) /usr/bin/python3 scripts/kconfig.py header $@

# Objects and links depend on this file: a change of flags rebuilds what they touch.
$(BUILD)/%.o: %.c $(GEN)/autoconf.h scripts/build.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)-asan/%.o: %.c $(GEN)/autoconf.h scripts/build.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DOB_HW_TEST_BACKEND $(CFLAGS) $(SAN_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libottbox.a: $(lib-objs)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)-asan/libottbox.a: $(lib-objs-asan)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/bin/ottboxd: $(BUILD)/firmware/main.o $(BUILD)/libottbox.a scripts/build.mk
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS)

# The daemon under ASan+UBSan: the integration tests run against it.
asan-daemon: $(O)/bin/ottboxd-asan $(tls-shim-y)
$(O)/bin/ottboxd-asan: $(BUILD)-asan/firmware/main.o $(BUILD)-asan/libottbox.a scripts/build.mk
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(SAN_FLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS)

# The console's static files, copied where ottboxd looks for them (BINDIR/../share/ottbox/www).
WWW_SRCS := $(shell find webui -type f 2>/dev/null)
WWW_OUT := $(WWW_SRCS:webui/%=$(O)/share/ottbox/www/%)
$(O)/share/ottbox/www/%: webui/%
	@mkdir -p $(dir $@)
	cp $< $@

# The console's libraries: the ES-module builds from node_modules (npm ci, at the lock file's
# versions), copied under www/vendor/ with a .js name (CivetWeb labels .js, not .mjs, as
# JavaScript, and a browser runs a module only with a JavaScript type). There is no import
# map (the CSP forbids inline scripts): our modules import by relative path, and the one bare
# specifier between libraries, hooks' `from "preact"`, is rewritten to the copied file. A new
# lock file copies them again, whatever dates npm gave the files it unpacked.
VENDOR := $(O)/share/ottbox/www/vendor
NPM := node_modules
VENDOR_OUT := $(VENDOR)/preact.js $(VENDOR)/hooks.js $(VENDOR)/htm.js $(VENDOR)/uPlot.esm.js \
	$(VENDOR)/uPlot.min.css $(VENDOR)/hls.esm.js
VENDOR_COPY = @mkdir -p $(dir $@) && sed '/^\/\/. sourceMappingURL=/d' $< > $@.tmp && mv $@.tmp $@
$(NPM)/%:
	@echo "ottbox: $@ is missing: run \`npm ci\` (or \`make deps\`) to install the console's libraries" >&2
	@exit 1
$(VENDOR)/preact.js: $(NPM)/preact/dist/preact.mjs package-lock.json
	$(VENDOR_COPY)
$(VENDOR)/hooks.js: $(NPM)/preact/hooks/dist/hooks.mjs package-lock.json
	@mkdir -p $(dir $@)
	sed -e '/^\/\/. sourceMappingURL=/d' -e 's|from *"preact"|from"./preact.js"|' $< > $@.tmp
	@grep -q 'from"./preact.js"' $@.tmp || { echo "ottbox: $< no longer imports \"preact\" as expected" >&2; rm -f $@.tmp; exit 1; }
	mv $@.tmp $@
$(VENDOR)/htm.js: $(NPM)/htm/dist/htm.mjs package-lock.json
	$(VENDOR_COPY)
$(VENDOR)/uPlot.esm.js: $(NPM)/uplot/dist/uPlot.esm.js package-lock.json
	$(VENDOR_COPY)
$(VENDOR)/uPlot.min.css: $(NPM)/uplot/dist/uPlot.min.css package-lock.json
	$(VENDOR_COPY)
$(VENDOR)/hls.esm.js: $(NPM)/hls.js/dist/hls.min.mjs package-lock.json
	$(VENDOR_COPY)

www: $(WWW_OUT) $(VENDOR_OUT)

unit-bins: $(UNIT_BINS) $(UNIT_BINS_ASAN)
$(O)/tests/unit/%: tests/unit/%.c $(BUILD)/libottbox.a $(GEN)/autoconf.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes -o $@ $< $(BUILD)/libottbox.a \
		$(LDLIBS) -lcmocka
$(O)/tests/unit-asan/%: tests/unit/%.c $(BUILD)-asan/libottbox.a $(GEN)/autoconf.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN_FLAGS) -Wno-missing-prototypes -o $@ $< \
		$(BUILD)-asan/libottbox.a $(LDLIBS) -lcmocka

# Fuzz harnesses built with a replay driver (every corpus file, under ASan+UBSan); `make
# fuzz` builds them with libFuzzer instead.
fuzz-bins: $(FUZZ_REPLAY)
$(O)/tests/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/replay.c $(BUILD)-asan/libottbox.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN_FLAGS) -Wno-missing-prototypes -o $@ $< \
		tests/fuzz/replay.c $(BUILD)-asan/libottbox.a $(LDLIBS)

# Micro-benchmarks against the optimised library (no sanitizers), run by `make bench`.
bench-bins: $(BENCH_BINS)
$(O)/tests/bench/%: tests/bench/%.c $(BUILD)/libottbox.a $(GEN)/autoconf.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes -o $@ $< $(BUILD)/libottbox.a \
		$(LDLIBS)

-include $(lib-objs:.o=.d) $(lib-objs-asan:.o=.d) $(BUILD)/firmware/main.d \
	$(BUILD)-asan/firmware/main.d

# For tools that build the library their own way (scripts/fuzz.sh).
.PHONY: print-lib-srcs print-fuzz-srcs print-build-flags
print-lib-srcs:
	@echo $(lib-y)
print-fuzz-srcs:
	@echo $(FUZZ_SRCS)
# The preprocessor flags and libraries the sources need (the hardware backends' too).
print-build-flags:
	@echo $(filter-out -DOB_VERSION=% -DOB_BUILD_ID=%,$(CPPFLAGS)) $(LDLIBS)
