-- Walrus multipart details (S3 issue §1).
-- The part layout of a completed multipart object ([[size, checksum], ...] as JSON),
-- for GetObject/HeadObject ?partNumber=N.
ALTER TABLE walrus_objects
  ADD COLUMN part_sizes MEDIUMTEXT NULL;

-- Who started an upload (its Initiator and Owner in ListParts / ListMultipartUploads):
-- the caller's account and, for an IAM user, the user's ARN.
ALTER TABLE walrus_uploads
  ADD COLUMN initiator_account CHAR(12) NULL,
  ADD COLUMN initiator_arn VARCHAR(2048) NULL;

-- What a completed upload answered, so that CompleteMultipartUpload sent again (a client
-- whose first answer was lost) gets the same 200 and result rather than NoSuchUpload.
-- Kept for a while after the completion; removed with the bucket.
CREATE TABLE walrus_completed_uploads (
  upload_id     VARCHAR(64)  NOT NULL PRIMARY KEY,
  bucket        VARCHAR(63)  NOT NULL,
  object_key    VARBINARY(1024) NOT NULL,
  version_id    VARCHAR(64)  NOT NULL,
  etag          VARCHAR(80)  NOT NULL,
  checksum_algo VARCHAR(16)  NULL,
  checksum      VARCHAR(128) NULL,
  checksum_type VARCHAR(16)  NULL,
  completed_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  INDEX walrus_completed_uploads_bucket (bucket),
  INDEX walrus_completed_uploads_at (completed_at)
);
