package proof

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnsureSigner loads <dir>/<name>.key, or creates it on first start, and
// (re)writes <dir>/<name>.pub naming it as a key of issuer, so the trust
// folder lists it for every verifier that reads dir. Only the public half
// ever leaves the file.
func EnsureSigner(dir, name, issuer string, methods ...string) (*Signer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keys dir %s: %w", dir, err)
	}
	keyPath := filepath.Join(dir, name+".key")
	s, err := LoadSigner(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, gerr := GenerateKey()
		if gerr != nil {
			return nil, gerr
		}
		if werr := WritePrivateKeyFile(keyPath, priv); werr != nil && !errors.Is(werr, fs.ErrExist) {
			return nil, werr
		}
		// Another process may have won the race to create it: read what is there.
		s, err = LoadSigner(keyPath)
	}
	if err != nil {
		return nil, err
	}
	line := fmt.Sprintf("# %s signing key (%s); written by EnsureSigner\n%s %s", name, s.KeyID(), issuer, EncodePublicKey(s.Public()))
	if len(methods) > 0 {
		line += " methods=" + strings.Join(methods, ",")
	}
	line += "\n"
	tmp := filepath.Join(dir, "."+name+".pub.tmp")
	if err := os.WriteFile(tmp, []byte(line), 0o644); err != nil {
		return nil, fmt.Errorf("write %s.pub: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name+".pub")); err != nil {
		return nil, fmt.Errorf("write %s.pub: %w", name, err)
	}
	return s, nil
}
