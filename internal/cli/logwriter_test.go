package cli

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestBufferedLogFlushes(t *testing.T) {
	var out lockedBuffer
	b := newBufferedLog(&out)
	b.Write([]byte("first\n"))
	if out.String() != "" {
		t.Fatal("a line was written through at once: the buffer does nothing")
	}
	deadline := time.Now().Add(20 * logFlushInterval)
	for !strings.Contains(out.String(), "first") {
		if time.Now().After(deadline) {
			t.Fatal("a buffered line did not reach the output within 20 flush intervals")
		}
		time.Sleep(logFlushInterval / 4)
	}
	b.Write([]byte("last\n"))
	b.Close()
	if got := out.String(); got != "first\nlast\n" {
		t.Fatalf("after Close the output is %q", got)
	}
}
