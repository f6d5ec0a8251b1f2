-- Walrus bucket features (S3 issue §3): CORS, lifecycle and Object Lock.
-- A bucket's configuration documents (kind 'cors', 'lifecycle', 'object-lock'),
-- parsed and validated, stored as JSON; a row per kind, removed with the bucket.
CREATE TABLE walrus_bucket_configs (
  bucket      VARCHAR(63)  NOT NULL,
  kind        VARCHAR(32)  NOT NULL,
  doc         MEDIUMTEXT   NOT NULL,
  updated_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (bucket, kind),
  INDEX walrus_bucket_configs_kind (kind)
);

-- Object Lock of a version: retention (mode + retain-until date) and legal hold (NULL: never set).
ALTER TABLE walrus_objects
  ADD COLUMN lock_mode   VARCHAR(12) NULL,
  ADD COLUMN lock_until  DATETIME(3) NULL,
  ADD COLUMN legal_hold  BOOLEAN     NULL;

-- What CreateMultipartUpload asked for (x-amz-object-lock-*), applied at completion.
ALTER TABLE walrus_uploads
  ADD COLUMN lock_mode   VARCHAR(12) NULL,
  ADD COLUMN lock_until  DATETIME(3) NULL,
  ADD COLUMN legal_hold  BOOLEAN     NULL;
