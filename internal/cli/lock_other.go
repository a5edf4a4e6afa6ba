//go:build !unix

package cli

import "errors"

// lockDatabase is not available here: the server runs without the
// in-memory views that need it (every consent check reads the database).
func lockDatabase(string) (func(), error) {
	return nil, errors.ErrUnsupported
}
