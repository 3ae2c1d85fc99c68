#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# setup.sh - one-command set-up on a fresh Debian 12 machine.
#
#   contrib/setup.sh run    install build dependencies, build, and start
#                           ringcached in the foreground on 127.0.0.1:11211
#                           with its data in ./ringcached-data
#   contrib/setup.sh test   install build and test dependencies, build, and
#                           run every test: unit (cmocka) and integration
#                           (prove), first in a normal build, then again in
#                           an AddressSanitizer/UndefinedBehaviorSanitizer one
#
# Builds go to build/ and build-sanitizers/ beside the sources (out of tree).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

build_deps="build-essential autoconf automake libtool pkg-config libevent-dev
  libdb5.3-dev libjemalloc-dev libssl-dev"
test_deps="libcmocka-dev clang-format perl libmemcached-tools python3 python3-pymemcache
  libcache-memcached-fast-perl memcached"
# Further real clients the tests use when present (each skips without):
# best effort, and Node.js only when the machine has none of its own.
optional_deps="php-cli php-memcached"

say() { printf '==> %s\n' "$*" >&2; }

install_deps() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing: ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { say "need root or sudo to install: ${missing[*]}"; exit 1; }
        sudo=sudo
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# install_optional PKG...: like install_deps, but a failure only warns.
install_optional() {
    (install_deps "$@") || say "could not install $*: the tests that use them will skip"
}

# build DIR [configure args...]
build() {
    local dir=$1
    shift
    if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ] ||
        [ "$top/Makefile.am" -nt "$top/Makefile.in" ]; then
        say "autoreconf"
        (cd "$top" && autoreconf -fi >/dev/null 2>&1)
    fi
    mkdir -p "$dir"
    if [ ! -f "$dir/Makefile" ] || [ "$top/configure" -nt "$dir/config.status" ]; then
        say "configure $* (in $dir)"
        (cd "$dir" && "$top/configure" -q "$@")
    fi
    say "make (in $dir)"
    make -C "$dir" -s -j"$jobs"
}

user_args() {
    # Like memcached, ringcached refuses to run as root without -u.
    if [ "$(id -u)" -eq 0 ]; then echo "-u root"; fi
}

case "${1:-}" in
run)
    install_deps $build_deps
    build "$top/build"
    say "starting ringcached on 127.0.0.1:11211, data in ./ringcached-data (Ctrl-C stops it)"
    # shellcheck disable=SC2046
    exec "$top/build/ringcached" -l 127.0.0.1 -p 11211 --data-dir ./ringcached-data \
        $(user_args) -v
    ;;
test)
    install_deps $build_deps $test_deps
    install_optional $optional_deps
    command -v node >/dev/null && command -v npm >/dev/null || install_optional nodejs npm
    "$top/contrib/check-style.sh"
    build "$top/build" --enable-werror
    # memjs, a binary-protocol client from the npm registry, for
    # t/clients-protocols.t (which skips it if this fails).
    if command -v npm >/dev/null && [ ! -d "$top/build/npm/node_modules/memjs" ]; then
        mkdir -p "$top/build/npm"
        (cd "$top/build/npm" && npm install --no-audit --no-fund --silent memjs@1 >/dev/null 2>&1) ||
            say "could not install memjs from npm: its tests will be skipped"
    fi
    export RC_NODE_PATH="$top/build/npm/node_modules"
    say "tests (normal build)"
    make -C "$top/build" -s check
    build "$top/build-sanitizers" --enable-werror --enable-sanitizers --enable-debug
    say "tests (ASan + UBSan build)"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        make -C "$top/build-sanitizers" -s check
    say "all tests passed"
    ;;
*)
    echo "usage: $0 run|test" >&2
    exit 2
    ;;
esac
