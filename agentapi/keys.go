package agentapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/execution-orchestrator/orchestrator/internal/sqldb"
	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
)

// Scopes an agent key may carry. The set is closed: a key can do nothing
// but what these name, and none of them approves anything.
const (
	ScopePropose = "actions:propose"
	ScopeRead    = "actions:read"
	ScopeCancel  = "actions:cancel"
	// ScopeTasksCreate creates human tasks (work for people in the field);
	// ScopeTasksRead reads the agent's own tasks and their evidence.
	ScopeTasksCreate = "tasks:create"
	ScopeTasksRead   = "tasks:read"
	// ScopeEscalationsCreate (escalations.go) starts customer escalations.
)

// AllScopes lists every scope, in the order they are documented.
func AllScopes() []string {
	return []string{ScopePropose, ScopeRead, ScopeCancel, ScopeTasksCreate, ScopeTasksRead, ScopeEscalationsCreate}
}

// KeyPrefix starts every agent key, so a leaked key is recognisable (secret
// scanners, log reviews) and a key of another kind is refused before any
// database lookup.
const KeyPrefix = "eoa_"

const keyBytes = 32

// Errors of the key store.
var (
	// ErrUnauthorized: the key is malformed, unknown or revoked. One error
	// for all three, so a caller learns nothing about which.
	ErrUnauthorized = errors.New("agent key is not valid")
	// ErrAgentExists: the agent already has a key that is not revoked.
	ErrAgentExists = errors.New("agent already has an active key; revoke it first")
	// ErrUnknownAgent: no key was ever created for the agent.
	ErrUnknownAgent = errors.New("no such agent")
	// ErrAlreadyRevoked: the agent's key is revoked already.
	ErrAlreadyRevoked = errors.New("agent key is already revoked")
)

// Agent is who a verified key belongs to and what it may do.
type Agent struct {
	Name   string
	Scopes []string
}

// Has reports whether the agent's key carries scope.
func (a Agent) Has(scope string) bool { return slices.Contains(a.Scopes, scope) }

// KeyInfo is what List shows about an agent's key; never the key.
type KeyInfo struct {
	Name      string
	Scopes    []string
	CreatedAt time.Time
	// RevokedAt is nil while the key is active.
	RevokedAt *time.Time
}

// Store keeps agent keys in PostgreSQL or SQLite: only each key's SHA-256,
// so a copy of the database holds no usable key. A hash lookup needs no
// constant-time compare: the attacker would have to know a preimage.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// Open connects to PostgreSQL when databaseURL is non-empty, otherwise to the
// SQLite file sqlitePath (created 0600), and creates the agent_keys table if
// missing. now is the clock (nil means time.Now).
func Open(ctx context.Context, databaseURL, sqlitePath string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	// Times are Unix milliseconds so both engines compare them the same way;
	// scopes are space-separated, as in OAuth's "scope".
	const ddl = `CREATE TABLE IF NOT EXISTS agent_keys (
	name       TEXT PRIMARY KEY,
	scopes     TEXT NOT NULL,
	key_hash   TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT
)`
	db, err := sqldb.Open(ctx, "agent key", databaseURL, sqlitePath, ddl)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, now: now}, nil
}

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// CheckScopes returns scopes sorted and without duplicates, or an error
// naming the first scope outside the closed set.
func CheckScopes(scopes []string) ([]string, error) {
	var out []string
	for _, sc := range scopes {
		sc = strings.TrimSpace(sc)
		if sc == "" {
			continue
		}
		if !slices.Contains(AllScopes(), sc) {
			return nil, fmt.Errorf("scope %q is not one of %s", sc, strings.Join(AllScopes(), ", "))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("at least one scope is required (%s)", strings.Join(AllScopes(), ", "))
	}
	slices.Sort(out)
	return out, nil
}

// Create issues a key for agent name with scopes. The returned key is the
// only copy of the secret. A name whose key is active is refused
// (ErrAgentExists); a revoked name gets a new key.
func (s *Store) Create(ctx context.Context, name string, scopes []string) (string, error) {
	if !agentaction.ValidAgentName(name) {
		return "", fmt.Errorf("create agent key: name %q must be 1-40 of a-z, 0-9 and '-', starting with a letter or digit", name)
	}
	scopes, err := CheckScopes(scopes)
	if err != nil {
		return "", fmt.Errorf("create agent key for %s: %w", name, err)
	}
	raw := make([]byte, keyBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("create agent key for %s: random: %w", name, err)
	}
	key := KeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	// One statement decides between "new", "re-created after revocation"
	// and "exists": two concurrent creates cannot both win.
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO agent_keys (name, scopes, key_hash, created_at, revoked_at)
		 VALUES ($1, $2, $3, $4, NULL)
		 ON CONFLICT (name) DO UPDATE
		 SET scopes = excluded.scopes, key_hash = excluded.key_hash, created_at = excluded.created_at, revoked_at = NULL
		 WHERE agent_keys.revoked_at IS NOT NULL`,
		name, strings.Join(scopes, " "), hashKey(key), s.now().UnixMilli())
	if err != nil {
		return "", fmt.Errorf("create agent key for %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return "", fmt.Errorf("create agent key for %s: %w", name, err)
	}
	if n == 0 {
		return "", fmt.Errorf("create agent key for %s: %w", name, ErrAgentExists)
	}
	return key, nil
}

// Revoke stops name's key from working, at once: every request is verified
// against the store.
func (s *Store) Revoke(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE agent_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL`, s.now().UnixMilli(), name)
	if err != nil {
		return fmt.Errorf("revoke agent key of %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("revoke agent key of %s: %w", name, err)
	}
	if n > 0 {
		return nil
	}
	var one int
	err = s.db.QueryRowContext(ctx, `SELECT 1 FROM agent_keys WHERE name = $1`, name).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("revoke agent key of %q: %w", name, ErrUnknownAgent)
	case err != nil:
		return fmt.Errorf("revoke agent key of %s: %w", name, err)
	}
	return fmt.Errorf("revoke agent key of %s: %w", name, ErrAlreadyRevoked)
}

// Verify returns the agent whose active key this is, or ErrUnauthorized.
func (s *Store) Verify(ctx context.Context, key string) (Agent, error) {
	if !wellFormed(key) {
		return Agent{}, ErrUnauthorized
	}
	var (
		a       Agent
		scopes  string
		revoked sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, `SELECT name, scopes, revoked_at FROM agent_keys WHERE key_hash = $1`, hashKey(key)).
		Scan(&a.Name, &scopes, &revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Agent{}, ErrUnauthorized
	case err != nil:
		// Never the key in the error: it ends up in logs.
		return Agent{}, fmt.Errorf("verify agent key: %w", err)
	case revoked.Valid:
		return Agent{}, ErrUnauthorized
	}
	a.Scopes = strings.Fields(scopes)
	return a, nil
}

// List returns every agent's key record, by name; never a key.
func (s *Store) List(ctx context.Context) ([]KeyInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, scopes, created_at, revoked_at FROM agent_keys ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list agent keys: %w", err)
	}
	defer rows.Close()
	var out []KeyInfo
	for rows.Next() {
		var (
			k       KeyInfo
			scopes  string
			created int64
			revoked sql.NullInt64
		)
		if err := rows.Scan(&k.Name, &scopes, &created, &revoked); err != nil {
			return nil, fmt.Errorf("list agent keys: %w", err)
		}
		k.Scopes = strings.Fields(scopes)
		k.CreatedAt = time.UnixMilli(created).UTC()
		if revoked.Valid {
			t := time.UnixMilli(revoked.Int64).UTC()
			k.RevokedAt = &t
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list agent keys: %w", err)
	}
	return out, nil
}

// wellFormed checks a key's shape before it touches the database.
func wellFormed(key string) bool {
	rest, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil && len(raw) == keyBytes
}

// hashKey is what the store keeps of a key.
func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
