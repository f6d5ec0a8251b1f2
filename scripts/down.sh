#!/usr/bin/env bash
# Stops everything `npm run up` started, by its own pid files and names.
# State (database, Temporal history, images) stays in $EUCA_HOME for the next `up`.
source "$(dirname "$0")/lib.sh"
step "stopping the API and the workers"
for f in "$EUCA_HOME"/pids/*.pid; do
  [ -e "$f" ] || continue
  name=$(basename "$f" .pid)
  case "$name" in temporal|mariadb) continue ;; esac
  stop_bg "$name"
done
step "stopping VMs and DHCP servers, removing the host namespaces"
(cd "$REPO" && node --import tsx scripts/hosts.ts down --prefix "$EUCA_PREFIX") | sed 's/^/    /' || true
step "stopping MariaDB and Temporal"
stop_bg mariadb   # only ours: an external MYSQL_URL was never started here
stop_bg temporal
note "stopped; state kept in $EUCA_HOME"
