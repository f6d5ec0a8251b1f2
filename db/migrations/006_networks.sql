-- One private network per (account, security group), as in Eucalyptus'
-- MANAGED mode: its own VXLAN id and subnet. A network being torn down keeps
-- its VNI and subnet (group_id NULL, state 'deleting') until its data plane is gone.
CREATE TABLE networks (
  id          VARCHAR(21)  NOT NULL PRIMARY KEY,
  account_id  CHAR(12)     NOT NULL,
  group_id    VARCHAR(21)  NULL UNIQUE,
  vni         INT          NOT NULL UNIQUE,
  subnet      VARCHAR(43)  NOT NULL UNIQUE,
  state       ENUM('active','deleting') NOT NULL DEFAULT 'active',
  created_at  DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
);

ALTER TABLE instances ADD COLUMN network_id VARCHAR(21) NULL, ADD KEY instances_by_network (network_id);

-- Private addresses are leased per network now (the pool is a network id).
ALTER TABLE private_ips CHANGE zone pool VARCHAR(64) NOT NULL;
