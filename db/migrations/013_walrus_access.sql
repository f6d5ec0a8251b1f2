-- Walrus access control (S3 issue §2): bucket policies, ACL grants, Object
-- Ownership and Block Public Access (api/s3/access.ts, api/s3/acl.ts).
--
-- On the bucket row itself, so the one SELECT every request makes for its
-- bucket brings them along:
--   policy               the bucket policy as the owner sent it (validated when stored; NULL: none)
--   object_ownership     BucketOwnerEnforced | BucketOwnerPreferred | ObjectWriter (NULL: never set, acts as ObjectWriter)
--   public_access_block  {"BlockPublicAcls":b,"IgnorePublicAcls":b,"BlockPublicPolicy":b,"RestrictPublicBuckets":b} (NULL: none)
ALTER TABLE walrus_buckets
  ADD COLUMN policy TEXT NULL,
  ADD COLUMN object_ownership VARCHAR(32) NULL,
  ADD COLUMN public_access_block VARCHAR(200) NULL;

-- An ACL is a canned ACL's name or, for explicit grants (x-amz-grant-*, an
-- AccessControlPolicy document), the grant list as JSON (up to 100 grants).
ALTER TABLE walrus_buckets MODIFY acl TEXT NOT NULL DEFAULT ('private');
ALTER TABLE walrus_objects MODIFY acl TEXT NOT NULL DEFAULT ('private');
ALTER TABLE walrus_uploads MODIFY acl TEXT NOT NULL DEFAULT ('private');
