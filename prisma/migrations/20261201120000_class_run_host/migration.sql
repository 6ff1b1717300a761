-- The host coordinating a Start class run in a cluster (null on a single host): a host that
-- restarts resumes only its own runs, and a host's failover takes over the runs it coordinated.
ALTER TABLE "ClassRun" ADD COLUMN "hostId" TEXT;
