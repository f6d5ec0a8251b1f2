-- The cloud's single source of truth. Every allocation is a row under a
-- unique constraint, so a retried or concurrent step can never take a thing twice.

CREATE TABLE accounts (
  id          CHAR(12)     NOT NULL PRIMARY KEY,
  name        VARCHAR(64)  NOT NULL UNIQUE,
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
);

CREATE TABLE access_keys (
  access_key_id  VARCHAR(32)  NOT NULL PRIMARY KEY,
  secret_key     VARCHAR(64)  NOT NULL,
  account_id     CHAR(12)     NOT NULL,
  user_name      VARCHAR(64)  NOT NULL DEFAULT 'admin',
  active         BOOLEAN      NOT NULL DEFAULT TRUE,
  created_at     DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  FOREIGN KEY (account_id) REFERENCES accounts(id)
);

CREATE TABLE zones (
  name        VARCHAR(64)  NOT NULL PRIMARY KEY,
  region      VARCHAR(64)  NOT NULL,
  subnet      VARCHAR(43)  NOT NULL,      -- the zone's flat instance network, CIDR
  vni         INT          NOT NULL UNIQUE,
  scheduling_policy ENUM('GREEDY','ROUNDROBIN','POWERSAVE') NOT NULL DEFAULT 'ROUNDROBIN',
  rr_cursor   VARCHAR(64)  NULL,          -- last node ROUNDROBIN gave work to
  cc_underlay_ip VARCHAR(45) NULL,
  state       ENUM('available','unavailable') NOT NULL DEFAULT 'available'
);

CREATE TABLE nodes (
  name        VARCHAR(64)  NOT NULL PRIMARY KEY,
  zone        VARCHAR(64)  NOT NULL,
  underlay_ip VARCHAR(45)  NOT NULL,
  vcpus       INT          NOT NULL,
  memory_mib  INT          NOT NULL,
  disk_gib    INT          NOT NULL,
  enabled     BOOLEAN      NOT NULL DEFAULT TRUE,
  last_heartbeat DATETIME(3) NULL,
  registered_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  FOREIGN KEY (zone) REFERENCES zones(name)
);

CREATE TABLE instance_types (
  name        VARCHAR(32)  NOT NULL PRIMARY KEY,
  vcpus       INT          NOT NULL,
  memory_mib  INT          NOT NULL,
  disk_gib    INT          NOT NULL
);

CREATE TABLE images (
  id            VARCHAR(21)  NOT NULL PRIMARY KEY,
  account_id    CHAR(12)     NOT NULL,
  name          VARCHAR(128) NOT NULL,
  description   VARCHAR(255) NULL,
  image_type    ENUM('machine','kernel','ramdisk') NOT NULL DEFAULT 'machine',
  kernel_path   VARCHAR(1024) NULL,
  ramdisk_path  VARCHAR(1024) NULL,
  kernel_sha256 CHAR(64)     NULL,
  ramdisk_sha256 CHAR(64)    NULL,
  architecture  VARCHAR(16)  NOT NULL DEFAULT 'x86_64',
  is_public     BOOLEAN      NOT NULL DEFAULT FALSE,
  state         ENUM('pending','available','deregistered','failed') NOT NULL DEFAULT 'available',
  created_at    DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY image_name_per_account (account_id, name)
);

CREATE TABLE reservations (
  id           VARCHAR(21)  NOT NULL PRIMARY KEY,
  account_id   CHAR(12)     NOT NULL,
  client_token VARCHAR(64)  NULL,
  params_hash  CHAR(64)     NOT NULL,
  workflow_id  VARCHAR(255) NOT NULL,
  created_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY client_token_per_account (account_id, client_token)
);

CREATE TABLE instances (
  id             VARCHAR(21)  NOT NULL PRIMARY KEY,
  reservation_id VARCHAR(21)  NOT NULL,
  account_id     CHAR(12)     NOT NULL,
  launch_index   INT          NOT NULL,
  image_id       VARCHAR(21)  NOT NULL,
  instance_type  VARCHAR(32)  NOT NULL,
  zone           VARCHAR(64)  NOT NULL,
  node           VARCHAR(64)  NULL,
  state          ENUM('pending','running','shutting-down','terminated','stopping','stopped') NOT NULL DEFAULT 'pending',
  state_reason_code    VARCHAR(64)  NULL,
  state_reason_message VARCHAR(255) NULL,
  state_transition_reason VARCHAR(255) NULL,
  private_ip     VARCHAR(45)  NULL,
  mac            VARCHAR(17)  NULL,
  user_data      MEDIUMTEXT   NULL,
  key_name       VARCHAR(255) NULL,
  client_token   VARCHAR(64)  NULL,
  launched_at    DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at     DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  KEY instances_by_account (account_id, state),
  KEY instances_by_node (node),
  FOREIGN KEY (reservation_id) REFERENCES reservations(id)
);

CREATE TABLE tags (
  account_id    CHAR(12)     NOT NULL,
  resource_id   VARCHAR(64)  NOT NULL,
  resource_type VARCHAR(32)  NOT NULL,
  tag_key       VARCHAR(128) NOT NULL,
  tag_value     VARCHAR(256) NOT NULL DEFAULT '',
  PRIMARY KEY (resource_id, tag_key),
  KEY tags_by_account (account_id, tag_key)
);

-- Private addresses and MACs: a row is a lease; the unique keys make a
-- double allocation impossible.
CREATE TABLE private_ips (
  zone        VARCHAR(64)  NOT NULL,
  ip          VARCHAR(45)  NOT NULL,
  instance_id VARCHAR(21)  NOT NULL UNIQUE,
  PRIMARY KEY (zone, ip)
);

CREATE TABLE macs (
  mac         VARCHAR(17)  NOT NULL PRIMARY KEY,
  instance_id VARCHAR(21)  NOT NULL UNIQUE
);

-- Capacity held on a node by an instance. Free = node total - sum(rows).
CREATE TABLE node_allocations (
  instance_id VARCHAR(21)  NOT NULL PRIMARY KEY,
  node        VARCHAR(64)  NOT NULL,
  vcpus       INT          NOT NULL,
  memory_mib  INT          NOT NULL,
  disk_gib    INT          NOT NULL,
  KEY allocations_by_node (node),
  FOREIGN KEY (node) REFERENCES nodes(name)
);

-- One row per EC2 operation (workflow), for operators and metering.
CREATE TABLE operations (
  workflow_id  VARCHAR(255) NOT NULL PRIMARY KEY,
  account_id   CHAR(12)     NOT NULL,
  action       VARCHAR(64)  NOT NULL,
  resource_id  VARCHAR(64)  NULL,
  state        ENUM('running','completed','failed') NOT NULL DEFAULT 'running',
  error        VARCHAR(512) NULL,
  started_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  ended_at     DATETIME(3)  NULL,
  KEY operations_by_resource (resource_id)
);
