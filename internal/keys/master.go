package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// masterHeader is the first line of a master key file. It makes the file
// recognisable and lets a future format be told apart.
const masterHeader = "gdprd-master-key-v1"

// maxMasterFileSize bounds how much LoadMaster reads; a real file is 64 bytes.
const maxMasterFileSize = 1024

// ErrMasterFormat is returned by LoadMaster when the file is not a valid
// master key file.
var ErrMasterFormat = errors.New("keys: malformed master key file")

// ErrMasterPermissions is returned by LoadMaster when group or other users
// could read the file, or it is executable.
var ErrMasterPermissions = errors.New("keys: master key file permissions too open (want 0600 or stricter)")

// CreateMasterFile writes a new random master key to path, for
// "gdprd keys init". The file has two lines, masterHeader and the key in
// standard base64, and mode 0600; missing parent directories are created with
// mode 0700.
//
// It never overwrites: if path exists the error wraps fs.ErrExist, because
// replacing a master key makes every wrapped key, and so all personal data,
// unreadable. The key is written to a temporary file, synced, then linked
// into place, so a crash never leaves a partial key file behind.
func CreateMasterFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keys: create master key directory: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("keys: master key file %s: %w", path, fs.ErrExist)
	}

	key := make([]byte, KeySize)
	rand.Read(key)
	defer clear(key)
	content := []byte(masterHeader + "\n" + base64.StdEncoding.EncodeToString(key) + "\n")
	defer clear(content)

	tmp, err := os.CreateTemp(dir, ".gdprd-master-key-*.tmp")
	if err != nil {
		return fmt.Errorf("keys: create master key: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a successful link this only drops the temporary name

	if err := writeAndSync(tmp, content); err != nil {
		return fmt.Errorf("keys: write master key: %w", err)
	}
	if err := placeNoReplace(tmpName, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// writeAndSync writes content, forces it to disk and closes f.
func writeAndSync(f *os.File, content []byte) error {
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// placeNoReplace gives the temporary file its final name without ever
// replacing an existing file. A hard link fails atomically if the target
// exists, unlike rename, which would silently replace a key created by a
// concurrent "keys init". File systems without hard links fall back to a
// check followed by rename.
func placeNoReplace(tmpName, path string) error {
	err := os.Link(tmpName, path)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keys: master key file %s: %w", path, fs.ErrExist)
	}
	if _, statErr := os.Lstat(path); statErr == nil {
		return fmt.Errorf("keys: master key file %s: %w", path, fs.ErrExist)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("keys: install master key: %w", err)
	}
	return nil
}

// syncDir makes the new directory entry durable. It is best effort: some
// platforms cannot sync directories, and the key file itself is already on
// disk.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// LoadMaster reads a master key file written by CreateMasterFile and derives
// a Keyring from it.
//
// A missing file gives an error wrapping fs.ErrNotExist, so the CLI can tell
// the operator to run "gdprd keys init". A file readable by group or others
// gives ErrMasterPermissions: the key must not be exposed, and refusing to
// start is the only way to make that noticed. Anything else that does not
// parse gives ErrMasterFormat. Errors never contain the key.
func LoadMaster(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: open master key file: %w", err)
	}
	defer f.Close()

	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: stat master key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrMasterFormat, path)
	}
	// Windows has no Unix permission bits; os reports 0666 or 0444 there.
	if runtime.GOOS != "windows" && info.Mode().Perm()&^0o600 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o", ErrMasterPermissions, path, info.Mode().Perm())
	}

	data, err := io.ReadAll(io.LimitReader(f, maxMasterFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keys: read master key file: %w", err)
	}
	defer clear(data)
	if len(data) > maxMasterFileSize {
		return nil, fmt.Errorf("%w: %s is too large", ErrMasterFormat, path)
	}
	key, err := parseMaster(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrMasterFormat, path, err)
	}
	defer clear(key)
	return NewKeyring(key)
}

// parseMaster accepts exactly the header line and one base64 line, with an
// optional final newline. Being strict catches truncated or hand-edited
// files before they are used to derive wrong keys.
func parseMaster(data []byte) ([]byte, error) {
	data = bytes.TrimSuffix(data, []byte("\n"))
	header, encoded, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return nil, errors.New("expected two lines")
	}
	if string(header) != masterHeader {
		return nil, fmt.Errorf("first line is not %q", masterHeader)
	}
	if bytes.ContainsAny(encoded, "\n\r") {
		return nil, errors.New("expected two lines")
	}
	key := make([]byte, base64.StdEncoding.DecodedLen(len(encoded)))
	n, err := base64.StdEncoding.Strict().Decode(key, encoded)
	if err != nil {
		clear(key)
		return nil, errors.New("second line is not standard base64")
	}
	if n != KeySize {
		clear(key)
		return nil, fmt.Errorf("key is %d bytes, want %d", n, KeySize)
	}
	return key[:n], nil
}
