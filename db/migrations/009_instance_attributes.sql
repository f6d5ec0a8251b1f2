-- Instance attributes (DescribeInstanceAttribute / ModifyInstanceAttribute /
-- ResetInstanceAttribute, RunInstances' DisableApiTermination,
-- InstanceInitiatedShutdownBehavior and Monitoring).
--
-- kernel_id / ramdisk_id: the EKI / ERI the instance boots when it differs
-- from its image's (ModifyInstanceAttribute kernel / ramdisk while stopped);
-- NULL = the image's own. ResetInstanceAttribute sets them back to NULL.
-- monitoring: the detailed-monitoring state of MonitorInstances /
-- UnmonitorInstances, shown in DescribeInstances' monitoring.state.
ALTER TABLE instances
  ADD COLUMN disable_api_termination BOOLEAN NOT NULL DEFAULT FALSE,
  ADD COLUMN shutdown_behavior ENUM('stop','terminate') NOT NULL DEFAULT 'stop',
  ADD COLUMN monitoring ENUM('disabled','enabled') NOT NULL DEFAULT 'disabled',
  ADD COLUMN kernel_id VARCHAR(21) NULL,
  ADD COLUMN ramdisk_id VARCHAR(21) NULL;
