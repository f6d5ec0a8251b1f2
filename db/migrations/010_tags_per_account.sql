-- Tags belong to the account that made them. EC2 lets an account tag a public
-- or shared image it does not own, and those tags are its own: nobody else sees
-- them, and the owner's tags of the same key are other rows. So the key is
-- (account, resource, key), not (resource, key).
--
-- tags_by_resource: a resource's tags go with it (DeleteSecurityGroup,
-- DeleteKeyPair, ReleaseAddress, DeregisterImage delete every account's).
ALTER TABLE tags
  DROP PRIMARY KEY,
  ADD PRIMARY KEY (account_id, resource_id, tag_key),
  ADD KEY tags_by_resource (resource_id);
