#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check-style.sh - the checks a human reviewer should not have to make:
#   1. every C file matches .clang-format (the one formatting source);
#   2. the layering rules of doc/design.txt: each third-party library enters
#      through one module, and lower layers include nothing from above.
# Prints what is wrong and exits non-zero; prints one line when all is well.
set -uo pipefail
cd "$(dirname "$0")/.."

fail=0
bad() { printf 'check-style: %s\n' "$*" >&2; fail=1; }

files=$(git ls-files 'src/*.[ch]' 't/*.c' 'contrib/*.c' 2>/dev/null ||
        find src t contrib -name '*.[ch]')
if command -v clang-format >/dev/null; then
    for f in $files; do
        clang-format --dry-run -Werror "$f" >/dev/null 2>&1 ||
            bad "$f is not formatted (run: clang-format -i $f)"
    done
else
    bad "clang-format is not installed (Debian: clang-format)"
fi

# only_in PATTERN ALLOWED-REGEX WHAT
only_in() {
    local hits
    hits=$(grep -rlE --include='*.[ch]' "$1" src | grep -vE "$2" || true)
    [ -z "$hits" ] || bad "$3 outside its module: $hits"
}
only_in '#include <db\.h>' '^src/store/store_bdb\.c$' '<db.h>'
only_in '#include <jemalloc/' '^src/base/alloc\.c$' 'jemalloc'
only_in '#include <openssl/' '^src/base/mac\.c$' 'libcrypto'
only_in '#include <event2/' '^src/(server|cluster)/' 'libevent'

# forbid DIR REGEX WHAT: files under DIR must not include REGEX
forbid() {
    local hits
    hits=$(grep -rlE --include='*.[ch]' "$2" "$1" || true)
    [ -z "$hits" ] || bad "$3: $hits"
}
forbid src/base '#include "(kv|proto|store|coord|server)/' 'base includes a higher layer'
forbid src/kv '#include "(proto|store|coord|cluster|server)/' 'kv includes a higher layer'
forbid src/proto '#include "(store|coord|server)/' 'a codec includes storage, coordination or server'
forbid src/store '#include "(proto|coord|server)/' 'storage includes protocol, coordination or server'
forbid src/coord '#include "(server|cluster)/' 'the coordinator includes the server or the peer code'
forbid src/cluster '#include "(server|proto)/' 'the peer code includes the server or a client codec'

[ $fail -eq 0 ] && echo "check-style: formatting and layering OK"
exit $fail
