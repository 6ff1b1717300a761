-- PostgreSQL twin of prisma/migrations/20261130170000_student_limits.
-- A student's own limits in a class (an override of the class's, within the admin's ceilings).
ALTER TABLE "Enrolment" ADD COLUMN "limits" TEXT NOT NULL DEFAULT '{}';
