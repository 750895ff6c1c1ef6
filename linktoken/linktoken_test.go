package linktoken

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/internal/testdb"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type backend struct {
	name string
	open func(t *testing.T, now func() time.Time) *Store
}

// backends returns SQLite always and PostgreSQL when DATABASE_URL is set,
// each test in its own schema because packages share the database in parallel.
func backends(t *testing.T) []backend {
	var b []backend
	for _, e := range testdb.Engines("linktoken_test") {
		b = append(b, backend{name: e.Name, open: func(t *testing.T, now func() time.Time) *Store {
			dbURL, path := e.Locate(t, "tokens.db")
			s, err := Open(context.Background(), dbURL, path, now)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		}})
	}
	return b
}

const (
	wf     = "vendor-payment-INV-1"
	digest = "sha256:aaaa"
)

func TestIssuePeekRedeem(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
			s := b.open(t, clk.Now)

			tok, err := s.Issue(ctx, "maria", wf, "run-1", digest, time.Hour)
			require.NoError(t, err)
			assert.Len(t, tok, 43, "32 bytes base64url without padding")
			assert.NotContains(t, tok, "=")

			want := Claims{PersonID: "maria", WorkflowID: wf, RunID: "run-1", ActionDigest: digest, ExpiresAt: clk.Now().Add(time.Hour)}
			// Peek twice: opening the link does not consume it.
			for range 2 {
				got, err := s.Peek(ctx, tok)
				require.NoError(t, err)
				assert.Equal(t, want, got)
			}
			got, err := s.Redeem(ctx, tok, wf, digest)
			require.NoError(t, err)
			assert.Equal(t, want, got)

			_, err = s.Redeem(ctx, tok, wf, digest)
			assert.ErrorIs(t, err, ErrUsed)
			_, err = s.Peek(ctx, tok)
			assert.ErrorIs(t, err, ErrUsed)
		})
	}
}

func TestOnlyHashIsStored(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "", filepath.Join(t.TempDir(), "t.db"), nil)
	require.NoError(t, err)
	defer s.Close()
	tok, err := s.Issue(ctx, "maria", wf, "run-1", digest, time.Hour)
	require.NoError(t, err)
	var stored string
	require.NoError(t, s.db.QueryRowContext(ctx, `SELECT token_hash FROM approval_link_tokens`).Scan(&stored))
	assert.NotContains(t, stored, tok)
	assert.Equal(t, hash(tok), stored)
}

func TestRefusals(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			tests := []struct {
				name string
				// act issues/uses tokens as needed and returns the refused call's error.
				act      func(ctx context.Context, s *Store, clk *clock) error
				want     error
				consumed bool // whether a later correct Redeem should fail as used
			}{
				{name: "unknown token", want: ErrUnknown, act: func(ctx context.Context, s *Store, _ *clock) error {
					_, err := s.Redeem(ctx, strings.Repeat("A", 43), wf, digest)
					return err
				}},
				{name: "malformed token", want: ErrUnknown, act: func(ctx context.Context, s *Store, _ *clock) error {
					_, err := s.Redeem(ctx, "not a token!", wf, digest)
					return err
				}},
				{name: "empty token peek", want: ErrUnknown, act: func(ctx context.Context, s *Store, _ *clock) error {
					_, err := s.Peek(ctx, "")
					return err
				}},
				{name: "expired redeem", want: ErrExpired, act: func(ctx context.Context, s *Store, clk *clock) error {
					tok, err := s.Issue(ctx, "maria", wf, "run-1", digest, time.Minute)
					if err != nil {
						return err
					}
					clk.Add(time.Minute) // expiry instant is already too late
					_, err = s.Redeem(ctx, tok, wf, digest)
					return err
				}},
				{name: "expired peek", want: ErrExpired, act: func(ctx context.Context, s *Store, clk *clock) error {
					tok, err := s.Issue(ctx, "maria", wf, "run-1", digest, time.Minute)
					if err != nil {
						return err
					}
					clk.Add(2 * time.Minute)
					_, err = s.Peek(ctx, tok)
					return err
				}},
				{name: "other workflow", want: ErrMismatch, act: func(ctx context.Context, s *Store, _ *clock) error {
					tok, err := s.Issue(ctx, "maria", wf, "run-1", digest, time.Hour)
					if err != nil {
						return err
					}
					_, err = s.Redeem(ctx, tok, "vendor-payment-INV-2", digest)
					if !errors.Is(err, ErrMismatch) {
						return err
					}
					// A mismatch must not burn the token.
					if _, err2 := s.Redeem(ctx, tok, wf, digest); err2 != nil {
						return err2
					}
					return err
				}},
				{name: "other digest", want: ErrMismatch, act: func(ctx context.Context, s *Store, _ *clock) error {
					tok, err := s.Issue(ctx, "maria", wf, "run-1", digest, time.Hour)
					if err != nil {
						return err
					}
					_, err = s.Redeem(ctx, tok, wf, "sha256:bbbb")
					return err
				}},
				{name: "used", want: ErrUsed, act: func(ctx context.Context, s *Store, _ *clock) error {
					tok, err := s.Issue(ctx, "maria", wf, "run-1", digest, time.Hour)
					if err != nil {
						return err
					}
					if _, err := s.Redeem(ctx, tok, wf, digest); err != nil {
						return err
					}
					_, err = s.Redeem(ctx, tok, wf, digest)
					return err
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
					s := b.open(t, clk.Now)
					err := tt.act(context.Background(), s, clk)
					assert.ErrorIs(t, err, tt.want)
				})
			}
		})
	}
}

func TestIssueValidation(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "", filepath.Join(t.TempDir(), "t.db"), nil)
	require.NoError(t, err)
	defer s.Close()
	tests := []struct {
		name                   string
		person, workflow, dgst string
		ttl                    time.Duration
		want                   string
	}{
		{"no person", "", wf, digest, time.Hour, "personID is required"},
		{"no workflow", "maria", "", digest, time.Hour, "workflowID is required"},
		{"no digest", "maria", wf, "", time.Hour, "actionDigest is required"},
		{"zero ttl", "maria", wf, digest, 0, "ttl must be positive"},
		{"negative ttl", "maria", wf, digest, -time.Second, "ttl must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Issue(ctx, tt.person, tt.workflow, "run-1", tt.dgst, tt.ttl)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	var n int
	require.NoError(t, s.db.QueryRowContext(ctx, `SELECT count(*) FROM approval_link_tokens`).Scan(&n))
	assert.Zero(t, n, "refused issues must not write")
}

func TestOpenNeedsALocation(t *testing.T) {
	_, err := Open(context.Background(), "", "", nil)
	assert.ErrorContains(t, err, "databaseURL or sqlitePath is required")
}

func TestTokensAreUnique(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "", filepath.Join(t.TempDir(), "t.db"), nil)
	require.NoError(t, err)
	defer s.Close()
	seen := map[string]bool{}
	for range 50 {
		tok, err := s.Issue(ctx, "maria", wf, "run-1", digest, time.Hour)
		require.NoError(t, err)
		require.False(t, seen[tok])
		seen[tok] = true
	}
}

func TestConcurrentRedeemExactlyOneWins(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := b.open(t, nil)
			tok, err := s.Issue(ctx, "maria", wf, "run-1", digest, time.Hour)
			require.NoError(t, err)

			const n = 16
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = s.Redeem(ctx, tok, wf, digest)
				}()
			}
			close(start)
			wg.Wait()
			wins := 0
			for _, err := range errs {
				if err == nil {
					wins++
				} else {
					assert.ErrorIs(t, err, ErrUsed)
				}
			}
			assert.Equal(t, 1, wins)
		})
	}
}

func TestClaimsCheckBindsRun(t *testing.T) {
	c := Claims{PersonID: "maria", WorkflowID: "wf", RunID: "run-1", ActionDigest: "sha256:a"}
	tests := []struct {
		name            string
		wf, run, digest string
		wantErr         bool
	}{
		{"same", "wf", "run-1", "sha256:a", false},
		{"other run", "wf", "run-2", "sha256:a", true},
		{"other workflow", "wf2", "run-1", "sha256:a", true},
		{"other digest", "wf", "run-1", "sha256:b", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Check(tt.wf, tt.run, tt.digest)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Check = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrMismatch) {
				t.Fatalf("Check = %v, want ErrMismatch", err)
			}
		})
	}
	if UpdateID("tok-a") == UpdateID("tok-b") || UpdateID("tok-a") != UpdateID("tok-a") {
		t.Fatal("UpdateID must be stable per token and differ between tokens")
	}
	if strings.Contains(UpdateID("tok-a"), hash("tok-a")[:32]) {
		t.Fatal("UpdateID must not reveal the stored hash")
	}
}
