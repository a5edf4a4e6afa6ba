package keys

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

func TestCreateMasterFileTwiceGivesDifferentKeys(t *testing.T) {
	dir := t.TempDir()
	var keys [2][]byte
	for i := range keys {
		path := filepath.Join(dir, "k"+string(rune('0'+i)))
		if err := CreateMasterFile(path); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = data
	}
	if bytes.Equal(keys[0], keys[1]) {
		t.Error("two master key files have the same content")
	}
}

func TestCreateMasterFileRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if err := CreateMasterFile(path); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	err = CreateMasterFile(path)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second CreateMasterFile error = %v, want fs.ErrExist", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("existing master key file was modified")
	}
}

func TestPlaceNoReplaceRefusesExistingFile(t *testing.T) {
	// Covers the race where another process creates the key file after the
	// existence check: the final step must still refuse.
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	path := filepath.Join(dir, "master.key")
	if err := os.WriteFile(tmp, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := placeNoReplace(tmp, path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("placeNoReplace error = %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("existing file content = %q, want %q", got, "old")
	}
}

func TestLoadMasterMissingFile(t *testing.T) {
	_, err := LoadMaster(filepath.Join(t.TempDir(), "nope.key"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadMasterBadFormat(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(testMaster(7))
	tests := []struct {
		name    string
		content string
	}{
		{"empty", ""},
		{"header only", "gdprd-master-key-v1\n"},
		{"key only", good + "\n"},
		{"wrong header", "gdprd-master-key-v2\n" + good + "\n"},
		{"header with trailing space", "gdprd-master-key-v1 \n" + good + "\n"},
		{"CRLF line endings", "gdprd-master-key-v1\r\n" + good + "\r\n"},
		{"not base64", "gdprd-master-key-v1\n" + strings.Repeat("!", 44) + "\n"},
		{"base64url instead of std", "gdprd-master-key-v1\n" + strings.Repeat("_", 43) + "=\n"},
		{"truncated key", "gdprd-master-key-v1\n" + good[:40] + "\n"},
		{"16-byte key", "gdprd-master-key-v1\n" + base64.StdEncoding.EncodeToString(make([]byte, 16)) + "\n"},
		{"64-byte key", "gdprd-master-key-v1\n" + base64.StdEncoding.EncodeToString(make([]byte, 64)) + "\n"},
		{"extra line", "gdprd-master-key-v1\n" + good + "\n" + good + "\n"},
		{"blank line between", "gdprd-master-key-v1\n\n" + good + "\n"},
		{"huge file", "gdprd-master-key-v1\n" + strings.Repeat("A", 4096) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadMaster(path)
			if !errors.Is(err, ErrMasterFormat) {
				t.Fatalf("error = %v, want ErrMasterFormat", err)
			}
		})
	}
}

func TestLoadMasterAcceptsMissingFinalNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	content := "gdprd-master-key-v1\n" + base64.StdEncoding.EncodeToString(testMaster(7))
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadMaster(path)
	if err != nil {
		t.Fatalf("LoadMaster: %v", err)
	}
	want := newTestKeyring(t, 7)
	if !bytes.Equal(k.BlindIndex("email", "x"), want.BlindIndex("email", "x")) {
		t.Error("loaded keyring differs from NewKeyring with the same key")
	}
}

func TestLoadMasterErrorsDoNotLeakKey(t *testing.T) {
	key := testMaster(9)
	encoded := base64.StdEncoding.EncodeToString(key)
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, []byte("wrong-header\n"+encoded+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadMaster(path)
	if err == nil {
		t.Fatal("expected an error")
	}
	if strings.Contains(err.Error(), encoded) || strings.Contains(err.Error(), encoded[:16]) {
		t.Errorf("error message contains key material: %v", err)
	}
}

func TestNewKeyringRejectsWrongLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewKeyring(make([]byte, n)); err == nil {
			t.Errorf("NewKeyring accepted a %d-byte master key", n)
		}
	}
}
