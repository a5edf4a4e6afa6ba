package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// Flatten calls fn for every leaf of the JSON value raw, in document order,
// with its dotted path ("address.city", "tags.0") and its value as text:
// strings as they are, numbers as written, true/false, and "" for null.
// An empty object or array is a leaf with the value "{}" or "[]", so no
// stored field disappears from the CSV. It decodes token by token, without
// building the value in memory.
func Flatten(raw []byte, fn func(field, value string) error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("flatten: %w", err)
	}
	if err := walk(dec, tok, "", fn); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("flatten: trailing data")
	}
	return nil
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// walk consumes the value that starts with tok.
func walk(dec *json.Decoder, tok json.Token, path string, fn func(field, value string) error) error {
	switch t := tok.(type) {
	case json.Delim:
		empty := true
		for i := 0; dec.More(); i++ {
			empty = false
			var name string
			if t == '{' {
				k, err := dec.Token()
				if err != nil {
					return fmt.Errorf("flatten: %w", err)
				}
				name = k.(string)
			} else {
				name = strconv.Itoa(i)
			}
			next, err := dec.Token()
			if err != nil {
				return fmt.Errorf("flatten: %w", err)
			}
			if err := walk(dec, next, join(path, name), fn); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return fmt.Errorf("flatten: %w", err)
		}
		if empty && path != "" {
			if t == '{' {
				return fn(path, "{}")
			}
			return fn(path, "[]")
		}
		return nil
	case string:
		return fn(path, t)
	case json.Number:
		return fn(path, t.String())
	case bool:
		return fn(path, strconv.FormatBool(t))
	case nil:
		return fn(path, "")
	}
	return fmt.Errorf("flatten: unexpected token %v", tok)
}
