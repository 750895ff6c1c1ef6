package codec

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// TokensFileName is the bearer token file's name in the keys folder.
const TokensFileName = "codec-tokens"

// tokenPrefix marks our tokens, so a leaked one is recognisable.
const tokenPrefix = "eoc_"

var tokenNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,39}$`)

// Tokens are the bearer tokens that let tools (the temporal CLI with
// --codec-auth) use the codec server. The file holds only each token's
// SHA-256, one per line: "<name> sha256:<hex> <created RFC 3339>". Valid
// re-reads the file when it changes, so a token added or revoked with
// "orchestrator codec token" takes effect without a restart.
type Tokens struct {
	path string

	mu     sync.Mutex
	mod    time.Time
	size   int64
	hashes [][]byte
	err    error
}

// OpenTokens returns the token file at path; a missing file has no tokens.
func OpenTokens(path string) *Tokens { return &Tokens{path: path} }

// Valid reports whether token is one of the file's, comparing hashes in
// constant time.
func (t *Tokens) Valid(token string) bool {
	if t == nil || !strings.HasPrefix(token, tokenPrefix) || len(token) > 200 {
		return false
	}
	hashes := t.current()
	sum := sha256.Sum256([]byte(token))
	ok := 0
	for _, h := range hashes {
		ok |= subtle.ConstantTimeCompare(h, sum[:])
	}
	return ok == 1
}

// current returns the hashes, re-read if the file changed since.
func (t *Tokens) current() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	fi, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		t.hashes, t.mod, t.size = nil, time.Time{}, 0
		return nil
	}
	if err != nil || (fi.ModTime().Equal(t.mod) && fi.Size() == t.size && t.err == nil) {
		return t.hashes
	}
	entries, err := readTokens(t.path)
	t.err = err
	if err != nil {
		// A broken file admits nobody rather than an old list.
		t.hashes = nil
		return nil
	}
	t.mod, t.size = fi.ModTime(), fi.Size()
	// A new slice: callers may still be reading the old one.
	hashes := make([][]byte, 0, len(entries))
	for _, e := range entries {
		hashes = append(hashes, e.hash)
	}
	t.hashes = hashes
	return hashes
}

// TokenEntry is one line of the token file.
type TokenEntry struct {
	Name    string
	Created time.Time
	hash    []byte
}

func readTokens(path string) ([]TokenEntry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("codec tokens: %w", err)
	}
	var out []TokenEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 3 || !strings.HasPrefix(f[1], "sha256:") {
			return nil, fmt.Errorf("%s:%d: want \"<name> sha256:<hex> <created>\"", path, line)
		}
		h, err := hex.DecodeString(strings.TrimPrefix(f[1], "sha256:"))
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("%s:%d: token %q: not a SHA-256 in hex", path, line, f[0])
		}
		created, err := time.Parse(time.RFC3339, f[2])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: token %q: created %q is not RFC 3339", path, line, f[0], f[2])
		}
		out = append(out, TokenEntry{Name: f[0], Created: created, hash: h})
	}
	return out, sc.Err()
}

// ListTokens returns the names and creation times in the token file.
func ListTokens(path string) ([]TokenEntry, error) { return readTokens(path) }

const tokensHeader = `# Bearer tokens for the codec server (orchestrator codec token); only
# their SHA-256 is kept. One per line: <name> sha256:<hex> <created>.
`

// AddToken creates a token named name, stores its hash in the file at path
// and returns the token: the only time it is shown.
func AddToken(path, name string, now time.Time) (string, error) {
	if !tokenNameRE.MatchString(name) {
		return "", fmt.Errorf("token name %q must be 1-40 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", name)
	}
	entries, err := readTokens(path)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Name == name {
			return "", fmt.Errorf("a codec token named %q exists; revoke it first (orchestrator codec token revoke %s)", name, name)
		}
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(secret)
	sum := sha256.Sum256([]byte(token))
	entries = append(entries, TokenEntry{Name: name, Created: now.UTC(), hash: sum[:]})
	return token, writeTokens(path, entries)
}

// RevokeToken removes the token named name from the file at path.
func RevokeToken(path, name string) error {
	entries, err := readTokens(path)
	if err != nil {
		return err
	}
	kept := entries[:0]
	found := false
	for _, e := range entries {
		if e.Name == name {
			found = true
			continue
		}
		kept = append(kept, e)
	}
	if !found {
		return fmt.Errorf("no codec token named %q in %s", name, path)
	}
	return writeTokens(path, kept)
}

func writeTokens(path string, entries []TokenEntry) error {
	var b bytes.Buffer
	b.WriteString(tokensHeader)
	for _, e := range entries {
		fmt.Fprintf(&b, "%s sha256:%s %s\n", e.Name, hex.EncodeToString(e.hash), e.Created.UTC().Format(time.RFC3339))
	}
	return replace(path, b.Bytes())
}
