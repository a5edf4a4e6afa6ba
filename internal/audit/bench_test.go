package audit

import (
	"testing"

	"github.com/gdprd/gdprd/internal/sqlstore"
	"github.com/gdprd/gdprd/internal/sqlstore/sqltest"
)

// BenchmarkVerifySQLite100k measures `gdprd audit verify` on a SQLite log
// of 100,000 events with the default checkpoint interval, read through the
// read pool as the command does.
func BenchmarkVerifySQLite100k(b *testing.B) {
	const events, perWrite = 100_000, 1000
	db := sqltest.Open(b, sqlstore.SQLite, "main")
	l, _ := newTestLog(0)
	for start := 0; start < events; start += perWrite {
		err := db.Write(b.Context(), func(tx *sqlstore.Tx) error {
			for i := start; i < start+perWrite; i++ {
				if _, err := l.Append(b.Context(), tx, sampleEvent(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	pub := signer.CheckpointPublicKey()
	for b.Loop() {
		rep, err := Verify(b.Context(), db.Read(), pub, nil)
		if err != nil || !rep.OK || rep.Events != events || rep.Checkpoints != events/DefaultCheckpointEvery {
			b.Fatalf("verify = %+v, %v", rep, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}
