package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/execution-orchestrator/orchestrator/proof"
)

// Key files in the keys folder: audit.key is the checkpoint signing key
// (PEM PKCS#8, mode 0600, as proof.WritePrivateKeyFile writes it);
// audit.pub and audit-*.pub (rotated keys) hold public keys as lines
//
//	# audit-checkpoint-key ed25519:<base64>
//
// Every line starts with '#' on purpose: proof.LoadTrustDir reads all
// *.pub files of the same folder as approval trust, and must neither trust
// a checkpoint key for approvals nor fail on a line it does not know.
const (
	KeyFile       = "audit.key"
	PublicKeyFile = "audit.pub"
	pubKeyTag     = "audit-checkpoint-key"
)

// EnsureKey loads <keysDir>/audit.key, creating it (and the folder) on
// first use, and (re)writes <keysDir>/audit.pub with its public half.
// Processes starting together agree on one key: the file is created
// exclusively and whoever loses the race reads the winner's.
func EnsureKey(keysDir string) (ed25519.PrivateKey, error) {
	if err := os.MkdirAll(keysDir, 0o700); err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	path := filepath.Join(keysDir, KeyFile)
	priv, err := loadPrivateKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, fresh, gerr := proof.GenerateKey()
		if gerr != nil {
			return nil, gerr
		}
		if werr := proof.WritePrivateKeyFile(path, fresh); werr != nil && !errors.Is(werr, fs.ErrExist) {
			return nil, fmt.Errorf("audit key: %w", werr)
		}
		priv, err = loadPrivateKey(path)
	}
	if err != nil {
		return nil, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	text := fmt.Sprintf("# audit ledger checkpoint key %s, written by audit.EnsureKey; not an approval key.\n# %s %s\n",
		proof.KeyID(pub), pubKeyTag, proof.EncodePublicKey(pub))
	if err := writePublicKeyFile(filepath.Join(keysDir, PublicKeyFile), text); err != nil {
		return nil, err
	}
	return priv, nil
}

// writePublicKeyFile replaces path with text through a temporary file of
// its own: processes starting together each rename a whole file (a shared
// temporary name would let one rename another's half-written file, and
// fail the other's rename).
func writePublicKeyFile(path, text string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

func loadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("audit key %s: not a PEM \"PRIVATE KEY\"", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("audit key %s: %T is not an Ed25519 key", path, key)
	}
	return priv, nil
}

// LoadPublicKeys reads the trusted checkpoint keys: audit.pub and every
// audit-*.pub (keys rotated out, whose checkpoints still verify) in
// keysDir. A folder without them yields none, not an error.
func LoadPublicKeys(keysDir string) ([]ed25519.PublicKey, error) {
	paths, err := filepath.Glob(filepath.Join(keysDir, "audit-*.pub"))
	if err != nil {
		return nil, fmt.Errorf("audit public keys: %w", err)
	}
	paths = append(paths, filepath.Join(keysDir, PublicKeyFile))
	slices.Sort(paths)
	var out []ed25519.PublicKey
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("audit public keys: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for n := 1; sc.Scan(); n++ {
			f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "#"))
			if len(f) < 2 || f[0] != pubKeyTag {
				continue // commentary
			}
			pub, err := proof.ParsePublicKey(f[1])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			if !slices.ContainsFunc(out, func(k ed25519.PublicKey) bool { return k.Equal(pub) }) {
				out = append(out, pub)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return out, nil
}
