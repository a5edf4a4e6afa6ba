-- Placeholder: this number belongs to work on another branch. It exists
-- only because versions must be contiguous; drop it at merge.
SELECT 1;
