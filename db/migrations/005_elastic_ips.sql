-- Public addresses: elastic IPs an account allocated, and the public address an
-- instance gets at launch (is_launch_address; back to the pool at terminate).
-- A row is an allocation: the primary key allocates an address once, the
-- unique instance_id gives an instance at most one public address.
CREATE TABLE addresses (
  public_ip         VARCHAR(15)  NOT NULL PRIMARY KEY,
  zone              VARCHAR(64)  NOT NULL,          -- the pool (and CC) it comes from
  account_id        CHAR(12)     NOT NULL,
  domain            ENUM('standard','vpc') NOT NULL DEFAULT 'standard',
  allocation_id     VARCHAR(26)  NOT NULL UNIQUE,   -- eipalloc- + 17 hex
  association_id    VARCHAR(26)  NULL UNIQUE,       -- eipassoc- + 17 hex while associated
  instance_id       VARCHAR(21)  NULL UNIQUE,
  private_ip        VARCHAR(45)  NULL,
  is_launch_address BOOLEAN      NOT NULL DEFAULT FALSE,
  nat_seq           BIGINT       NOT NULL DEFAULT 0, -- sequence number of the last change (see address_seq)
  allocated_at      DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  associated_at     DATETIME(3)  NULL,
  KEY addresses_by_account (account_id, is_launch_address),
  KEY addresses_by_zone (zone)
);

-- One counter per zone: every change of a zone's public addresses takes the next
-- number (under this row's lock, so changes of one zone are serialised) and the
-- CC applies a change only if it is newer than the last one it applied.
CREATE TABLE address_seq (
  zone  VARCHAR(64) NOT NULL PRIMARY KEY,
  seq   BIGINT      NOT NULL DEFAULT 0
);
