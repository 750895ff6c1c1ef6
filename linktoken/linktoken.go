// Package linktoken issues and redeems the one-time tokens carried by emailed
// approval links. A token is 32 random bytes (base64url); only its SHA-256 is
// stored, so a database leak does not leak usable links. Each token binds one
// person to one workflow and one exact action digest, expires, and can be
// redeemed once.
package linktoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/execution-orchestrator/orchestrator/internal/sqldb"
)

// Reasons a token is refused. They are distinct so that the web form can tell
// the person why, and tests can tell them apart.
var (
	ErrUnknown  = errors.New("link token is not valid")
	ErrUsed     = errors.New("link token has already been used")
	ErrExpired  = errors.New("link token has expired")
	ErrMismatch = errors.New("link token was issued for a different workflow or action")
)

const tokenBytes = 32

// Claims is what a token vouches for.
type Claims struct {
	PersonID   string `json:"personId"`
	WorkflowID string `json:"workflowId"`
	// RunID binds the token to one run; empty on tokens issued before runs
	// were bound, which then bind to the workflow id alone.
	RunID        string    `json:"runId,omitempty"`
	ActionDigest string    `json:"actionDigest"`
	ExpiresAt    time.Time `json:"expiresAt"`
}

// Store keeps token hashes in PostgreSQL or SQLite.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// Open connects to PostgreSQL when databaseURL is non-empty, otherwise to the
// SQLite file sqlitePath, and creates the approval_link_tokens table if
// missing. now is the clock (nil means time.Now).
func Open(ctx context.Context, databaseURL, sqlitePath string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	// Times are stored as Unix milliseconds so both engines compare them the same way.
	const ddl = `CREATE TABLE IF NOT EXISTS approval_link_tokens (
	token_hash    TEXT PRIMARY KEY,
	person_id     TEXT NOT NULL,
	workflow_id   TEXT NOT NULL,
	action_digest TEXT NOT NULL,
	issued_at     BIGINT NOT NULL,
	expires_at    BIGINT NOT NULL,
	used_at       BIGINT
)`
	db, err := sqldb.Open(ctx, "link token", databaseURL, sqlitePath, ddl)
	if err != nil {
		return nil, err
	}
	// Tokens are bound to a run since run_id came; older tables gain it.
	// Neither engine has one portable "add column if missing", so a
	// duplicate-column error means it is there already.
	if _, err := db.ExecContext(ctx, `ALTER TABLE approval_link_tokens ADD COLUMN run_id TEXT NOT NULL DEFAULT ''`); err != nil &&
		!strings.Contains(err.Error(), "duplicate column") && !strings.Contains(err.Error(), "already exists") {
		db.Close()
		return nil, fmt.Errorf("add run_id to approval_link_tokens: %w", sqldb.Redact(err, databaseURL))
	}
	return &Store{db: db, now: now}, nil
}

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// Issue creates a token for personID to decide on actionDigest in workflowID,
// valid for ttl. The returned token is the only copy of the secret.
func (s *Store) Issue(ctx context.Context, personID, workflowID, runID, actionDigest string, ttl time.Duration) (string, error) {
	switch {
	case personID == "":
		return "", errors.New("issue link token: personID is required")
	case workflowID == "":
		return "", errors.New("issue link token: workflowID is required")
	case actionDigest == "":
		return "", errors.New("issue link token: actionDigest is required")
	case ttl <= 0:
		return "", fmt.Errorf("issue link token: ttl must be positive, got %s", ttl)
	}
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("issue link token: random: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	now := s.now()
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO approval_link_tokens (token_hash, person_id, workflow_id, run_id, action_digest, issued_at, expires_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		hash(token), personID, workflowID, runID, actionDigest, now.UnixMilli(), now.Add(ttl).UnixMilli())
	if err != nil {
		return "", fmt.Errorf("issue link token for %s on %s: %w", personID, workflowID, err)
	}
	return token, nil
}

// Peek returns the claims of a valid, unused, unexpired token without
// consuming it: opening the emailed link (a GET, which mail scanners also do)
// must not use it up.
func (s *Store) Peek(ctx context.Context, token string) (Claims, error) {
	h, ok := parse(token)
	if !ok {
		return Claims{}, ErrUnknown
	}
	c, usedAt, err := s.lookup(ctx, h)
	if err != nil {
		return Claims{}, err
	}
	if usedAt.Valid {
		return Claims{}, ErrUsed
	}
	if !s.now().Before(c.ExpiresAt) {
		return Claims{}, ErrExpired
	}
	return c, nil
}

// Check reports whether claims admit a decision on actionDigest in run
// runID of workflowID (ErrMismatch if not): the web app checks before it
// sends the decision and redeems only once the workflow accepted it.
func (c Claims) Check(workflowID, runID, actionDigest string) error {
	if c.WorkflowID != workflowID || c.ActionDigest != actionDigest || (c.RunID != "" && c.RunID != runID) {
		return ErrMismatch
	}
	return nil
}

// UpdateID is the Temporal Update id of the decision a token carries: a
// retried submission of the same link is the same Update, which Temporal
// answers with the first result instead of deciding twice. It is derived
// from the secret but is not the stored hash.
func UpdateID(token string) string {
	sum := sha256.Sum256([]byte("approval-update|" + token))
	return "link-" + hex.EncodeToString(sum[:16])
}

// Redeem consumes the token if it is valid, unused, unexpired and bound to
// workflowID and actionDigest. The check and the consumption are one UPDATE,
// so of two concurrent redemptions exactly one succeeds. A mismatch does not
// consume the token: the page may simply have been stale.
func (s *Store) Redeem(ctx context.Context, token, workflowID, actionDigest string) (Claims, error) {
	h, ok := parse(token)
	if !ok {
		return Claims{}, ErrUnknown
	}
	now := s.now().UnixMilli()
	var (
		c       Claims
		expires int64
	)
	err := s.db.QueryRowContext(ctx,
		`UPDATE approval_link_tokens SET used_at = $1
		 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1
		   AND workflow_id = $3 AND action_digest = $4
		 RETURNING person_id, workflow_id, run_id, action_digest, expires_at`,
		now, h, workflowID, actionDigest).Scan(&c.PersonID, &c.WorkflowID, &c.RunID, &c.ActionDigest, &expires)
	if err == nil {
		c.ExpiresAt = time.UnixMilli(expires).UTC()
		return c, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Claims{}, fmt.Errorf("redeem link token: %w", err)
	}
	// Nothing consumed: find out why, for the person's sake.
	c, usedAt, err := s.lookup(ctx, h)
	switch {
	case err != nil:
		return Claims{}, err
	case usedAt.Valid:
		return Claims{}, ErrUsed
	case c.ExpiresAt.UnixMilli() <= now:
		return Claims{}, ErrExpired
	case c.WorkflowID != workflowID || c.ActionDigest != actionDigest:
		return Claims{}, ErrMismatch
	default:
		// Valid now but the UPDATE missed it: a concurrent redemption won.
		return Claims{}, ErrUsed
	}
}

func (s *Store) lookup(ctx context.Context, h string) (Claims, sql.NullInt64, error) {
	var (
		c       Claims
		expires int64
		usedAt  sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx,
		`SELECT person_id, workflow_id, run_id, action_digest, expires_at, used_at
		 FROM approval_link_tokens WHERE token_hash = $1`, h).
		Scan(&c.PersonID, &c.WorkflowID, &c.RunID, &c.ActionDigest, &expires, &usedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Claims{}, usedAt, ErrUnknown
	}
	if err != nil {
		return Claims{}, usedAt, fmt.Errorf("look up link token: %w", err)
	}
	c.ExpiresAt = time.UnixMilli(expires).UTC()
	return c, usedAt, nil
}

// parse checks the token's shape before it touches the database and returns
// its storage hash.
func parse(token string) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != tokenBytes {
		return "", false
	}
	return hash(token), true
}

func hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
