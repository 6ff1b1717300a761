-- PostgreSQL twin of prisma/migrations/20261130160000_memory_rollups.
-- Memory history for the admin dashboard: host-wide rollups of the 1-2 s samples (kept in memory
-- briefly), one row per minute for a day and one per 10 minutes for a month. Keyed by
-- (resolution, bucket) so a chart reads one index range whatever the table's size.

CREATE TABLE "MemoryRollup" (
    "resolution" INTEGER NOT NULL,
    "bucket" TIMESTAMP(3) NOT NULL,
    "samples" INTEGER NOT NULL,
    "hostTotal" BIGINT NOT NULL,
    "hostUsed" BIGINT NOT NULL,
    "hostAvailable" BIGINT NOT NULL,
    "pageCache" BIGINT NOT NULL,
    "swapUsed" BIGINT NOT NULL,
    "psiSome10" DOUBLE PRECISION,
    "containers" INTEGER NOT NULL,
    "rss" BIGINT NOT NULL,
    "pss" BIGINT NOT NULL,
    "uss" BIGINT NOT NULL,
    "saved" BIGINT NOT NULL,

    CONSTRAINT "MemoryRollup_pkey" PRIMARY KEY ("resolution","bucket")
);
