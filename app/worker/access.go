package worker

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/orderflow/orderflow/app/httpapi"
	"github.com/orderflow/orderflow/configs"
)

// minTokenLen keeps a token long enough not to be guessed.
const minTokenLen = 16

// NewAccess reads the token files of cfg: none named leaves that listener open.
func NewAccess(cfg *configs.Config) (httpapi.Access, error) {
	var access httpapi.Access
	var err error
	if cfg.HTTP.APITokensFile != "" {
		if access.APITokens, err = readTokens(cfg.HTTP.APITokensFile); err != nil {
			return httpapi.Access{}, fmt.Errorf("http.api_tokens_file (%s): %w", configs.EnvAPITokensFile, err)
		}
	}
	if cfg.HTTP.AdminTokenFile != "" {
		if access.AdminTokens, err = readTokens(cfg.HTTP.AdminTokenFile); err != nil {
			return httpapi.Access{}, fmt.Errorf("http.admin_token_file (%s): %w", configs.EnvAdminTokenFile, err)
		}
	}
	return access, nil
}

// readTokens reads one token a line; blank lines and lines starting with # are skipped.
// Errors name the line, never the token.
func readTokens(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tokens []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		token := strings.TrimSpace(sc.Text())
		if token == "" || strings.HasPrefix(token, "#") {
			continue
		}
		if len(token) < minTokenLen {
			return nil, fmt.Errorf("%s line %d: a token must be %d characters or more", path, n, minTokenLen)
		}
		tokens = append(tokens, token)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%s holds no token", path)
	}
	return tokens, nil
}
