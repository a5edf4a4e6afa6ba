//go:build unix

package cli

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDatabase takes an exclusive lock beside a SQLite database file for
// the life of the process, so that two `gdprd serve` never share one
// file. Holding it is what lets this process trust its in-memory views
// of the data (the consent decision cache): every write goes through it.
// The lock is released by the kernel when the process exits, also on a
// crash.
func lockDatabase(path string) (release func(), err error) {
	f, err := os.OpenFile(path+".serve.lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock database: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another gdprd serve is using %s: run one server per SQLite database (use PostgreSQL for several replicas)", path)
		}
		return nil, fmt.Errorf("lock database: %w", err)
	}
	return func() { f.Close() }, nil
}
