package ui

import (
	"io/fs"
	"testing/fstest"
)

// fstestFS builds an in-memory file system of name → content.
func fstestFS(files map[string]string) fs.FS {
	m := fstest.MapFS{}
	for name, body := range files {
		m[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return m
}
