-- Internal notes of staff on a data-subject request. A note is staff text
-- and may name the person or quote them, so it is personal data: sealed
-- with the subject's data key (bound to the note's id) and unreadable once
-- the subject is erased. Append-only: a note is corrected by another note.
CREATE TABLE request_notes (
    id         TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests(id),
    at         BIGINT NOT NULL,
    author     TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    key_id     TEXT NOT NULL,
    audit_seq  BIGINT NOT NULL UNIQUE
);
CREATE INDEX request_notes_by_request ON request_notes (request_id, at);

CREATE TRIGGER request_notes_append_only BEFORE UPDATE OR DELETE ON request_notes
FOR EACH ROW EXECUTE FUNCTION dsr_refuse_change('request notes are append-only');
