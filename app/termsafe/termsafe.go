// Package termsafe escapes what a message carries before it reaches an operator's
// terminal. Anyone who can publish to the broker chooses a poisoned message's id, headers
// and reason; printed raw, an ESC or CSI in them could move the cursor, rewrite lines
// already shown or retitle the window.
package termsafe

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Escape returns s with every character that is not printable written as a Go escape,
// as strconv.Quote does but without the quotes: C0 controls (\x1b, \r, \n, \t), DEL, C1
// controls (\u009b), format characters such as bidirectional overrides (\u202e), line
// and paragraph separators, and bytes that are not UTF-8 (\xff). A backslash is doubled,
// so an escape in the output always stands for an escaped character. Printable text,
// spaces and non-ASCII letters included, is left as it is.
func Escape(s string) string {
	if printable(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case strconv.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r) // '\x1b', '\u009b': strip the quotes
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

func printable(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\\' || (r == utf8.RuneError && size == 1) || !strconv.IsPrint(r) {
			return false
		}
		i += size
	}
	return true
}

// JSONWriter writes JSON to w with every character that is not printable inside its
// strings written as a \u escape. encoding/json and slog's JSON handler escape C0
// controls but pass DEL, C1 controls (U+009B is CSI to many terminals) and bidirectional
// overrides through as they are; the JSON read back is the same, only the bytes on the
// terminal change. Each Write must hold whole characters, as the writes of json.Encoder
// and slog.JSONHandler do (a value or a record at a time).
func JSONWriter(w io.Writer) io.Writer { return jsonWriter{w} }

type jsonWriter struct{ w io.Writer }

func (j jsonWriter) Write(p []byte) (int, error) {
	if safeJSON(p) {
		return j.w.Write(p)
	}
	out := make([]byte, 0, len(p)+16)
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if safeJSONRune(r, size) {
			out = append(out, p[i:i+size]...)
		} else {
			// A byte that is not UTF-8 decodes as U+FFFD, which encoding/json makes of it too.
			out = appendUnicodeEscape(out, r)
		}
		i += size
	}
	if _, err := j.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func safeJSON(p []byte) bool {
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if !safeJSONRune(r, size) {
			return false
		}
		i += size
	}
	return true
}

// safeJSONRune reports whether r, of size bytes, can stay as it is in encoded JSON. ASCII
// other than DEL is printable or escaped by the encoder already, but for the newlines and
// indentation between values.
func safeJSONRune(r rune, size int) bool {
	if r < utf8.RuneSelf {
		return r != 0x7f
	}
	return !(r == utf8.RuneError && size == 1) && strconv.IsPrint(r)
}

// appendUnicodeEscape appends r as JSON's \uXXXX, as a surrogate pair beyond the BMP.
func appendUnicodeEscape(out []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	units := []rune{r}
	if r > 0xffff {
		hi, lo := utf16.EncodeRune(r)
		units = []rune{hi, lo}
	}
	for _, u := range units {
		out = append(out, '\\', 'u', hex[u>>12&0xf], hex[u>>8&0xf], hex[u>>4&0xf], hex[u&0xf])
	}
	return out
}
