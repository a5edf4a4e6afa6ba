-- Placeholder for migration 0010, which another branch adds: versions must
-- be contiguous, and this branch's notes table is 0011. Drop this file at
-- merge (the integrator renumbers).
SELECT 1;
