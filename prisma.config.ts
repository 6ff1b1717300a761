// Prisma CLI configuration (Prisma 7 reads the datasource URL from here, not from the schema).
// The host applies prisma/migrations itself at start-up; `prisma migrate deploy` works too where
// Prisma's schema engine is available.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? `file:${process.env.REG_HOME || '/var/lib/reg'}/reg.db` },
});
