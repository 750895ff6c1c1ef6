package proof

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// TrustedKey is one verifying key and what it may vouch for. It is plain data
// because Trust travels through Temporal history as an activity result.
type TrustedKey struct {
	KeyID   string   `json:"kid"`
	Public  string   `json:"publicKey"`         // EncodePublicKey form
	Issuer  string   `json:"issuer"`            // IssuerWeb, IssuerWorker, IssuerGateway or IssuerPerson
	Person  string   `json:"person,omitempty"`  // for IssuerPerson: the only subject this key may sign for
	Methods []string `json:"methods,omitempty"` // methods this issuer may claim; empty => DefaultMethods(Issuer)
}

// Trust is the set of keys a verifier accepts.
type Trust struct {
	Keys []TrustedKey `json:"keys"`
}

// DefaultMethods is what an issuer may claim when its TrustedKey lists none.
func DefaultMethods(issuer string) []string {
	switch issuer {
	case IssuerWeb:
		return []string{MethodOIDC, MethodLink, MethodChat}
	case IssuerWorker:
		return []string{MethodTOTP, MethodService}
	case IssuerPerson:
		return []string{MethodKey}
	case IssuerGateway:
		return []string{MethodAgentKey}
	}
	return nil
}

// Find returns the first key with id kid.
func (t Trust) Find(kid string) (TrustedKey, bool) {
	for _, k := range t.Keys {
		if k.KeyID == kid {
			return k, true
		}
	}
	return TrustedKey{}, false
}

// Merge returns t's keys followed by those of other whose id t does not
// already hold: the receiver wins, so a deployment's own configuration cannot
// be overridden by a merged-in source.
func (t Trust) Merge(other Trust) Trust {
	out := Trust{Keys: make([]TrustedKey, 0, len(t.Keys)+len(other.Keys))}
	seen := make(map[string]bool, len(t.Keys)+len(other.Keys))
	for _, src := range [][]TrustedKey{t.Keys, other.Keys} {
		for _, k := range src {
			if seen[k.KeyID] {
				continue
			}
			seen[k.KeyID] = true
			k.Methods = slices.Clone(k.Methods) // no aliasing between results
			out.Keys = append(out.Keys, k)
		}
	}
	return out
}

// NewTrustedKey builds a trust entry, checking issuer and person.
func NewTrustedKey(issuer, encodedPublic, person string) (TrustedKey, error) {
	pub, err := ParsePublicKey(encodedPublic)
	if err != nil {
		return TrustedKey{}, err
	}
	switch issuer {
	case IssuerPerson:
		if person == "" {
			return TrustedKey{}, fmt.Errorf("person: required for issuer %q", issuer)
		}
	case IssuerWeb, IssuerWorker, IssuerGateway:
		if person != "" {
			return TrustedKey{}, fmt.Errorf("person: only issuer %q keys name a person", IssuerPerson)
		}
	default:
		return TrustedKey{}, fmt.Errorf("issuer: unknown issuer %q (want %s, %s, %s or %s)", issuer, IssuerWeb, IssuerWorker, IssuerGateway, IssuerPerson)
	}
	return TrustedKey{KeyID: KeyID(pub), Public: EncodePublicKey(pub), Issuer: issuer, Person: person}, nil
}

// LoadTrustDir reads every *.pub file in dir (in name order). Each non-blank,
// non-# line is "<issuer> <encoded-public-key> [person] [methods=a,b]". Errors name the file
// and line. A key listed twice is an error: two entries for one key with
// different constraints would make its meaning depend on order.
func LoadTrustDir(dir string) (Trust, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.pub"))
	if err != nil {
		return Trust{}, fmt.Errorf("load trust dir %s: %w", dir, err)
	}
	if _, err := os.Stat(dir); err != nil {
		return Trust{}, fmt.Errorf("load trust dir: %w", err)
	}
	slices.Sort(paths)
	var t Trust
	where := map[string]string{}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return Trust{}, fmt.Errorf("load trust: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for line := 1; sc.Scan(); line++ {
			text := strings.TrimSpace(sc.Text())
			if text == "" || strings.HasPrefix(text, "#") {
				continue
			}
			loc := fmt.Sprintf("%s:%d", path, line)
			f := strings.Fields(text)
			// An optional last "methods=a,b" names the methods the key may
			// claim instead of its issuer's defaults.
			var methods []string
			if n := len(f); n > 2 && strings.HasPrefix(f[n-1], "methods=") {
				methods = strings.Split(strings.TrimPrefix(f[n-1], "methods="), ",")
				f = f[:n-1]
			}
			if len(f) < 2 || len(f) > 3 {
				return Trust{}, fmt.Errorf("%s: want \"<issuer> <public-key> [person] [methods=a,b]\", got %d fields", loc, len(f))
			}
			var person string
			if len(f) == 3 {
				person = f[2]
			}
			k, err := NewTrustedKey(f[0], f[1], person)
			if err != nil {
				return Trust{}, fmt.Errorf("%s: %w", loc, err)
			}
			k.Methods = methods
			if prev, dup := where[k.KeyID]; dup {
				return Trust{}, fmt.Errorf("%s: key %s already listed at %s", loc, k.KeyID, prev)
			}
			where[k.KeyID] = loc
			t.Keys = append(t.Keys, k)
		}
		if err := sc.Err(); err != nil {
			return Trust{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	return t, nil
}
