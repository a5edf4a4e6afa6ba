//go:build unix

package keys

// File modes are Unix permission bits: these tests only mean something
// where the system enforces them.

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateMasterFileThenLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "master.key")

	if err := CreateMasterFile(path); err != nil {
		t.Fatalf("CreateMasterFile: %v", err)
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode = %04o, want 0600", got)
	}
	dirInfo, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := dirInfo.Mode().Perm(); got != 0o700 {
		t.Errorf("directory mode = %04o, want 0700", got)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) != 3 || lines[0] != "gdprd-master-key-v1" || lines[2] != "" {
		t.Fatalf("unexpected file layout: %d lines", len(lines))
	}
	key, err := base64.StdEncoding.DecodeString(lines[1])
	if err != nil || len(key) != KeySize {
		t.Fatalf("second line: %d bytes, err %v; want %d bytes of base64", len(key), err, KeySize)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file (temporary file left behind?)", len(entries))
	}

	k1, err := LoadMaster(path)
	if err != nil {
		t.Fatalf("LoadMaster: %v", err)
	}
	k2, err := LoadMaster(path)
	if err != nil {
		t.Fatalf("LoadMaster again: %v", err)
	}
	want, _ := NewKeyring(key)
	if !bytes.Equal(k1.BlindIndex("email", "a@b.c"), want.BlindIndex("email", "a@b.c")) ||
		!bytes.Equal(k1.BlindIndex("email", "a@b.c"), k2.BlindIndex("email", "a@b.c")) {
		t.Error("keyrings loaded from the same file derive different keys")
	}
}

func TestLoadMasterPermissions(t *testing.T) {
	tests := []struct {
		mode    fs.FileMode
		wantErr bool
	}{
		{0o600, false},
		{0o400, false},
		{0o644, true},
		{0o640, true},
		{0o604, true},
		{0o660, true},
		{0o700, true},
		{0o666, true},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			if err := CreateMasterFile(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadMaster(path)
			if tt.wantErr && !errors.Is(err, ErrMasterPermissions) {
				t.Errorf("error = %v, want ErrMasterPermissions", err)
			}
			if !tt.wantErr && err != nil {
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
}
