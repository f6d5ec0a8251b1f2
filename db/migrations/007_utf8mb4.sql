-- One character set and one collation for the whole schema: utf8mb4 with
-- utf8mb4_bin. Until now the tables took the server's default (latin1 on a
-- stock MariaDB), security group names were ascii and key pair names utf8mb4:
-- a name in another script then either failed to store (an emoji tag value) or
-- made a comparison fail with "Illegal mix of collations" (HTTP 500 instead of
-- NotFound).
--
-- Why utf8mb4_bin: AWS names and values are compared exactly (key pair names,
-- tag keys and values, image names are case-sensitive), and a binary
-- collation never equates two different strings ('a' = 'A', 'e' = 'é' or
-- trailing spaces under the _ci collations). The one name AWS compares without
-- case is the security group name; that rule is kept explicitly below.
--
-- The foreign keys join columns whose character set changes, and MariaDB
-- refuses to change a column a foreign key uses (even with the checks off), so
-- they are dropped first and made again, with the same names, at the end.
ALTER TABLE access_keys DROP FOREIGN KEY access_keys_ibfk_1;
ALTER TABLE nodes DROP FOREIGN KEY nodes_ibfk_1;
ALTER TABLE instances DROP FOREIGN KEY instances_ibfk_1;
ALTER TABLE node_allocations DROP FOREIGN KEY node_allocations_ibfk_1;
ALTER TABLE security_group_rules DROP FOREIGN KEY security_group_rules_ibfk_1;
ALTER TABLE instance_security_groups DROP FOREIGN KEY instance_security_groups_ibfk_1;

ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

ALTER TABLE schema_migrations CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE accounts CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE access_keys CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE zones CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE nodes CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE instance_types CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE images CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE image_launch_permissions CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE reservations CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE instances CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE tags CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE private_ips CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE macs CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE node_allocations CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE operations CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE walrus_buckets CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE walrus_objects CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE walrus_uploads CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE walrus_parts CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE key_pairs CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE security_groups CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE security_group_rules CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE instance_security_groups CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE addresses CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE address_seq CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
ALTER TABLE networks CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

-- Security group names stay unique per account regardless of case, as AWS's
-- are (and as ascii_general_ci made them): the unique key is on the name folded
-- to lower case. Stored names are printable ASCII (CreateSecurityGroup refuses
-- anything else), so LOWER() here is exactly the ASCII folding the code applies
-- to a name it looks up (db/securityGroups.ts foldGroupName).
ALTER TABLE security_groups
  ADD COLUMN name_folded VARCHAR(255) AS (LOWER(name)) STORED AFTER name,
  DROP INDEX group_name_per_account,
  ADD UNIQUE KEY group_name_per_account (account_id, name_folded);

ALTER TABLE access_keys ADD CONSTRAINT access_keys_ibfk_1 FOREIGN KEY (account_id) REFERENCES accounts(id);
ALTER TABLE nodes ADD CONSTRAINT nodes_ibfk_1 FOREIGN KEY (zone) REFERENCES zones(name);
ALTER TABLE instances ADD CONSTRAINT instances_ibfk_1 FOREIGN KEY (reservation_id) REFERENCES reservations(id);
ALTER TABLE node_allocations ADD CONSTRAINT node_allocations_ibfk_1 FOREIGN KEY (node) REFERENCES nodes(name);
ALTER TABLE security_group_rules ADD CONSTRAINT security_group_rules_ibfk_1
  FOREIGN KEY (group_id) REFERENCES security_groups(id) ON DELETE CASCADE;
ALTER TABLE instance_security_groups ADD CONSTRAINT instance_security_groups_ibfk_1
  FOREIGN KEY (group_id) REFERENCES security_groups(id) ON DELETE CASCADE;
