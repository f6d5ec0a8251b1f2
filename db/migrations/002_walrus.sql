-- Walrus (S3) metadata. Object bytes live as files under <EUCA_HOME>/walrus/;
-- a row here is what makes a file visible (it is written after the file is
-- fsync'ed and renamed into place).

CREATE TABLE walrus_buckets (
  name        VARCHAR(63)  NOT NULL PRIMARY KEY,
  account_id  CHAR(12)     NOT NULL,
  region      VARCHAR(64)  NOT NULL,
  versioning  ENUM('Off','Enabled','Suspended') NOT NULL DEFAULT 'Off',
  acl         VARCHAR(32)  NOT NULL DEFAULT 'private',
  tags        TEXT         NULL,
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  INDEX walrus_buckets_account (account_id)
);

-- One row per object version. version_id 'null' is the unversioned version.
CREATE TABLE walrus_objects (
  id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
  bucket        VARCHAR(63)  NOT NULL,
  object_key    VARBINARY(1024) NOT NULL,
  version_id    VARCHAR(64)  NOT NULL,
  is_latest     BOOLEAN      NOT NULL,
  delete_marker BOOLEAN      NOT NULL DEFAULT FALSE,
  size          BIGINT       NOT NULL DEFAULT 0,
  etag          VARCHAR(80)  NOT NULL DEFAULT '',
  file          VARCHAR(128) NULL,
  owner_id      CHAR(12)     NOT NULL,
  headers       TEXT         NULL,
  checksum_algo VARCHAR(16)  NULL,
  checksum      VARCHAR(128) NULL,
  checksum_type VARCHAR(16)  NULL,
  parts_count   INT          NULL,
  acl           VARCHAR(32)  NOT NULL DEFAULT 'private',
  tags          TEXT         NULL,
  last_modified DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY walrus_objects_version (bucket, object_key, version_id),
  INDEX walrus_objects_latest (bucket, is_latest, object_key)
);

CREATE TABLE walrus_uploads (
  upload_id     VARCHAR(64)  NOT NULL PRIMARY KEY,
  bucket        VARCHAR(63)  NOT NULL,
  object_key    VARBINARY(1024) NOT NULL,
  owner_id      CHAR(12)     NOT NULL,
  headers       TEXT         NULL,
  checksum_algo VARCHAR(16)  NULL,
  checksum_type VARCHAR(16)  NULL,
  acl           VARCHAR(32)  NOT NULL DEFAULT 'private',
  tags          TEXT         NULL,
  initiated     DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  INDEX walrus_uploads_bucket (bucket, object_key)
);

CREATE TABLE walrus_parts (
  upload_id     VARCHAR(64)  NOT NULL,
  part_number   INT          NOT NULL,
  size          BIGINT       NOT NULL,
  etag          VARCHAR(80)  NOT NULL,
  file          VARCHAR(128) NOT NULL,
  checksum      VARCHAR(128) NULL,
  last_modified DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (upload_id, part_number)
);
