#!/bin/bash
# Runs every unit test binary, plain and under ASan+UBSan; stops at the first failure.
set -uo pipefail
status=0
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export LSAN_OPTIONS=suppressions=$(dirname "$0")/../tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for dir in "$@"; do
	for t in "$dir"/test_*; do
		[ -x "$t" ] || continue
		echo "unit: $t"
		if ! "$t"; then
			echo "unit: FAILED $t" >&2
			status=1
		fi
	done
done
exit $status
