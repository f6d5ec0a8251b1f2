-- Key pairs and security groups (EC2-Classic style: groups belong to an
-- account, not to a VPC). The rules are enforced by the zone's data plane,
-- which reads them from here.

CREATE TABLE key_pairs (
  id           VARCHAR(21)  NOT NULL PRIMARY KEY,          -- key- + 17 hex
  account_id   CHAR(12)     NOT NULL,
  -- key names are case-sensitive: "MyKey" and "mykey" are two key pairs
  name         VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  key_type     ENUM('rsa','ed25519') NOT NULL,
  fingerprint  VARCHAR(64)  NOT NULL,
  public_key   TEXT         NOT NULL,                      -- OpenSSH line: "<type> <base64> <name>"
  created_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY key_name_per_account (account_id, name)
);

CREATE TABLE security_groups (
  id           VARCHAR(21)  NOT NULL PRIMARY KEY,          -- sg- + 17 hex
  account_id   CHAR(12)     NOT NULL,
  -- group names are unique per account regardless of case, as AWS's are
  name         VARCHAR(255) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  description  VARCHAR(255) NOT NULL,
  created_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY group_name_per_account (account_id, name)
);

-- One row per permission: one protocol/port range and ONE peer (a CIDR or a
-- group). '' and -1 stand for "none" so that the unique key can forbid a
-- duplicate rule even under concurrent requests (NULLs never collide).
CREATE TABLE security_group_rules (
  seq             BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
  id              VARCHAR(21)  NOT NULL UNIQUE,             -- sgr- + 17 hex
  group_id        VARCHAR(21)  NOT NULL,
  is_egress       BOOLEAN      NOT NULL,
  protocol        VARCHAR(8)   NOT NULL,                    -- tcp | udp | icmp | -1
  from_port       INT          NOT NULL,                    -- icmp: type; -1: all
  to_port         INT          NOT NULL,                    -- icmp: code; -1: all
  cidr            VARCHAR(18)  NOT NULL DEFAULT '',         -- normalised network, or ''
  source_group_id VARCHAR(21)  NOT NULL DEFAULT '',         -- peer group (any account), or ''
  description     VARCHAR(255) NULL,
  created_at      DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY one_rule (group_id, is_egress, protocol, from_port, to_port, cidr, source_group_id),
  KEY rules_by_source (source_group_id),
  FOREIGN KEY (group_id) REFERENCES security_groups(id) ON DELETE CASCADE
);

-- The groups an instance was launched in (fixed for its life, as in EC2-Classic).
CREATE TABLE instance_security_groups (
  instance_id  VARCHAR(21)  NOT NULL,
  group_id     VARCHAR(21)  NOT NULL,
  PRIMARY KEY (instance_id, group_id),
  KEY instances_by_group (group_id),
  FOREIGN KEY (group_id) REFERENCES security_groups(id) ON DELETE CASCADE
);
