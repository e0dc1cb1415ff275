#!/bin/bash
# Installs what the build (run), the tests (test) or the bench (bench) need and is missing:
# Debian packages with apt-get, npm packages from the lock file (the console's libraries and
# the browser test tools). Quick when everything is there; prints the exact command instead
# when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
run_pkgs=(
	build-essential pkg-config git python3 python3-kconfiglib
	libcivetweb-dev libssl-dev libsqlite3-dev libmbedtls-dev libjansson-dev libargon2-dev
	libavcodec-dev libavformat-dev libavfilter-dev libavutil-dev
	libva-dev libvpl-dev libffmpeg-nvenc-dev
	nodejs npm
)
test_pkgs=(
	libcmocka-dev cppcheck sqlite3 curl python3-yaml python3-cryptography
	chromium ffmpeg
)
# The bench: ffmpeg for the transcode comparison; wrk for the origin's load and nginx as its
# static-file reference (the light build; the bench runs its own nginx from a temporary
# config as the calling user and never uses the package's service).
bench_pkgs=(ffmpeg wrk nginx-light)
case "$mode" in
run) pkgs=("${run_pkgs[@]}") ;;
test) pkgs=("${run_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) pkgs=("${run_pkgs[@]}" "${bench_pkgs[@]}") ;;
*) echo "usage: $0 [run|test|bench]" >&2; exit 2 ;;
esac

# What installed packages provide counts as there too: a nodejs built with its own npm
# provides npm, and conflicts with Debian's npm package.
provided=" $(dpkg-query -W -f='${db:Status-Status} ${Provides}\n' 2>/dev/null |
	sed -n 's/^installed //p' | sed 's/ *([^)]*)//g; s/, */ /g' | tr '\n' ' ') "
missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || [[ "$provided" == *" $p "* ]] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "ottbox: these Debian packages are missing: ${missing[*]}" >&2
		echo "ottbox: install them as root, then run make again:" >&2
		echo "  sudo sh -c '$cmd'" >&2
		exit 1
	fi
	echo "ottbox: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages come from the lock file, at its versions: the console's libraries (copied into
# the build output by make, so the box needs no internet at run time) and the browser test
# tools. The stamp is the lock file npm ci last installed from: nothing to do while it matches.
if [ -f package-lock.json ]; then
	stamp=node_modules/.ottbox-lock-stamp
	if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
		if ! command -v npm >/dev/null; then
			echo "ottbox: npm is missing; install Debian's nodejs and npm packages" >&2
			exit 1
		fi
		npm ci --no-audit --no-fund
		cp package-lock.json "$stamp"
	fi
fi
