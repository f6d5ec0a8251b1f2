#!/usr/bin/env bash
# Brings the whole cloud up on this machine: installs what is missing, then
# starts Temporal, MariaDB, the host namespaces, the CLC/CC/NC workers and the API.
# Everything lives under $EUCA_HOME (default .cloud/); `npm run down` stops it.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "npm run up needs root (namespaces, bridges, QEMU)" >&2; exit 1; }
mkdir -p "$EUCA_HOME/logs" "$EUCA_HOME/pids"
export EUCA_NODES=${EUCA_NODES:-nc1,nc2}
export EUCA_ZONE=${EUCA_ZONE:-local-1a}
export EUCA_API_PORT=${EUCA_API_PORT:-8773}
TSX=(node --import tsx)

step "checking what is installed"
install_all

step "building the test guest image (Debian cloud kernel + busybox initramfs)"
bash "$REPO/guest-image/build.sh" "$EUCA_HOME/images/test-guest" 2>&1 | sed 's/^/    /'

start_temporal
start_mariadb

step "schema, zone, instance types, admin account, test image"
(cd "$REPO" && "${TSX[@]}" scripts/bootstrap.ts) | sed 's/^/    /'

step "host namespaces: cc-$EUCA_ZONE and ${EUCA_NODES//,/, } on underlay ${EUCA_UNDERLAY_CIDR:-10.199.0.0/24}"
(cd "$REPO" && "${TSX[@]}" scripts/hosts.ts up --prefix "$EUCA_PREFIX" --zone "$EUCA_ZONE" --nodes "$EUCA_NODES" \
   --underlay "${EUCA_UNDERLAY_CIDR:-10.199.0.0/24}") | sed 's/^/    /'

step "starting workers and the API"
cd "$REPO"
start_bg clc "${TSX[@]}" workers/clc.ts
start_bg "cc-$EUCA_ZONE" "${TSX[@]}" workers/cc.ts --zone "$EUCA_ZONE"
for n in ${EUCA_NODES//,/ }; do start_bg "nc-$n" "${TSX[@]}" workers/nc.ts --node "$n" --zone "$EUCA_ZONE"; done
start_bg api "${TSX[@]}" api/main.ts
wait_for 60 "the API" curl -sf "http://127.0.0.1:$EUCA_API_PORT/healthz"
note "API up on http://127.0.0.1:$EUCA_API_PORT/"

cat <<MSG

The cloud is up. Try it with the AWS CLI:

  source $EUCA_HOME/eucarc
  aws --endpoint-url \$EC2_URL ec2 describe-availability-zones --zone-names verbose
  aws --endpoint-url \$EC2_URL ec2 run-instances --image-id \$EUCA_TEST_IMAGE --instance-type m1.small
  aws --endpoint-url \$EC2_URL ec2 describe-instances
  aws --endpoint-url \$EC2_URL ec2 get-console-output --instance-id i-... --output text

Temporal Web UI: http://127.0.0.1:$TEMPORAL_UI_PORT   (search by InstanceId="i-...")
Logs: $EUCA_HOME/logs/    Stop everything: npm run down
MSG
