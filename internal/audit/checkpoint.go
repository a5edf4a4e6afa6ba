package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/gdprd/gdprd/internal/sqlstore"
)

// checkpointDomain starts every signed checkpoint message, so the signing
// key's signatures over checkpoints cannot be replayed as anything else.
const checkpointDomain = "gdprd-audit-checkpoint-v1"

// ErrBadSignature is returned by VerifySignature when the signature does not
// verify under the given key.
var ErrBadSignature = errors.New("audit: checkpoint signature does not verify")

// HexBytes is a byte string written as lower-case hex in JSON, so exported
// checkpoints can be compared by eye and with grep.
type HexBytes []byte

// MarshalText encodes b as hex.
func (b HexBytes) MarshalText() ([]byte, error) {
	return hex.AppendEncode(nil, b), nil
}

// UnmarshalText decodes hex into b.
func (b *HexBytes) UnmarshalText(text []byte) error {
	out, err := hex.AppendDecode(nil, text)
	if err != nil {
		return fmt.Errorf("audit: bad hex: %w", err)
	}
	*b = out
	return nil
}

// String returns the hex form.
func (b HexBytes) String() string { return hex.EncodeToString(b) }

// Checkpoint is a signed statement that the log's event at Seq has hash Hash.
// Exported off the host, it pins the whole chain up to Seq: a later Verify
// against it detects truncation and rewrites that the chain alone cannot.
// Seq 0 with the all-zero hash is the checkpoint of an empty log.
type Checkpoint struct {
	Seq       int64     `json:"seq"`
	Hash      HexBytes  `json:"hash"`
	At        time.Time `json:"at"`
	KeyID     string    `json:"key_id"`
	Signature HexBytes  `json:"signature"`
}

// Message returns the exact bytes that are signed:
// "gdprd-audit-checkpoint-v1\n" + seq + "\n" + hex(hash) + "\n" + at in
// RFC 3339 with nanoseconds, UTC. KeyID is not signed: it only says which
// key to try, and a wrong one makes verification fail.
func (c Checkpoint) Message() []byte {
	b := make([]byte, 0, len(checkpointDomain)+20+2*len(c.Hash)+40)
	b = append(b, checkpointDomain...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, c.Seq, 10)
	b = append(b, '\n')
	b = hex.AppendEncode(b, c.Hash)
	b = append(b, '\n')
	b = c.At.UTC().AppendFormat(b, time.RFC3339Nano)
	return b
}

// VerifySignature checks that c is well formed and signed by pub. It never
// panics, whatever c and pub hold, so it is safe on checkpoints read from
// files.
func (c Checkpoint) VerifySignature(pub ed25519.PublicKey) error {
	switch {
	case len(pub) != ed25519.PublicKeySize:
		return fmt.Errorf("audit: checkpoint public key has %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	case c.Seq < 0:
		return fmt.Errorf("audit: checkpoint seq %d is negative", c.Seq)
	case len(c.Hash) != sha256.Size:
		return fmt.Errorf("audit: checkpoint hash has %d bytes, want %d", len(c.Hash), sha256.Size)
	case len(c.Signature) != ed25519.SignatureSize:
		return fmt.Errorf("audit: checkpoint signature has %d bytes, want %d", len(c.Signature), ed25519.SignatureSize)
	case !ed25519.Verify(pub, c.Message(), c.Signature):
		return ErrBadSignature
	}
	return nil
}

// ParseCheckpoint reads a checkpoint exported as JSON (by `gdprd audit
// checkpoint`), strictly: unknown fields, trailing data and malformed
// values are errors, so a damaged file is noticed rather than half read.
// It does not check the signature; call VerifySignature.
func ParseCheckpoint(data []byte) (Checkpoint, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Checkpoint
	if err := dec.Decode(&c); err != nil {
		return Checkpoint{}, fmt.Errorf("audit: parse checkpoint: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Checkpoint{}, errors.New("audit: parse checkpoint: trailing data after the JSON object")
	}
	switch {
	case c.Seq < 0:
		return Checkpoint{}, fmt.Errorf("audit: parse checkpoint: seq %d is negative", c.Seq)
	case len(c.Hash) != sha256.Size:
		return Checkpoint{}, fmt.Errorf("audit: parse checkpoint: hash has %d bytes, want %d", len(c.Hash), sha256.Size)
	case len(c.Signature) != ed25519.SignatureSize:
		return Checkpoint{}, fmt.Errorf("audit: parse checkpoint: signature has %d bytes, want %d", len(c.Signature), ed25519.SignatureSize)
	case c.At.IsZero():
		return Checkpoint{}, errors.New("audit: parse checkpoint: no time")
	}
	return c, nil
}

// sign makes a checkpoint for the event at seq and checks the signer's
// output, so a misconfigured signer fails the append instead of storing
// checkpoints that will never verify.
func (l *Log) sign(seq int64, hash []byte, at time.Time) (Checkpoint, error) {
	cp := Checkpoint{Seq: seq, Hash: bytes.Clone(hash), At: at, KeyID: l.keyID}
	cp.Signature = l.signer.SignCheckpoint(cp.Message())
	if err := cp.VerifySignature(l.signer.CheckpointPublicKey()); err != nil {
		return Checkpoint{}, fmt.Errorf("audit: signer produced an unusable checkpoint for seq %d: %w", seq, err)
	}
	return cp, nil
}

func storeCheckpoint(ctx context.Context, tx *sqlstore.Tx, cp Checkpoint) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5)",
		cp.Seq, []byte(cp.Hash), sqlstore.Micros(cp.At), cp.KeyID, []byte(cp.Signature))
	if err != nil {
		return fmt.Errorf("audit: store checkpoint %d: %w", cp.Seq, err)
	}
	return nil
}

const selectCheckpoints = "SELECT seq, hash, at, key_id, signature FROM audit_checkpoints"

func scanCheckpoint(sc interface{ Scan(...any) error }) (Checkpoint, error) {
	var cp Checkpoint
	var at int64
	if err := sc.Scan(&cp.Seq, (*[]byte)(&cp.Hash), &at, &cp.KeyID, (*[]byte)(&cp.Signature)); err != nil {
		return Checkpoint{}, err
	}
	cp.At = sqlstore.FromMicros(at)
	return cp, nil
}

// readCheckpoints returns every stored checkpoint in seq order. There is one
// per CheckpointEvery events, few enough to hold in memory.
func readCheckpoints(ctx context.Context, q sqlstore.Querier) ([]Checkpoint, error) {
	rows, err := q.QueryContext(ctx, selectCheckpoints+" ORDER BY seq")
	if err != nil {
		return nil, fmt.Errorf("audit: read checkpoints: %w", err)
	}
	defer rows.Close()
	var cps []Checkpoint
	for rows.Next() {
		cp, err := scanCheckpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("audit: read checkpoints: %w", err)
		}
		cps = append(cps, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: read checkpoints: %w", err)
	}
	return cps, nil
}

// Checkpoint signs and stores the current head and returns it, for `gdprd
// audit checkpoint` to export off the host. If the head is already
// checkpointed, it returns the stored checkpoint, so repeated exports of an
// idle log agree. It runs in its own durable transaction and locks the head
// like Append, so it always names an event that exists.
func (l *Log) Checkpoint(ctx context.Context, db *sqlstore.DB) (Checkpoint, error) {
	if l.signer == nil {
		return Checkpoint{}, ErrNoSigner
	}
	var cp Checkpoint
	err := db.Write(ctx, func(tx *sqlstore.Tx) error {
		head, err := lockHead(ctx, tx)
		if err != nil {
			return err
		}
		stored, err := scanCheckpoint(tx.QueryRowContext(ctx, selectCheckpoints+" WHERE seq = $1", head.Seq))
		switch {
		case err == nil:
			if !bytes.Equal(stored.Hash, head.Hash) {
				return fmt.Errorf("audit: stored checkpoint at seq %d disagrees with the head: run audit verify", head.Seq)
			}
			cp = stored
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("audit: read checkpoint %d: %w", head.Seq, err)
		}
		cp, err = l.sign(head.Seq, head.Hash, l.now())
		if err != nil {
			return err
		}
		return storeCheckpoint(ctx, tx, cp)
	})
	if err != nil {
		return Checkpoint{}, err
	}
	return cp, nil
}
