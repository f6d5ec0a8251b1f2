#!/usr/bin/env bash
# `npm test`: installs what is missing, brings up a separate test cloud
# (scripts/test-env.sh), runs every test file with node's test runner, and
# takes the test cloud down again, whatever happened.
#   npm test                       all tests
#   npm test -- test/unit/x.test.ts   only these files (the stack still comes up)
REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/scripts/lib.sh"
source "$REPO/scripts/test-env.sh"
[ "$(id -u)" = 0 ] || { echo "npm test needs root (namespaces, bridges, QEMU)" >&2; exit 1; }

# One test cloud per machine: a second `npm test` waits for the first.
exec 9>/tmp/ecit-test.lock
flock 9
install_all
install_test_clients
# tsx runs code without checking types: check the whole tree first.
step "type-checking the whole tree (tsc --noEmit)"
(cd "$REPO" && npx tsc --noEmit -p .)
# A killed earlier run leaves its test cloud behind: clear it by its own names first.
bash "$REPO/scripts/down.sh" >/dev/null 2>&1 || true
rm -rf "$EUCA_HOME"
trap 'bash "$REPO/scripts/down.sh" >"$REPO/.test-down.log" 2>&1 || true' EXIT

step "bringing up the test cloud ($EUCA_HOME, prefix $EUCA_PREFIX, API :$EUCA_API_PORT)"
bash "$REPO/scripts/up.sh" >"$REPO/.test-up.log" 2>&1 || { cat "$REPO/.test-up.log"; exit 1; }
set -a; source "$EUCA_HOME/eucarc"; set +a
export MYSQL_URL=${MYSQL_URL:-mysql://euca:euca@127.0.0.1:$EUCA_MYSQL_PORT/eucacloud}

if [ $# -gt 0 ]; then files=("$@"); else
  mapfile -t files < <(cd "$REPO" && ls test/unit/*.test.ts test/hypervisor/*.test.ts test/network/*.test.ts \
    test/metadata/*.test.ts test/workflows/*.test.ts test/e2e/*.test.ts test/walrus/*.test.ts 2>/dev/null)
fi
step "running ${#files[@]} test files"
cd "$REPO"
set +e
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
rc=$?
set -e
step "test logs of the stack: $EUCA_HOME/logs"
exit $rc
