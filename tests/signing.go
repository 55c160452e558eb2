package tests

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orderflow/orderflow/app/signing"
)

var signingKeys struct {
	once sync.Once
	path string
	err  error
}

// SigningKeysFile returns a key file shared by every worker and binary of this test
// process, so that the events one signs the others accept.
func SigningKeysFile(t testing.TB) string {
	t.Helper()
	signingKeys.once.Do(func() {
		secret := make([]byte, signing.MinSecretBytes)
		_, _ = rand.Read(secret)
		dir, err := os.MkdirTemp("", "orderflow-test-keys-")
		if err != nil {
			signingKeys.err = err
			return
		}
		signingKeys.path = filepath.Join(dir, "signing-keys")
		signingKeys.err = os.WriteFile(signingKeys.path, []byte("test-1:"+hex.EncodeToString(secret)+"\n"), 0o600)
	})
	require.NoError(t, signingKeys.err)
	return signingKeys.path
}

// SigningKeys returns the keys of SigningKeysFile.
func SigningKeys(t testing.TB) *signing.Keys {
	t.Helper()
	keys, err := signing.Load(SigningKeysFile(t))
	require.NoError(t, err)
	return keys
}
