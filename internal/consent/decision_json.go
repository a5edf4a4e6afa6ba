package consent

import (
	"strconv"
	"time"
)

// AppendJSON appends d as the JSON object encoding/json would produce
// (same fields, order and omissions), without reflection: the consent
// check answers it on every call and is meant to run at the speed of the
// HTTP stack. TestDecisionAppendJSON keeps the two encodings equal.
func (d Decision) AppendJSON(b []byte) []byte {
	b = append(b, `{"allowed":`...)
	b = strconv.AppendBool(b, d.Allowed)
	if d.Basis != "" {
		b = append(b, `,"basis":`...)
		b = appendJSONString(b, string(d.Basis))
	}
	if d.Since != nil {
		b = append(b, `,"since":"`...)
		b = d.Since.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, string(d.Reason))
	if d.RecordID != "" {
		b = append(b, `,"record_id":`...)
		b = appendJSONString(b, d.RecordID)
	}
	return append(b, '}')
}

// appendJSONString quotes s as JSON does, escaping quotes, backslashes,
// control characters and the HTML-sensitive <, > and &.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
