-- PostgreSQL twin of prisma/migrations/20261201100000_cluster_hosts.
-- Cluster mode (REG_CLUSTER=1): the sandbox hosts sharing this database, which host runs each
-- container, and which host may mount each workspace image (one at a time).
CREATE TABLE "Host" (
    "id" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "instance" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'up',
    "cgroupVersion" INTEGER NOT NULL,
    "memoryBytes" BIGINT NOT NULL,
    "freeMemoryBytes" BIGINT NOT NULL,
    "rets" TEXT NOT NULL DEFAULT '[]',
    "version" TEXT NOT NULL,
    "machineId" TEXT NOT NULL DEFAULT '',
    "regHome" TEXT NOT NULL DEFAULT '',
    "containers" INTEGER NOT NULL DEFAULT 0,
    "startedAt" TIMESTAMP(3) NOT NULL,
    "heartbeatAt" TIMESTAMP(3) NOT NULL,
    "downAt" TIMESTAMP(3),
    "downReason" TEXT,
    "signature" TEXT NOT NULL,

    CONSTRAINT "Host_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "Host_status_heartbeatAt_idx" ON "Host"("status", "heartbeatAt");

CREATE TABLE "WorkspaceLease" (
    "classId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,
    "acquiredAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WorkspaceLease_pkey" PRIMARY KEY ("classId","userId")
);
CREATE INDEX "WorkspaceLease_hostId_idx" ON "WorkspaceLease"("hostId");

ALTER TABLE "Container" ADD COLUMN "hostId" TEXT;
CREATE INDEX "Container_hostId_idx" ON "Container"("hostId");
