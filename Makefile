# ottbox — top-level Makefile, Buildroot-style.
#
#   make <board>_defconfig   start .config from configs/<board>_defconfig
#   make menuconfig          edit .config
#   make savedefconfig       write the minimal ./defconfig that gives .config
#   make                     build under output/ (ottboxd at output/bin/ottboxd)
#   make run                 install what is missing, build, start the box here
#   make test                install what is missing, build, run every test
#   make bench               install what is missing, build, then time ottboxd against ffmpeg
#                            and its origin against nginx (figures only)
#   make clean / distclean   remove output/ (and .config)

O ?= output
export O
SHELL := /bin/bash
KCONFIG := /usr/bin/python3 scripts/kconfig.py
BUILD_MAKE = $(MAKE) --no-print-directory -f scripts/build.mk

RUN_DATA_DIR ?= $(O)/data
RUN_LISTEN ?= 127.0.0.1:8080

.PHONY: all firmware deps deps-test deps-bench run test bench unit cppcheck integration \
	fuzz-replay fuzz configs menuconfig savedefconfig olddefconfig clean distclean help

all: .config
	@$(BUILD_MAKE) all

# With no .config, the build uses the host board's defaults.
.config:
	$(KCONFIG) defconfig configs/host_defconfig

%_defconfig: configs/%_defconfig
	$(KCONFIG) defconfig $<

menuconfig:
	$(KCONFIG) menuconfig

olddefconfig: .config
	$(KCONFIG) olddefconfig

savedefconfig: .config
	$(KCONFIG) savedefconfig defconfig

deps:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

deps-bench:
	@scripts/deps.sh bench

run: deps
	@$(MAKE) --no-print-directory all
	@echo "ottbox: starting on http://$(RUN_LISTEN)/ with data in $(RUN_DATA_DIR) (Ctrl-C stops it)"
	@echo "ottbox: the first admin password is printed below and kept in $(RUN_DATA_DIR)/initial-admin-password"
	@echo "ottbox: a demo channel plays at http://$(RUN_LISTEN)/live/demo/master.m3u8 (and manifest.mpd)"
	exec $(O)/bin/ottboxd --data-dir $(RUN_DATA_DIR) --listen $(RUN_LISTEN) --demo-channel

test: deps-test
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit cppcheck fuzz-replay configs integration
	@echo "ottbox: all tests passed"

# Figures, not a test: prints ottbox against one ffmpeg process and its origin against nginx,
# and exits 0 unless a tool failed to run. BENCH_ARGS passes options on, e.g.
# BENCH_ARGS="--repeat 3 --seconds 30" or BENCH_ARGS="--only origin".
BENCH_ARGS ?=
bench: deps-bench
	@$(MAKE) --no-print-directory all
	@$(BUILD_MAKE) bench-bins
	/usr/bin/python3 tests/bench/bench.py $(BENCH_ARGS)

unit: .config
	@$(BUILD_MAKE) unit-bins
	@scripts/run-unit.sh $(O)/tests/unit $(O)/tests/unit-asan

cppcheck: .config
	@$(BUILD_MAKE) $(O)/include/generated/autoconf.h
	cppcheck --quiet --error-exitcode=1 --inline-suppr --std=c11 \
		--enable=warning,style,performance,portability \
		--suppressions-list=tests/cppcheck.supp \
		-D__GNUC__ -D_GNU_SOURCE -Ifirmware -Idrivers-glue -I$(O)/include \
		--include=tests/cppcheck-macros.h \
		firmware drivers-glue tests/unit tests/fuzz tests/hw tests/bench
	@for h in firmware/*/*.h drivers-glue/*.h; do \
		inc=$${h#firmware/}; inc=$${inc#drivers-glue/}; \
		printf '#include "%s"\n' "$$inc" | $(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
			-fsyntax-only -Ifirmware -Idrivers-glue -I$(O)/include -x c - \
			|| { echo "header $$h does not compile on its own"; exit 1; }; done
	@echo "headers: each compiles on its own"

fuzz-replay: .config
	@$(BUILD_MAKE) fuzz-bins
	@for f in $(O)/tests/fuzz-replay/fuzz_*; do \
		name=$$(basename $$f); echo "fuzz replay: $$name"; \
		$$f tests/fuzz/corpus/$$name || exit 1; done

# Coverage-guided fuzzing with libFuzzer (clang): FUZZ_SECONDS per harness.
FUZZ_SECONDS ?= 60
fuzz: .config
	@scripts/fuzz.sh $(FUZZ_SECONDS)

integration: .config
	@$(BUILD_MAKE) all asan-daemon
	/usr/bin/python3 -m unittest discover -s tests/integration -p 'test_*.py' -v

# Every option off must still build: each option's code compiles out cleanly.
configs:
	@mkdir -p $(O)/allnoconfig
	KCONFIG_CONFIG=$(O)/allnoconfig/.config /usr/bin/python3 \
		/usr/lib/python3/dist-packages/allnoconfig.py Kconfig >/dev/null
	@$(MAKE) --no-print-directory -f scripts/build.mk O=$(O)/allnoconfig \
		KCONFIG_CONFIG=$(O)/allnoconfig/.config firmware
	$(O)/allnoconfig/bin/ottboxd version
	@for board in configs/*_defconfig; do \
		name=$$(basename $$board); mkdir -p $(O)/$$name; \
		KCONFIG_CONFIG=$(O)/$$name/.config $(KCONFIG) defconfig $$board >/dev/null || exit 1; \
		$(MAKE) --no-print-directory -f scripts/build.mk O=$(O)/$$name \
			KCONFIG_CONFIG=$(O)/$$name/.config $(O)/$$name/include/generated/autoconf.h \
			>/dev/null || exit 1; echo "configs: $$name ok"; done

clean:
	rm -rf $(O)

distclean: clean
	rm -f .config .config.old defconfig

help:
	@sed -n '2,/^$$/p' Makefile | sed 's/^# \{0,1\}//'
