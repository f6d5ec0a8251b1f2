-- Images stored in Walrus (§7): EKI/ERI/EMI registered from objects, launch permissions.
-- kernel_path/ramdisk_path stay for images registered from local files (the fallback).
ALTER TABLE images
  ADD COLUMN image_location  VARCHAR(1100) NULL AFTER image_type,
  ADD COLUMN object_bucket   VARCHAR(63)   NULL AFTER image_location,
  ADD COLUMN object_key      VARBINARY(1024) NULL AFTER object_bucket,
  ADD COLUMN size_bytes      BIGINT        NULL AFTER object_key,
  ADD COLUMN sha256          CHAR(64)      NULL AFTER size_bytes,
  ADD COLUMN disk_format     VARCHAR(8)    NULL AFTER sha256,
  ADD COLUMN kernel_id       VARCHAR(21)   NULL AFTER disk_format,
  ADD COLUMN ramdisk_id      VARCHAR(21)   NULL AFTER kernel_id,
  ADD COLUMN root_device_name VARCHAR(32)  NULL AFTER ramdisk_id;

-- A deregistered image keeps its row (and id) but frees its name.
ALTER TABLE images DROP INDEX image_name_per_account;
ALTER TABLE images ADD INDEX image_account_name (account_id, name);

-- Who besides the owner may launch an image (ModifyImageAttribute launchPermission UserId).
-- Public (Group=all) is images.is_public.
CREATE TABLE image_launch_permissions (
  image_id    VARCHAR(21) NOT NULL,
  account_id  CHAR(12)    NOT NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (image_id, account_id),
  KEY launch_permissions_by_account (account_id)
);
