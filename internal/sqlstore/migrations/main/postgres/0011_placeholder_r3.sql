-- Placeholder for the migration number another branch holds; the
-- integrator drops this file at merge (r3's own migration is 0012).
SELECT 1;
