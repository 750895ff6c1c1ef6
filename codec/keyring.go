// Package codec encrypts the payloads ExecutionOrchestrator sends through
// Temporal: workflow and activity inputs and results, signals, updates,
// queries, memos, summaries and failure messages. Temporal's history then
// holds ciphertext; the worker, the command line, the web app and the agent
// gateway decrypt with the same keyring, and the codec server (NewHandler,
// served by the web app) decrypts for the Temporal UI after authenticating
// the person asking. See docs/codec.md.
//
// A payload is sealed with AES-256-GCM under the keyring's active key; its
// key id is in the payload's metadata and is authenticated with it. Every
// key of the keyring decrypts, so a key is rotated by adding a new one as
// active (Rotate) and retired only once no history still needs it.
package codec

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// FileName is the keyring's file name in the keys folder.
const FileName = "codec.keys"

var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Keyring holds the keys that seal and open payloads: the active one
// encrypts, all of them decrypt. It is immutable and safe for concurrent use.
type Keyring struct {
	ids  []string // in file order; ids[0] is active
	aead map[string]cipher.AEAD
	raw  map[string][]byte
}

// NewKeyring builds a keyring from ids and 32-byte keys; the first is
// active. It copies the keys.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("codec: a keyring needs at least one key")
	}
	k := &Keyring{aead: map[string]cipher.AEAD{}, raw: map[string][]byte{}}
	for _, key := range keys {
		if !keyIDRE.MatchString(key.ID) {
			return nil, fmt.Errorf("codec: key id %q must be 1-64 of A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit", key.ID)
		}
		if _, dup := k.aead[key.ID]; dup {
			return nil, fmt.Errorf("codec: key id %q appears twice", key.ID)
		}
		if len(key.Secret) != KeySize {
			return nil, fmt.Errorf("codec: key %q is %d bytes, want %d (AES-256)", key.ID, len(key.Secret), KeySize)
		}
		block, err := aes.NewCipher(key.Secret)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", key.ID, err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", key.ID, err)
		}
		k.ids = append(k.ids, key.ID)
		k.aead[key.ID] = gcm
		k.raw[key.ID] = slices.Clone(key.Secret)
	}
	return k, nil
}

// Key is one key of a keyring.
type Key struct {
	ID     string
	Secret []byte // KeySize bytes
}

// NewKey returns a fresh random key with a short random id ("k" + 8 hex).
func NewKey() (Key, error) {
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("codec: random key: %w", err)
	}
	id := make([]byte, 4)
	if _, err := rand.Read(id); err != nil {
		return Key{}, fmt.Errorf("codec: random key id: %w", err)
	}
	return Key{ID: "k" + hex.EncodeToString(id), Secret: secret}, nil
}

// Generate returns a keyring of one fresh key (tests, and Ensure).
func Generate() (*Keyring, error) {
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	return NewKeyring(key)
}

// ActiveID is the id of the key new payloads are sealed with.
func (k *Keyring) ActiveID() string { return k.ids[0] }

// IDs lists every key id, the active one first.
func (k *Keyring) IDs() []string { return slices.Clone(k.ids) }

// Has reports whether the keyring holds a key with this id.
func (k *Keyring) Has(id string) bool { _, ok := k.aead[id]; return ok }

func (k *Keyring) cipher(id string) (cipher.AEAD, bool) { c, ok := k.aead[id]; return c, ok }

// fileHeader starts every keyring file the commands write.
const fileHeader = `# ExecutionOrchestrator payload encryption keys (AES-256-GCM); see docs/codec.md.
# One key per line: <id> <base64 of 32 bytes>. The FIRST key encrypts new
# payloads; every key decrypts. Rotate with "orchestrator codec rotate"; remove
# a key only when no workflow history still needs it. Keep this file secret
# (mode 0600) and back it up: without it, histories cannot be read.
`

// Marshal renders the keyring in the file format Parse reads.
func (k *Keyring) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(fileHeader)
	for _, id := range k.ids {
		fmt.Fprintf(&b, "%s %s\n", id, base64.StdEncoding.EncodeToString(k.raw[id]))
	}
	return b.Bytes()
}

// Parse reads a keyring file's content: one key per line, "<id> <base64
// key>", the first line the active key; blank lines and lines starting with
// '#' are ignored. name (the file) prefixes every error, with the line.
func Parse(name string, data []byte) (*Keyring, error) {
	var keys []Key
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"<key id> <base64 key>\", found %d fields", name, line, len(fields))
		}
		id := fields[0]
		if !keyIDRE.MatchString(id) {
			return nil, fmt.Errorf("%s:%d: key id %q must be 1-64 of A-Z, a-z, 0-9, '.', '_' and '-'", name, line, id)
		}
		if first, dup := seen[id]; dup {
			return nil, fmt.Errorf("%s:%d: key id %q already on line %d", name, line, id, first)
		}
		seen[id] = line
		secret, err := base64.StdEncoding.DecodeString(fields[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: key %q is not base64", name, line, id)
		}
		if len(secret) != KeySize {
			return nil, fmt.Errorf("%s:%d: key %q is %d bytes, want %d (AES-256)", name, line, id, len(secret), KeySize)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no keys (create one with \"orchestrator codec keygen\")", name)
	}
	return NewKeyring(keys...)
}

// Load reads the keyring file at path.
func Load(path string) (*Keyring, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("codec keyring %s does not exist: create it with \"orchestrator codec keygen --codec-keys %s\" (the worker and \"orchestrator dev\" create it on their first start), or point --codec-keys / ORCH_CODEC_KEYS at the keyring the worker uses", path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("codec keyring: %w", err)
	}
	return Parse(path, data)
}

// Create writes a new keyring of one fresh key at path and fails if the
// file exists. The file is written whole (mode 0600) before it appears.
func Create(path string) (*Keyring, error) {
	k, err := Generate()
	if err != nil {
		return nil, err
	}
	if err := writeNew(path, k.Marshal()); err != nil {
		return nil, err
	}
	return k, nil
}

// Ensure loads the keyring at path, creating it with one fresh key if it
// does not exist. Processes that start at the same time agree on one file.
func Ensure(path string) (*Keyring, error) {
	k, err := Create(path)
	if errors.Is(err, fs.ErrExist) {
		return Load(path)
	}
	return k, err
}

// Rotate adds a fresh key to the keyring at path as its active key; the
// others stay, so everything sealed before still opens. It returns the new
// keyring. Running processes pick the new key up when they restart.
func Rotate(path string) (*Keyring, error) {
	old, err := Load(path)
	if err != nil {
		return nil, err
	}
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	keys := []Key{key}
	for _, id := range old.ids {
		keys = append(keys, Key{ID: id, Secret: old.raw[id]})
	}
	k, err := NewKeyring(keys...)
	if err != nil {
		return nil, err
	}
	if err := replace(path, k.Marshal()); err != nil {
		return nil, err
	}
	return k, nil
}

// writeNew writes data to a temporary file beside path and links it to
// path, so path appears complete or not at all; fs.ErrExist if path exists.
func writeNew(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("codec: write %s: %w", path, err)
	}
	return nil
}

// replace swaps path's content for data atomically.
func replace(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("codec: write %s: %w", path, err)
	}
	return nil
}

func writeTemp(path string, data []byte) (string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("codec: create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("codec: write %s: %w", path, err)
	}
	name := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		return name, nil
	}
	os.Remove(name)
	return "", fmt.Errorf("codec: write %s: %w", path, err)
}
