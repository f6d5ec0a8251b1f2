-- IAM users: each account's principals, with the stable unique id AWS gives
-- every user (AIDA + 17 characters), its path and creation date. An access key
-- (access_keys.user_name) belongs to the user of that name in its account.
--
-- User names are unique per account regardless of case, as AWS's are ("user
-- names are not distinguished by case"): the unique key is on the name folded
-- to lower case. IAM names are ASCII ([\w+=,.@-]), so LOWER() is exactly the
-- folding the code applies (db/iamUsers.ts foldUserName).
--
-- Every user an existing key names is adopted here, created when its first key
-- was. Keys written later without a user row (scripts, tests inserting into
-- access_keys directly) get theirs on first sight (db/iamUsers.ts).
CREATE TABLE iam_users (
  account_id   CHAR(12)     NOT NULL,
  user_name    VARCHAR(64)  NOT NULL,
  name_folded  VARCHAR(64)  AS (LOWER(user_name)) STORED,
  user_id      VARCHAR(32)  NOT NULL,
  path         VARCHAR(512) NOT NULL DEFAULT '/',
  created_at   DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (user_id),
  UNIQUE KEY user_name_per_account (account_id, name_folded),
  CONSTRAINT iam_users_account FOREIGN KEY (account_id) REFERENCES accounts(id)
) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

INSERT INTO iam_users (account_id, user_name, user_id, created_at)
  SELECT k.account_id, MIN(k.user_name),
         CONCAT('AIDA', UPPER(SUBSTRING(SHA2(CONCAT(k.account_id, ':', LOWER(k.user_name)), 256), 1, 17))),
         MIN(k.created_at)
  FROM access_keys k
  GROUP BY k.account_id, LOWER(k.user_name);
