// Package signing signs the events Orderflow publishes and checks the events it consumes:
// an HMAC-SHA256 over the routing key, the message id and the body (README, "Signed
// events"). The first key signs and every key verifies, so keys rotate without downtime.
package signing

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"strings"
	"sync"
)

// MinSecretBytes is the shortest secret accepted: the HMAC-SHA256 block of security.
const MinSecretBytes = 32

// Key is one signing key.
type Key struct {
	ID     string
	secret []byte
}

// Keys sign with the first key and verify with all. A nil *Keys signs nothing and
// verifies nothing: the broker runs unsigned (signing.allow_unsigned).
type Keys struct {
	keys []Key
	byID map[string]*macs
}

// macs keeps HMACs of one secret for reuse: hmac.New hashes the padded key twice, which
// costs as much as the MAC of a whole event, and a Reset HMAC starts from that state.
type macs struct{ pool sync.Pool }

func newMACs(secret []byte) *macs {
	m := &macs{}
	m.pool.New = func() any { return hmac.New(sha256.New, secret) }
	return m
}

// sum is HMAC-SHA256(secret, routing key "\n" message id "\n" body).
func (m *macs) sum(routingKey, messageID string, body []byte) []byte {
	h := m.pool.Get().(hash.Hash)
	defer m.pool.Put(h)
	h.Reset()
	h.Write([]byte(routingKey))
	h.Write([]byte{'\n'})
	h.Write([]byte(messageID))
	h.Write([]byte{'\n'})
	h.Write(body)
	return h.Sum(nil)
}

// New returns keys from key_id:secret pairs, the first signing.
func New(keys ...Key) (*Keys, error) {
	if len(keys) == 0 {
		return nil, errors.New("no signing keys")
	}
	k := &Keys{keys: keys, byID: make(map[string]*macs, len(keys))}
	for i, key := range keys {
		if err := checkKeyID(key.ID); err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		if len(key.secret) < MinSecretBytes {
			return nil, fmt.Errorf("key %s: secret is %d bytes, must be %d or more", key.ID, len(key.secret), MinSecretBytes)
		}
		if _, dup := k.byID[key.ID]; dup {
			return nil, fmt.Errorf("key %s: listed twice", key.ID)
		}
		k.byID[key.ID] = newMACs(key.secret)
	}
	return k, nil
}

// NewKey returns a key from its id and secret.
func NewKey(id string, secret []byte) Key { return Key{ID: id, secret: secret} }

// Parse reads key_id:secret lines; blank lines and lines starting with # are skipped.
// Errors name the line, never the secret.
func Parse(data []byte) (*Keys, error) {
	var keys []Key
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, secret, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want key_id:secret", n)
		}
		keys = append(keys, Key{ID: strings.TrimSpace(id), secret: []byte(strings.TrimSpace(secret))})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return New(keys...)
}

// Load reads the key file at path.
func Load(path string) (*Keys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	keys, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("signing keys %s: %w", path, err)
	}
	return keys, nil
}

// Random returns one key of random bytes: for the embedded default, whose events never
// leave the process.
func Random() *Keys {
	secret := make([]byte, MinSecretBytes)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails (Go 1.24+)
	keys, _ := New(Key{ID: "embedded", secret: secret})
	return keys
}

func checkKeyID(id string) error {
	if id == "" || len(id) > 64 {
		return errors.New("key id must be 1-64 characters")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("key id %q may hold only letters, digits, '-', '_' and '.'", id)
		}
	}
	return nil
}

// Sign returns the signature of a message and the id of the key that made it; "" for
// both on nil keys.
func (k *Keys) Sign(routingKey, messageID string, body []byte) (signature, keyID string) {
	if k == nil {
		return "", ""
	}
	key := k.keys[0]
	return hex.EncodeToString(k.byID[key.ID].sum(routingKey, messageID, body)), key.ID
}

// The reasons a signature is refused; each starts with "signature", as the poison
// queue's reasons do (CONTRACT 7).
var (
	ErrMissing    = errors.New("signature missing")
	ErrUnknownKey = errors.New("signature key unknown")
	ErrMismatch   = errors.New("signature does not match the routing key, id and body")
)

// Verify checks signature, made by the key keyID, over the message.
func (k *Keys) Verify(routingKey, messageID string, body []byte, signature, keyID string) error {
	if signature == "" {
		return ErrMissing
	}
	keyMACs, ok := k.byID[keyID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownKey, truncate(keyID))
	}
	// The MAC separates its fields by newlines, so fields holding one could be
	// re-split into another message under the same MAC.
	if strings.ContainsRune(routingKey, '\n') || strings.ContainsRune(messageID, '\n') {
		return ErrMismatch
	}
	got, err := hex.DecodeString(signature)
	if err != nil || !hmac.Equal(got, keyMACs.sum(routingKey, messageID, body)) {
		return ErrMismatch
	}
	return nil
}

// Derive returns a secret for purpose, from the signing key: the same on every worker
// that shares the key file, and unknown to anyone without it. Nil keys derive a fixed
// value, so an unsigned broker still agrees across workers.
func (k *Keys) Derive(purpose string) []byte {
	var secret []byte
	if k != nil {
		secret = k.keys[0].secret
	}
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("orderflow derive\x00" + purpose))
	return h.Sum(nil)
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
