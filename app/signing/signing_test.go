package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	secretA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	secretB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestSign_then_verify_and_every_tamper_is_refused(t *testing.T) {
	t.Parallel()
	keys, err := Parse([]byte("# current first\nk2:" + secretB + "\n\nk1:" + secretA + "\n"))
	require.NoError(t, err)
	body := []byte(`{"order_id":"o1"}`)
	sig, keyID := keys.Sign("payment.captured", "m1", body)
	assert.Equal(t, "k2", keyID, "the first key signs")
	require.NoError(t, keys.Verify("payment.captured", "m1", body, sig, keyID))

	assert.ErrorIs(t, keys.Verify("inventory.rejected", "m1", body, sig, keyID), ErrMismatch, "another routing key")
	assert.ErrorIs(t, keys.Verify("payment.captured", "m2", body, sig, keyID), ErrMismatch, "another id")
	assert.ErrorIs(t, keys.Verify("payment.captured", "m1", []byte(`{"order_id":"o2"}`), sig, keyID), ErrMismatch, "another body")
	assert.ErrorIs(t, keys.Verify("payment.captured", "m1", body, sig, "k1"), ErrMismatch, "another key's id")
	assert.ErrorIs(t, keys.Verify("payment.captured", "m1", body, "zz", keyID), ErrMismatch, "not hex")
	assert.ErrorIs(t, keys.Verify("payment.captured", "m1", body, "", keyID), ErrMissing)
	assert.ErrorIs(t, keys.Verify("payment.captured", "m1", body, sig, "k9"), ErrUnknownKey)
	for _, err := range []error{ErrMissing, ErrUnknownKey, ErrMismatch} {
		assert.True(t, strings.HasPrefix(err.Error(), "signature"), err.Error())
	}
}

// The signature is what README ("Signed events") specifies, whoever computes it, and
// reused HMACs carry nothing from one message into the next, under concurrency too.
func TestSign_is_the_specified_HMAC_for_every_message_when_signing_concurrently(t *testing.T) {
	t.Parallel()
	keys, err := Parse([]byte("k1:" + secretA))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprintf("m-%d-%d", g, i)
				body := []byte(strings.Repeat("x", i))
				want := hmac.New(sha256.New, []byte(secretA))
				want.Write([]byte("order.placed\n" + id + "\n"))
				want.Write(body)
				sig, keyID := keys.Sign("order.placed", id, body)
				assert.Equal(t, hex.EncodeToString(want.Sum(nil)), sig, id)
				assert.NoError(t, keys.Verify("order.placed", id, body, sig, keyID), id)
			}
		})
	}
	wg.Wait()
}

func TestVerify_a_retired_key_still_verifies_while_listed(t *testing.T) {
	t.Parallel()
	before, err := Parse([]byte("k1:" + secretA))
	require.NoError(t, err)
	sig, keyID := before.Sign("order.cancelled", "m1", []byte("{}"))

	during, err := Parse([]byte("k2:" + secretB + "\nk1:" + secretA))
	require.NoError(t, err)
	assert.NoError(t, during.Verify("order.cancelled", "m1", []byte("{}"), sig, keyID), "rotation: the old key verifies")

	after, err := Parse([]byte("k2:" + secretB))
	require.NoError(t, err)
	assert.ErrorIs(t, after.Verify("order.cancelled", "m1", []byte("{}"), sig, keyID), ErrUnknownKey, "a removed key no longer does")
}

func TestVerify_refuses_fields_that_could_be_resplit(t *testing.T) {
	t.Parallel()
	keys := Random()
	sig, keyID := keys.Sign("order.placed", "m1", []byte("a\nb"))
	assert.ErrorIs(t, keys.Verify("order.placed", "m1\na", []byte("b"), sig, keyID), ErrMismatch)
}

func TestParse_errors_name_the_line_never_the_secret(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]string{
		"":                                  "no signing keys",
		"k1 " + secretA:                     "line 1: want key_id:secret",
		"k1:short-secret-1":                 "key k1: secret is 14 bytes, must be 32 or more",
		"k1:" + secretA + "\nk1:" + secretB: "key k1: listed twice",
		"bad id!:" + secretA:                `key 1: key id "bad id!" may hold only letters, digits, '-', '_' and '.'`,
	} {
		_, err := Parse([]byte(text))
		require.Error(t, err, text)
		assert.Equal(t, want, err.Error())
		assert.NotContains(t, err.Error(), "short-secret", "a secret never appears in an error")
	}
}

func TestNil_keys_sign_nothing_and_derive_the_same_everywhere(t *testing.T) {
	t.Parallel()
	var keys *Keys
	sig, keyID := keys.Sign("order.placed", "m1", nil)
	assert.Empty(t, sig)
	assert.Empty(t, keyID)
	assert.Equal(t, keys.Derive("order-id"), (*Keys)(nil).Derive("order-id"))
	assert.NotEqual(t, Random().Derive("order-id"), Random().Derive("order-id"), "random keys derive their own")
}
