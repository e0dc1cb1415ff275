#!/bin/bash
# Coverage-guided fuzzing of every harness in tests/fuzz with libFuzzer, ASan and UBSan.
# Needs clang and libclang-rt-14-dev. New interesting inputs land in output/fuzz/corpus;
# crashes in output/fuzz/crash-*. Usage: scripts/fuzz.sh SECONDS_PER_HARNESS
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
O=${O:-output}
if ! command -v clang >/dev/null || [ ! -f "$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]; then
	echo "fuzz: needs clang and libFuzzer: apt-get install clang libclang-rt-14-dev" >&2
	exit 1
fi
make --no-print-directory -f scripts/build.mk O="$O" "$O/include/generated/autoconf.h" >/dev/null
lib=$(make --no-print-directory -s -f scripts/build.mk O="$O" print-lib-srcs)
# The configuration's include paths and libraries (libva, libvpl, libavformat, ... as the
# enabled backends need them), from the build itself.
flags=$(make --no-print-directory -s -f scripts/build.mk O="$O" print-build-flags)
mkdir -p "$O/fuzz"
for harness in tests/fuzz/fuzz_*.c; do
	name=$(basename "$harness" .c)
	bin="$O/fuzz/$name"
	clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
		-DOB_VERSION='"fuzz"' -DOB_BUILD_ID='"fuzz"' \
		-o "$bin" "$harness" $lib $flags -pthread
	mkdir -p "$O/fuzz/corpus/$name"
	echo "fuzz: $name for ${seconds}s"
	"$bin" -max_total_time="$seconds" -artifact_prefix="$O/fuzz/" \
		"$O/fuzz/corpus/$name" "tests/fuzz/corpus/$name"
done
