// Package totp checks one-time codes from an authenticator app (RFC 6238:
// SHA-1, 30-second steps, 6 digits, which is what the common apps do), so a
// person approving from the Temporal UI can prove presence by typing a code.
//
// Each accepted code is single use: the store records the last accepted time
// step per person and refuses any code at or before it. The record is a
// conditional UPDATE, so of two concurrent verifications of one code exactly
// one succeeds. Secrets are stored as they are (base32): HMAC needs them, so
// hashing is not possible; protect the database accordingly.
package totp

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/execution-orchestrator/orchestrator/internal/sqldb"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	otptotp "github.com/pquerna/otp/totp"
)

// Parameters every enrolment uses. They are fixed rather than configurable
// because authenticator apps silently ignore most other values.
const (
	Period     = 30 * time.Second
	Digits     = 6
	secretSize = 20 // bytes; RFC 4226 recommends 160 bits for SHA-1
	// Skew is how many steps either side of now are accepted, for clock drift
	// between the phone and the worker and for typing time.
	Skew = 1
)

// Reasons a code is refused. The messages name the field the code arrives in,
// so the Temporal UI user sees what to correct.
var (
	ErrNotEnrolled = errors.New("proof.totp: person is not enrolled")
	ErrInvalidCode = errors.New("proof.totp: invalid code")
	ErrReused      = errors.New("proof.totp: code already used")
)

var opts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Enrolment is what a person needs to set up their authenticator app.
type Enrolment struct {
	PersonID string
	Secret   string // base32, no padding
	URL      string // otpauth:// URL, for a QR code the app scans
}

// Store keeps enrolments in PostgreSQL or SQLite.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// Open connects to PostgreSQL when databaseURL is non-empty, otherwise to the
// SQLite file sqlitePath, and creates the totp_enrolments table if missing.
// now is the clock (nil means time.Now).
func Open(ctx context.Context, databaseURL, sqlitePath string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	// enrolled_at is Unix milliseconds; last_step is the RFC 6238 counter of
	// the last accepted code (-1: none yet).
	const ddl = `CREATE TABLE IF NOT EXISTS totp_enrolments (
	person_id   TEXT PRIMARY KEY,
	secret      TEXT NOT NULL,
	enrolled_at BIGINT NOT NULL,
	last_step   BIGINT NOT NULL DEFAULT -1,
	failed_count INTEGER NOT NULL DEFAULT 0,
	failed_since BIGINT NOT NULL DEFAULT 0
)`
	db, err := sqldb.Open(ctx, "totp", databaseURL, sqlitePath, ddl)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, now: now}, nil
}

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// Enroll gives personID a new random secret, replacing any old one (so codes
// from a lost phone stop working), and returns what their app needs. issuer
// is the name the app shows next to the account.
func (s *Store) Enroll(ctx context.Context, personID, issuer string) (Enrolment, error) {
	switch {
	case personID == "":
		return Enrolment{}, errors.New("enrol totp: personID is required")
	case issuer == "":
		return Enrolment{}, errors.New("enrol totp: issuer is required")
	}
	key, err := otptotp.Generate(otptotp.GenerateOpts{
		Issuer:      issuer,
		AccountName: personID,
		Period:      uint(Period / time.Second),
		SecretSize:  secretSize,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return Enrolment{}, fmt.Errorf("enrol totp for %s: %w", personID, err)
	}
	// last_step resets: the old secret's steps mean nothing for the new one.
	_, err = s.db.ExecContext(ctx,
		`INSERT INTO totp_enrolments (person_id, secret, enrolled_at, last_step)
		 VALUES ($1, $2, $3, -1)
		 ON CONFLICT (person_id) DO UPDATE
		 SET secret = excluded.secret, enrolled_at = excluded.enrolled_at, last_step = -1`,
		personID, key.Secret(), s.now().UnixMilli())
	if err != nil {
		return Enrolment{}, fmt.Errorf("enrol totp for %s: %w", personID, err)
	}
	return Enrolment{PersonID: personID, Secret: key.Secret(), URL: key.URL()}, nil
}

// Verify accepts code if it is personID's code for the current step or one
// step either side, and no code at or after its step was accepted before. On
// success the step is recorded, so the code cannot be used again.
func (s *Store) Verify(ctx context.Context, personID, code string) error {
	if personID == "" {
		return errors.New("verify totp: personID is required")
	}
	if !wellFormed(code) {
		return fmt.Errorf("%w: must be exactly %d ASCII digits", ErrInvalidCode, Digits)
	}
	secret, last, err := s.lookup(ctx, personID)
	if err != nil {
		return err
	}
	if err := s.checkLockout(ctx, personID); err != nil {
		return err
	}
	now := step(s.now())
	matched := int64(-1)
	for st := now - Skew; st <= now+Skew; st++ {
		if st < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(secret, uint64(st), opts)
		if err != nil {
			return fmt.Errorf("verify totp for %s: stored secret: %w", personID, err)
		}
		// Ascending, so a (rare) code valid at two steps records the later one
		// and blocks the most.
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched = st
		}
	}
	if matched < 0 {
		return s.failed(ctx, personID, fmt.Errorf("%w: does not match", ErrInvalidCode))
	}
	if matched <= last {
		// A used code reveals nothing new, so it does not count as a guess.
		return ErrReused
	}
	// The conditions make check-and-record one atomic step: a concurrent
	// verification of the same code, or a re-enrolment in between, leaves
	// zero rows affected here.
	res, err := s.db.ExecContext(ctx,
		`UPDATE totp_enrolments SET last_step = $1, failed_count = 0
		 WHERE person_id = $2 AND secret = $3 AND last_step < $1`,
		matched, personID, secret)
	if err != nil {
		return fmt.Errorf("verify totp for %s: record step: %w", personID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("verify totp for %s: record step: %w", personID, err)
	}
	if n == 1 {
		return nil
	}
	// Lost a race: say why.
	current, _, err := s.lookup(ctx, personID)
	switch {
	case err != nil:
		return err
	case current != secret:
		return fmt.Errorf("%w: person re-enrolled", ErrInvalidCode)
	default:
		return ErrReused
	}
}

// Six digits are a million guesses: after MaxFailures wrong codes within
// LockoutWindow a person's codes are refused until the window
// has passed, whoever sends them.
const (
	MaxFailures   = 5
	LockoutWindow = 10 * time.Minute
)

// ErrLocked: too many failed codes for the person recently.
var ErrLocked = errors.New("proof.totp: too many failed codes; try again later or decide in the web app")

func (s *Store) checkLockout(ctx context.Context, personID string) error {
	var count int
	var since int64
	err := s.db.QueryRowContext(ctx, `SELECT failed_count, failed_since FROM totp_enrolments WHERE person_id = $1`, personID).Scan(&count, &since)
	if err != nil {
		return fmt.Errorf("look up totp failures for %s: %w", personID, err)
	}
	if count >= MaxFailures && s.now().UnixMilli()-since < LockoutWindow.Milliseconds() {
		return ErrLocked
	}
	return nil
}

// failed counts a failed code (a window older than LockoutWindow starts
// over) and returns cause.
func (s *Store) failed(ctx context.Context, personID string, cause error) error {
	now := s.now().UnixMilli()
	_, err := s.db.ExecContext(ctx,
		`UPDATE totp_enrolments SET
		   failed_count = CASE WHEN failed_since < $2 THEN 1 ELSE failed_count + 1 END,
		   failed_since = CASE WHEN failed_since < $2 THEN $3 ELSE failed_since END
		 WHERE person_id = $1`,
		personID, now-LockoutWindow.Milliseconds(), now)
	if err != nil {
		return fmt.Errorf("%w (and recording the failure failed: %v)", cause, err)
	}
	return cause
}

func (s *Store) lookup(ctx context.Context, personID string) (secret string, lastStep int64, err error) {
	err = s.db.QueryRowContext(ctx,
		`SELECT secret, last_step FROM totp_enrolments WHERE person_id = $1`, personID).
		Scan(&secret, &lastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, fmt.Errorf("%w: %q", ErrNotEnrolled, personID)
	}
	if err != nil {
		return "", 0, fmt.Errorf("look up totp enrolment for %s: %w", personID, err)
	}
	return secret, lastStep, nil
}

// Code returns the code for secret at t, for tests and the CLI.
func Code(secret string, t time.Time) (string, error) {
	st := step(t)
	if st < 0 {
		return "", fmt.Errorf("totp code: time %s is before the Unix epoch", t.Format(time.RFC3339))
	}
	c, err := hotp.GenerateCodeCustom(secret, uint64(st), opts)
	if err != nil {
		return "", fmt.Errorf("totp code: %w", err)
	}
	return c, nil
}

// step is the RFC 6238 counter at t, floored also for times before 1970.
func step(t time.Time) int64 {
	sec, period := t.Unix(), int64(Period/time.Second)
	st := sec / period
	if sec%period < 0 {
		st--
	}
	return st
}

// wellFormed is checked before the database is touched: exactly Digits ASCII
// digits, no spaces or Unicode digits that the app never shows.
func wellFormed(code string) bool {
	if len(code) != Digits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}
