# Source me: the environment of the test stack that `npm test` brings up.
# It is a whole second cloud beside the default one: own home, own names,
# own ports and address ranges, so tests never touch `npm run up`'s cloud.
export EUCA_HOME=${EUCA_TEST_HOME:-$REPO/.cloud-test}
export EUCA_PREFIX=ecit
export EUCA_MYSQL_PORT=3317
export EUCA_TEMPORAL_PORT=7243
export TEMPORAL_ADDRESS=127.0.0.1:7243
export EUCA_API_PORT=8783
export EUCA_S3_PORT=8784
export EUCA_UNDERLAY_CIDR=10.196.0.0/24
export EUCA_ZONE_SUBNET=10.195.0.0/24
export EUCA_ZONE_VNI=1900
export EUCA_ZONE=test-1a
export EUCA_REGION=test-1
export EUCA_NODES=nc1,nc2
# Tests want node failures noticed quickly.
export EUCA_NODE_DOWN_AFTER_MS=8000
export EUCA_NETWORK_RANGE=10.144.0.0/16
export EUCA_PUBLIC_CIDR=100.64.251.0/24
export EUCA_EIP_E2E=1
# A handler that returns a member its output shape lacks is a bug: fail loudly in tests.
export EUCA_STRICT_OUTPUT=1
