// Every knob of the cloud, read once from the environment. Defaults give the
// one-machine "cloud in a box" that `npm run up` starts.
import path from 'node:path';

const env = process.env;
const int = (name: string, dflt: number) => (env[name] ? parseInt(env[name]!, 10) : dflt);

export const repoRoot = path.resolve(__dirname, '..');

/** EUCA_S3_DOMAIN as a bare lower-case DNS name (no dots around it, no scheme, no port), or undefined. */
function s3DomainOf(v: string | undefined): string | undefined {
  const d = (v ?? '').trim().toLowerCase().replace(/^[a-z]+:\/\//, '').replace(/[:/].*$/, '').replace(/^\.+|\.+$/g, '');
  return d || undefined;
}

export interface InstanceTypeDef { name: string; vcpus: number; memoryMiB: number; diskGiB: number }

// Eucalyptus' classic instance types (euca-describe-availability-zones verbose).
export const defaultInstanceTypes: InstanceTypeDef[] = [
  { name: 't1.micro', vcpus: 1, memoryMiB: 128, diskGiB: 2 },
  { name: 'm1.small', vcpus: 1, memoryMiB: 192, diskGiB: 2 },
  { name: 'c1.medium', vcpus: 1, memoryMiB: 256, diskGiB: 5 },
  { name: 'm1.large', vcpus: 2, memoryMiB: 512, diskGiB: 10 },
  { name: 'm1.xlarge', vcpus: 2, memoryMiB: 1024, diskGiB: 10 },
  { name: 'c1.xlarge', vcpus: 4, memoryMiB: 2048, diskGiB: 10 },
];

export const config = {
  home: path.resolve(env.EUCA_HOME ?? path.join(repoRoot, '.cloud')),
  // Names of namespaces and root-namespace interfaces start with this, so a
  // test stack and the default stack never touch each other's objects.
  prefix: env.EUCA_PREFIX ?? 'euca',
  region: env.EUCA_REGION ?? 'local-1',
  zone: env.EUCA_ZONE ?? 'local-1a',
  nodes: (env.EUCA_NODES ?? 'nc1,nc2').split(',').filter(Boolean),
  apiHost: env.EUCA_API_HOST ?? '127.0.0.1',
  apiPort: int('EUCA_API_PORT', 8773),
  temporalAddress: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
  temporalNamespace: env.TEMPORAL_NAMESPACE ?? 'default',
  mysqlUrl: env.MYSQL_URL ?? 'mysql://euca:euca@127.0.0.1:3307/eucacloud',
  mysqlPoolSize: int('EUCA_MYSQL_POOL', 8),
  underlayCidr: env.EUCA_UNDERLAY_CIDR ?? '10.199.0.0/24',
  // The zone's flat instance network (the networking issue replaces it with
  // one network per security group).
  zoneSubnet: env.EUCA_ZONE_SUBNET ?? '10.200.0.0/24',
  zoneVni: int('EUCA_ZONE_VNI', 1000),
  // Private networks, one per (account, security group): carved from this
  // range in subnets of this prefix length, VXLAN ids from vniBase up.
  networkRange: env.EUCA_NETWORK_RANGE ?? '10.128.0.0/12',
  networkPrefix: int('EUCA_NETWORK_PREFIX', 24),
  vniBase: int('EUCA_VNI_BASE', 2000),
  accel: (env.EUCA_ACCEL ?? 'auto') as 'kvm' | 'tcg' | 'auto',
  // Capacity each node reports (defaults fit two small TCG guests per node on a 2-core box).
  nodeVcpus: int('EUCA_NODE_VCPUS', 4),
  nodeMemoryMiB: int('EUCA_NODE_MEMORY_MIB', 2048),
  nodeDiskGiB: int('EUCA_NODE_DISK_GIB', 40),
  // Each NC's image cache is kept under this size (least recently used files no VM uses go first).
  nodeCacheMiB: int('EUCA_NODE_CACHE_MIB', 2048),
  // Lifetime of the presigned Walrus URLs boot plans hand to nodes.
  imageUrlExpirySeconds: int('EUCA_IMAGE_URL_EXPIRY_S', 900),
  schedulingPolicy: (env.EUCA_SCHEDULER ?? 'ROUNDROBIN') as 'GREEDY' | 'ROUNDROBIN' | 'POWERSAVE',
  nodeHeartbeatMs: int('EUCA_NODE_HEARTBEAT_MS', 3000),
  nodeDownAfterMs: int('EUCA_NODE_DOWN_AFTER_MS', 12000),
  // How long a host queue may leave a task unpicked before we call the host gone.
  hostScheduleToStartMs: int('EUCA_HOST_SCHEDULE_TO_START_MS', 15000),
  bootTimeoutMs: int('EUCA_BOOT_TIMEOUT_MS', 180000),
  launchAttempts: int('EUCA_LAUNCH_ATTEMPTS', 3),
  clockSkewMs: int('EUCA_CLOCK_SKEW_MS', 15 * 60 * 1000),
  logLevel: env.LOG_LEVEL ?? 'info',
  // Walrus (S3): its own listener; object files under walrusDir; virtual-host
  // style answers Host: <bucket>.<one of s3Domains>.
  s3Host: env.EUCA_S3_HOST ?? env.EUCA_API_HOST ?? '127.0.0.1',
  s3Port: int('EUCA_S3_PORT', 8774),
  // EUCA_S3_DOMAIN (e.g. cloud.example.com): s3.<domain> answers path style, <bucket>.s3.<domain>
  // (DNS: a wildcard *.s3.<domain>) and <bucket>.<domain> virtual-host style; in eucarc.
  s3Domain: s3DomainOf(env.EUCA_S3_DOMAIN),
  s3Domains: [...(s3DomainOf(env.EUCA_S3_DOMAIN) ? [`s3.${s3DomainOf(env.EUCA_S3_DOMAIN)}`, s3DomainOf(env.EUCA_S3_DOMAIN)!] : []),
    ...(env.EUCA_S3_DOMAINS ?? 's3.localhost,localhost').split(',').map((d) => d.trim().toLowerCase()).filter(Boolean)],
  // What a client may hold of the two listeners (api/http/hardening.ts). Both: the request
  // line and headers within headersTimeout (a new connection must start sending within it too),
  // idle keep-alive connections closed after keepAliveTimeout, a socket silent both ways for
  // idleTimeout closed, at most maxConnectionsPerIp connections per client address per listener,
  // request line + headers at most maxHeaderBytes. The EC2 API: the whole request (bodies are
  // at most 1 MiB) within apiRequestTimeout. S3: no whole-request limit (multi-GiB uploads), but
  // a body must keep arriving at s3MinBodyRate bytes/s or more over every s3BodyRateWindow.
  http: {
    headersTimeoutMs: int('EUCA_HTTP_HEADERS_TIMEOUT_MS', 20_000),
    keepAliveTimeoutMs: int('EUCA_HTTP_KEEPALIVE_TIMEOUT_MS', 5_000),
    idleTimeoutMs: int('EUCA_HTTP_IDLE_TIMEOUT_MS', 300_000),
    maxConnectionsPerIp: int('EUCA_HTTP_MAX_CONNECTIONS_PER_IP', 512),
    maxHeaderBytes: int('EUCA_HTTP_MAX_HEADER_BYTES', 16 * 1024),
    apiRequestTimeoutMs: int('EUCA_API_REQUEST_TIMEOUT_MS', 60_000),
    s3MinBodyRate: int('EUCA_S3_MIN_BODY_RATE', 1024),
    s3BodyRateWindowMs: int('EUCA_S3_BODY_RATE_WINDOW_MS', 30_000),
  },
  walrusDir: path.resolve(env.EUCA_WALRUS_DIR ?? path.join(env.EUCA_HOME ?? path.join(repoRoot, '.cloud'), 'walrus')),
  // Public addresses (elastic IPs): the public segment's CIDR (its first address is the
  // host, the second the CC's), the pool of the default zone ("a.b.c.d-a.b.c.e[,...]";
  // default .10 up to the last before broadcast), other zones' pools as
  // "zone=range;zone=range", the per-account limit, whether instances get a public
  // address at launch, and whether guests without one reach the outside masqueraded.
  publicCidr: env.EUCA_PUBLIC_CIDR ?? '100.64.250.0/24',
  publicPool: env.EUCA_PUBLIC_POOL ?? '',
  publicPools: env.EUCA_PUBLIC_POOLS ?? '',
  addressLimit: int('EUCA_ADDRESS_LIMIT', 5),
  launchPublicIp: (env.EUCA_LAUNCH_PUBLIC_IP ?? '1') !== '0',
  privateEgress: (env.EUCA_PRIVATE_EGRESS ?? '1') !== '0',
};

export type Config = typeof config;

export const paths = {
  hostDir: (host: string) => path.join(config.home, 'hosts', host),
  vmDir: (node: string, instanceId: string) => path.join(config.home, 'hosts', node, 'vms', instanceId),
  cacheDir: (node: string) => path.join(config.home, 'hosts', node, 'cache'),
  netDir: (host: string, vni: number) => path.join(config.home, 'hosts', host, 'net', `vb${vni}`),
  imagesDir: () => path.join(config.home, 'images'),
  logsDir: () => path.join(config.home, 'logs'),
};

export const names = {
  ccHost: (zone: string) => `cc-${zone}`,
  netns: (host: string) => `${config.prefix}-${host}`,
  ccQueue: (zone: string) => `cc.${zone}`,
  ncQueue: (node: string) => `nc.${node}`,
  clcQueue: 'clc',
};
