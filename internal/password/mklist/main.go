// Command mklist rebuilds data/breached.txt.gz from a raw list of
// passwords (one per line) on standard input; see data/PROVENANCE.md.
//
//	zcat passwords.txt.gz | go run ./internal/password/mklist > internal/password/data/breached.txt.gz
//
// It normalises each entry exactly as the checker normalises a candidate
// (password.Normalize), drops empty and over-long lines, sorts and removes
// duplicates, so the checker can binary-search the list.
package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"os"
	"slices"

	"github.com/gdprd/gdprd/internal/password"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	var list []string
	for in.Scan() {
		p := password.Normalize(in.Text())
		if p == "" || len([]rune(p)) > password.MaxLength {
			continue
		}
		list = append(list, p)
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "mklist:", err)
		os.Exit(1)
	}
	slices.Sort(list)
	list = slices.Compact(list)
	zw, _ := gzip.NewWriterLevel(os.Stdout, gzip.BestCompression)
	w := bufio.NewWriter(zw)
	for _, p := range list {
		w.WriteString(p)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "mklist:", err)
		os.Exit(1)
	}
	if err := zw.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "mklist:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "mklist: %d passwords\n", len(list))
}
