package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// requireToken passes to next only requests with one of tokens as their bearer token,
// and answers 401 to the others; with no tokens, it is next.
func requireToken(tokens []string, next http.Handler) http.Handler {
	if len(tokens) == 0 {
		return next
	}
	// Comparing digests takes the same time whatever the lengths, and every token is
	// compared, so the answer's timing tells nothing about any of them.
	digests := make([][sha256.Size]byte, len(tokens))
	for i, t := range tokens {
		digests[i] = sha256.Sum256([]byte(t))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(given))
		match := 0
		for i := range digests {
			match |= subtle.ConstantTimeCompare(got[:], digests[i][:])
		}
		if !ok || given == "" || match != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="orderflow"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
		next.ServeHTTP(w, r)
	})
}
