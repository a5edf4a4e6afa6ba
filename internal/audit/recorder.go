package audit

import (
	"context"
	"sync"

	"github.com/gdprd/gdprd/internal/sqlstore"
)

// maxRecordBatch bounds how many events one coalesced write carries.
const maxRecordBatch = 256

// Recorder appends events that stand alone, outside any state change (the
// audit record of a read or of a refused request). Concurrent callers are
// coalesced into one write with one lock and one move of the head, so
// auditing every read costs little more than auditing one. Record returns
// once the caller's event is committed with the Recorder's durability.
type Recorder struct {
	log  *Log
	db   *sqlstore.DB
	dur  sqlstore.Durability
	reqs chan *recordReq

	closeOnce sync.Once
	mu        sync.RWMutex
	closed    bool
	quit      chan struct{}
	done      chan struct{}
}

type recordReq struct {
	ctx  context.Context
	e    Event
	seq  int64
	err  error
	done chan struct{}
}

// NewRecorder starts a Recorder writing to db; Close stops it.
func (l *Log) NewRecorder(db *sqlstore.DB, d sqlstore.Durability) *Recorder {
	r := &Recorder{log: l, db: db, dur: d, reqs: make(chan *recordReq, maxRecordBatch),
		quit: make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r
}

// Record appends e and returns its seq. An invalid event fails alone; a
// failed write fails every event of its batch, and each caller must treat
// its own operation as failed (fail closed).
func (r *Recorder) Record(ctx context.Context, e Event) (int64, error) {
	if err := validate(&e); err != nil {
		return 0, err
	}
	req := &recordReq{ctx: ctx, e: e, done: make(chan struct{})}
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return 0, sqlstore.ErrClosed
	}
	select {
	case r.reqs <- req:
	case <-ctx.Done():
		r.mu.RUnlock()
		return 0, ctx.Err()
	}
	r.mu.RUnlock()
	<-req.done
	return req.seq, req.err
}

// Close waits for queued events to be written and stops the Recorder.
func (r *Recorder) Close() {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		close(r.quit)
		<-r.done
	})
}

func (r *Recorder) loop() {
	defer close(r.done)
	batch := make([]*recordReq, 0, maxRecordBatch)
	for {
		batch = batch[:0]
		select {
		case req := <-r.reqs:
			batch = append(batch, req)
		case <-r.quit:
			// Senders stopped at close; write what they queued.
			for {
				select {
				case req := <-r.reqs:
					r.write([]*recordReq{req})
				default:
					return
				}
			}
		}
	collect:
		for len(batch) < maxRecordBatch {
			select {
			case req := <-r.reqs:
				batch = append(batch, req)
			default:
				break collect
			}
		}
		r.write(batch)
	}
}

func (r *Recorder) write(batch []*recordReq) {
	events := make([]Event, len(batch))
	for i, req := range batch {
		events[i] = req.e
	}
	var seqs []int64
	err := r.db.WriteWith(context.Background(), r.dur, func(tx *sqlstore.Tx) error {
		var err error
		seqs, err = r.log.AppendAll(context.Background(), tx, events)
		return err
	})
	for i, req := range batch {
		if err != nil {
			req.err = err
		} else {
			req.seq = seqs[i]
		}
		close(req.done)
	}
}
