package proof

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const publicKeyPrefix = "ed25519:"

// GenerateKey returns a new Ed25519 key pair from crypto/rand.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return pub, priv, nil
}

// KeyID is "ed25519-" and the first 16 hex characters of sha256(pub). It is
// derived, not assigned, so a key has the same id everywhere it is listed and
// keys can rotate without coordination.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "ed25519-" + hex.EncodeToString(sum[:])[:16]
}

// EncodePublicKey returns "ed25519:" + standard base64 of pub.
func EncodePublicKey(pub ed25519.PublicKey) string {
	return publicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey parses the EncodePublicKey form.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(s, publicKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("publicKey: want prefix %q", publicKeyPrefix)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("publicKey: base64: %w", err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("publicKey: %d bytes, want %d", len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// WritePrivateKeyFile writes priv as a PEM "PRIVATE KEY" (PKCS#8) file with
// mode 0600. It refuses to overwrite an existing file (the error wraps
// fs.ErrExist): replacing a signing key by accident would silently orphan
// every trust entry for the old one. The file appears complete or not at all
// (written aside, then hard-linked into place), so a concurrent LoadSigner
// never reads half a key.
func WritePrivateKeyFile(path string, priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("write private key %s: %d bytes, want %d", path, len(priv), ed25519.PrivateKeySize)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("write private key %s: marshal: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("write private key %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("write private key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write private key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write private key %s: %w", path, err)
	}
	// Link, unlike rename, fails if path exists.
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("write private key: %w", err)
	}
	return nil
}

// Signer signs assertions with one Ed25519 key.
type Signer struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	kid  string
}

// NewSigner wraps priv; the key id is derived from its public half. A priv
// of the wrong size yields a Signer whose Sign always fails.
func NewSigner(priv ed25519.PrivateKey) *Signer {
	if len(priv) != ed25519.PrivateKeySize {
		return &Signer{}
	}
	pub := priv.Public().(ed25519.PublicKey)
	return &Signer{priv: priv, pub: pub, kid: KeyID(pub)}
}

// LoadSigner reads a key file written by WritePrivateKeyFile.
func LoadSigner(path string) (*Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("load signing key %s: no PEM block", path)
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("load signing key %s: PEM type %q, want \"PRIVATE KEY\"", path, block.Type)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load signing key %s: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("load signing key %s: %T is not an Ed25519 key", path, key)
	}
	return NewSigner(priv), nil
}

// KeyID returns the id verifiers look the key up by.
func (s *Signer) KeyID() string { return s.kid }

// Public returns the verifying key.
func (s *Signer) Public() ed25519.PublicKey { return s.pub }

// Sign sets a's Version and KeyID, fills an empty Nonce from crypto/rand,
// normalises times to UTC and returns the wire form. It refuses an assertion
// every verifier would refuse, naming the field. The caller sets IssuedAt and
// ExpiresAt: the signer has no clock of its own.
func (s *Signer) Sign(a Assertion) (string, error) {
	if s == nil || len(s.priv) != ed25519.PrivateKeySize {
		return "", errors.New("proof: sign: signer has no key")
	}
	a.Version = Version
	a.KeyID = s.kid
	a.IssuedAt = a.IssuedAt.UTC()
	a.ExpiresAt = a.ExpiresAt.UTC()
	if a.Nonce == "" {
		n, err := NewNonce()
		if err != nil {
			return "", err
		}
		a.Nonce = n
	}
	if err := validate(a); err != nil {
		return "", err
	}
	payload, err := canonical(a)
	if err != nil {
		return "", fmt.Errorf("proof: sign: %w", err)
	}
	signed := tokenPrefix + "." + b64.EncodeToString(payload)
	sig := ed25519.Sign(s.priv, []byte(signed))
	token := signed + "." + b64.EncodeToString(sig)
	if len(token) > MaxTokenLen {
		return "", fail("token", ErrMalformed, "%d bytes exceeds %d", len(token), MaxTokenLen)
	}
	return token, nil
}
