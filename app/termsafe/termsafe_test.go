package termsafe_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/termsafe"
)

// hostile is what a producer might put in an id, a header or a body to rewrite the
// operator's screen: clear it, return to the start of the line, a C1 CSI, a bidirectional
// override, bytes that are not UTF-8, DEL, a character beyond the BMP that is not printable.
const hostile = "ok\x1b[2J\rfake\u009b31m\u202eevil\xff\xfe\x7f\U000e0001 é日本 \\x1b"

func TestEscape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		Name, In, Want string
	}{
		{"printable as it is", "ord-1 café 日本", "ord-1 café 日本"},
		{"empty", "", ""},
		{"ESC", "a\x1b[31mb", `a\x1b[31mb`},
		{"CR LF TAB NUL", "a\rb\nc\td\x00", `a\rb\nc\td\x00`},
		{"DEL", "a\x7f", `a\x7f`},
		{"C1 CSI", "a\u009b2J", `a\u009b2J`},
		{"bidi override", "a\u202eb", `a\u202eb`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"invalid UTF-8", "a\xff\xc3", `a\xff\xc3`},
		{"backslash", `a\x1b`, `a\\x1b`},
		{"beyond the BMP", "\U000e0001", `\U000e0001`},
	}
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.Want, termsafe.Escape(tt.In))
		})
	}
}

func TestEscape_reads_back_with_strconv_Unquote(t *testing.T) {
	t.Parallel()
	out := termsafe.Escape(hostile)
	assertTerminalSafe(t, out)
	back, err := strconv.Unquote(`"` + out + `"`)
	require.NoError(t, err)
	assert.Equal(t, hostile, back, "nothing is lost, only escaped")
}

func TestJSONWriter_keeps_the_JSON_and_escapes_the_rest(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	enc := json.NewEncoder(termsafe.JSONWriter(&buf))
	enc.SetIndent("", "  ")
	valid := "ok\x1b[2J\rfake\u009b31m\u202eevil\x7f\U000e0001 é日本"
	require.NoError(t, enc.Encode([]map[string]string{{"reason": valid}}))
	assertTerminalSafe(t, buf.String())
	var back []map[string]string
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	assert.Equal(t, valid, back[0]["reason"], "the JSON says what it said")
	assert.Contains(t, buf.String(), `\u009b`)
	assert.Contains(t, buf.String(), `\udb40\udc01`, "beyond the BMP, a surrogate pair")
}

func TestJSONWriter_under_slog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(termsafe.JSONWriter(&buf), nil))
	logger.Error("message poisoned", "reason", hostile, "message_id", "id\u009b")
	assertTerminalSafe(t, buf.String())
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	assert.Equal(t, "id\u009b", line["message_id"])
	assert.Equal(t, "message poisoned", line["msg"])
}

// assertTerminalSafe fails when s holds a byte a terminal could act on: a control
// character other than the newline between lines, DEL, a C1 control, a character that is
// not printable, or a byte that is not UTF-8.
func assertTerminalSafe(t *testing.T, s string) {
	t.Helper()
	for i, r := range s {
		if r == '\n' {
			continue
		}
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			t.Fatalf("raw %U at byte %d of %q", r, i, s)
		}
	}
}
