package totp

import (
	"context"
	"fmt"
	"net/url"
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
	for _, e := range testdb.Engines("totp_test") {
		b = append(b, backend{name: e.Name, open: func(t *testing.T, now func() time.Time) *Store {
			dbURL, path := e.Locate(t, "totp.db")
			s, err := Open(context.Background(), dbURL, path, now)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		}})
	}
	return b
}

// start is mid-step, so ±1 step arithmetic in the tests is unambiguous.
var start = time.Date(2026, 3, 1, 12, 0, 15, 0, time.UTC)

// wrongCode returns a well-formed code valid for none of the accepted steps.
func wrongCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	valid := map[string]bool{}
	for d := -Skew; d <= Skew; d++ {
		c, err := Code(secret, at.Add(time.Duration(d)*Period))
		require.NoError(t, err)
		valid[c] = true
	}
	for i := 0; ; i++ {
		c := fmt.Sprintf("%06d", i)
		if !valid[c] {
			return c
		}
	}
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			t.Run("enrol", func(t *testing.T) {
				s := be.open(t, time.Now)
				e, err := s.Enroll(ctx, "alice@example.com", "Execution Orchestrator")
				require.NoError(t, err)
				assert.Equal(t, "alice@example.com", e.PersonID)
				assert.Len(t, e.Secret, 32, "160-bit secret in unpadded base32")
				u, err := url.Parse(e.URL)
				require.NoError(t, err)
				assert.Equal(t, "otpauth", u.Scheme)
				assert.Equal(t, "totp", u.Host)
				assert.Equal(t, e.Secret, u.Query().Get("secret"))
				assert.Equal(t, "Execution Orchestrator", u.Query().Get("issuer"))
				assert.Equal(t, "6", u.Query().Get("digits"))
				assert.Equal(t, "30", u.Query().Get("period"))
				assert.Equal(t, "SHA1", u.Query().Get("algorithm"))

				_, err = s.Enroll(ctx, "", "EO")
				assert.ErrorContains(t, err, "personID")
				_, err = s.Enroll(ctx, "alice", "")
				assert.ErrorContains(t, err, "issuer")
			})

			t.Run("verify", func(t *testing.T) {
				tests := []struct {
					name   string
					person string
					code   func(t *testing.T, secret string) string
					at     time.Duration // clock offset from start when verifying
					want   error
				}{
					{name: "current step", code: codeAt(0), want: nil},
					{name: "previous step", code: codeAt(-Period), want: nil},
					{name: "next step", code: codeAt(Period), want: nil},
					{name: "late in the step", code: codeAt(0), at: 14 * time.Second, want: nil},
					{name: "two steps ago", code: codeAt(-2 * Period), want: ErrInvalidCode},
					{name: "two steps ahead", code: codeAt(2 * Period), want: ErrInvalidCode},
					{name: "wrong code", code: func(t *testing.T, secret string) string { return wrongCode(t, secret, start) }, want: ErrInvalidCode},
					{name: "five digits", code: fixed("12345"), want: ErrInvalidCode},
					{name: "seven digits", code: fixed("1234567"), want: ErrInvalidCode},
					{name: "letters", code: fixed("12a456"), want: ErrInvalidCode},
					{name: "spaces", code: fixed("123 45"), want: ErrInvalidCode},
					{name: "unicode digits", code: fixed("١٢٣٤٥٦"), want: ErrInvalidCode},
					{name: "empty", code: fixed(""), want: ErrInvalidCode},
					{name: "unknown person", person: "mallory", code: codeAt(0), want: ErrNotEnrolled},
				}
				for _, tc := range tests {
					t.Run(tc.name, func(t *testing.T) {
						clk := &clock{t: start}
						s := be.open(t, clk.Now)
						e, err := s.Enroll(ctx, "alice", "EO")
						require.NoError(t, err)
						code := tc.code(t, e.Secret)
						clk.Add(tc.at)
						person := tc.person
						if person == "" {
							person = "alice"
						}
						err = s.Verify(ctx, person, code)
						if tc.want == nil {
							require.NoError(t, err)
							return
						}
						require.ErrorIs(t, err, tc.want)
						assert.True(t, strings.HasPrefix(err.Error(), "proof.totp:"), "error %q does not name the field", err)
					})
				}
			})

			t.Run("single use", func(t *testing.T) {
				clk := &clock{t: start}
				s := be.open(t, clk.Now)
				e, err := s.Enroll(ctx, "alice", "EO")
				require.NoError(t, err)
				code, err := Code(e.Secret, start)
				require.NoError(t, err)
				require.NoError(t, s.Verify(ctx, "alice", code))
				assert.ErrorIs(t, s.Verify(ctx, "alice", code), ErrReused)

				// Still refused in the next step, while it remains in the window.
				clk.Add(Period)
				assert.ErrorIs(t, s.Verify(ctx, "alice", code), ErrReused)
				// An earlier code is refused too: steps only move forward.
				prev, err := Code(e.Secret, start.Add(-Period))
				require.NoError(t, err)
				if prev != code {
					assert.ErrorIs(t, s.Verify(ctx, "alice", prev), ErrInvalidCode, "two steps back now")
				}
				// The new step's code works.
				next, err := Code(e.Secret, clk.Now())
				require.NoError(t, err)
				require.NoError(t, s.Verify(ctx, "alice", next))
			})

			t.Run("a later step blocks earlier ones", func(t *testing.T) {
				clk := &clock{t: start}
				s := be.open(t, clk.Now)
				e, err := s.Enroll(ctx, "alice", "EO")
				require.NoError(t, err)
				ahead, err := Code(e.Secret, start.Add(Period))
				require.NoError(t, err)
				current, err := Code(e.Secret, start)
				require.NoError(t, err)
				require.NoError(t, s.Verify(ctx, "alice", ahead))
				if current != ahead {
					assert.ErrorIs(t, s.Verify(ctx, "alice", current), ErrReused)
				}
			})

			t.Run("concurrent verification of one code", func(t *testing.T) {
				clk := &clock{t: start}
				s := be.open(t, clk.Now)
				e, err := s.Enroll(ctx, "alice", "EO")
				require.NoError(t, err)
				code, err := Code(e.Secret, start)
				require.NoError(t, err)
				const n = 8
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() { errs[i] = s.Verify(ctx, "alice", code) })
				}
				wg.Wait()
				ok := 0
				for _, err := range errs {
					if err == nil {
						ok++
						continue
					}
					assert.ErrorIs(t, err, ErrReused)
				}
				assert.Equal(t, 1, ok, "exactly one verification must pass: %v", errs)
			})

			t.Run("re-enrol invalidates the old secret", func(t *testing.T) {
				clk := &clock{t: start}
				s := be.open(t, clk.Now)
				old, err := s.Enroll(ctx, "alice", "EO")
				require.NoError(t, err)
				oldCode, err := Code(old.Secret, start)
				require.NoError(t, err)
				var fresh Enrolment
				for {
					fresh, err = s.Enroll(ctx, "alice", "EO")
					require.NoError(t, err)
					// Redraw in the one-in-a-million case that the old code
					// happens to be valid for the new secret too.
					if !validFor(t, fresh.Secret, oldCode) {
						break
					}
				}
				assert.NotEqual(t, old.Secret, fresh.Secret)
				assert.ErrorIs(t, s.Verify(ctx, "alice", oldCode), ErrInvalidCode)
				newCode, err := Code(fresh.Secret, start)
				require.NoError(t, err)
				require.NoError(t, s.Verify(ctx, "alice", newCode))
			})

			t.Run("reopen keeps enrolments", func(t *testing.T) {
				if be.name != "sqlite" {
					t.Skip("sqlite file reopen only")
				}
				path := filepath.Join(t.TempDir(), "totp.db")
				s, err := Open(ctx, "", path, func() time.Time { return start })
				require.NoError(t, err)
				e, err := s.Enroll(ctx, "alice", "EO")
				require.NoError(t, err)
				code, err := Code(e.Secret, start)
				require.NoError(t, err)
				require.NoError(t, s.Verify(ctx, "alice", code))
				require.NoError(t, s.Close())
				s, err = Open(ctx, "", path, func() time.Time { return start })
				require.NoError(t, err)
				defer s.Close()
				assert.ErrorIs(t, s.Verify(ctx, "alice", code), ErrReused, "last step survives a restart")
			})
		})
	}
}

func validFor(t *testing.T, secret, code string) bool {
	t.Helper()
	for d := -Skew; d <= Skew; d++ {
		c, err := Code(secret, start.Add(time.Duration(d)*Period))
		require.NoError(t, err)
		if c == code {
			return true
		}
	}
	return false
}

func codeAt(offset time.Duration) func(*testing.T, string) string {
	return func(t *testing.T, secret string) string {
		c, err := Code(secret, start.Add(offset))
		require.NoError(t, err)
		return c
	}
}

func fixed(code string) func(*testing.T, string) string {
	return func(*testing.T, string) string { return code }
}

func TestCode(t *testing.T) {
	// RFC 6238 Appendix B, SHA-1 secret "12345678901234567890", truncated to 6 digits.
	const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	tests := []struct {
		unix int64
		want string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
		{20000000000, "353130"},
	}
	for _, tc := range tests {
		got, err := Code(secret, time.Unix(tc.unix, 0))
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "t=%d", tc.unix)
	}
	_, err := Code("not base32!", time.Unix(59, 0))
	assert.Error(t, err)
	_, err = Code(secret, time.Unix(-1, 0))
	assert.Error(t, err)
}

func TestOpenRequiresALocation(t *testing.T) {
	_, err := Open(context.Background(), "", "", nil)
	assert.Error(t, err)
}

// Guessing is bounded: after MaxFailures wrong codes the right one is
// refused too, until the window has passed; a success resets the count.
func TestLockoutAfterFailures(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{t: start}
			s := b.open(t, clk.Now)
			e, err := s.Enroll(ctx, "maria", "test")
			require.NoError(t, err)
			for range MaxFailures {
				require.ErrorIs(t, s.Verify(ctx, "maria", wrongCode(t, e.Secret, clk.Now())), ErrInvalidCode)
			}
			right, err := Code(e.Secret, clk.Now())
			require.NoError(t, err)
			require.ErrorIs(t, s.Verify(ctx, "maria", right), ErrLocked, "the right code while locked")
			clk.Add(LockoutWindow + time.Minute)
			right, err = Code(e.Secret, clk.Now())
			require.NoError(t, err)
			require.NoError(t, s.Verify(ctx, "maria", right), "the right code after the window")
			// The success reset the count: one wrong code does not lock.
			require.ErrorIs(t, s.Verify(ctx, "maria", wrongCode(t, e.Secret, clk.Now())), ErrInvalidCode)
		})
	}
}
