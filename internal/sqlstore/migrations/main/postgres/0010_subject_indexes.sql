-- Every column that points at a subject gets an index: erasing a subject
-- cascades into these tables, and without an index each erasure would scan
-- them whole, so erasure time would grow with their size (found by the
-- erasure benchmark). TestSubjectReferencesIndexed keeps it so.
CREATE INDEX email_codes_by_subject ON email_codes (subject_id);
CREATE INDEX objection_decisions_by_subject ON objection_decisions (subject_id);
CREATE INDEX widget_visitors_by_subject ON widget_visitors (subject_id);
