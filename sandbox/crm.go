package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/execution-orchestrator/orchestrator/connectors/crm"
)

// phoneRE admits international and local notations ("+351 21 000 0000",
// "(030) 123-456") while keeping letters and control characters out.
var phoneRE = regexp.MustCompile(`^\+?[0-9(][0-9 ()./-]{3,30}$`)

func validateAccount(r crm.AccountRequest) error {
	var errs []error
	if err := required("name", r.Name); err != nil {
		errs = append(errs, err)
	} else if len(r.Name) > 200 {
		errs = append(errs, fieldError{field: "name", msg: "name must be at most 200 bytes"})
	}
	if err := required("email", r.Email); err != nil {
		errs = append(errs, err)
	} else if a, err := mail.ParseAddress(r.Email); err != nil || a.Address != r.Email || len(r.Email) > 254 {
		errs = append(errs, fieldError{field: "email", msg: "email must be a bare address, e.g. joana@example.com"})
	}
	if r.Phone != "" && !phoneRE.MatchString(r.Phone) {
		errs = append(errs, fieldError{field: "phone", msg: "phone must be digits, spaces and + ( ) . / - (e.g. +351 21 000 0000)"})
	}
	if err := required("address", r.Address); err != nil {
		errs = append(errs, err)
	} else if len(r.Address) > 500 {
		errs = append(errs, fieldError{field: "address", msg: "address must be at most 500 bytes"})
	}
	switch {
	case r.Lat < -90 || r.Lat > 90:
		errs = append(errs, fieldError{field: "lat", msg: "lat must be between -90 and 90"})
	case r.Lon < -180 || r.Lon > 180:
		errs = append(errs, fieldError{field: "lon", msg: "lon must be between -180 and 180"})
	case r.Lat == 0 && r.Lon == 0:
		errs = append(errs, fieldError{field: "lat", msg: "lat and lon of the address are required"})
	}
	if !slices.Contains(crm.Plans(), r.Plan) {
		errs = append(errs, fieldError{field: "plan", msg: `plan must be "basic", "standard" or "premium"`})
	}
	return errors.Join(errs...)
}

func accountRequestHash(r crm.AccountRequest) string { return contentHash(r) }
func accountID(key string) string                    { return derivedID("ACC-", "account", key) }

// CloseAccount closes an account with reason, standing in for a customer who
// cancels (or an account a back office shuts) so a refused activation can be
// tested. Closing a closed account replaces the reason.
func (s *Server) CloseAccount(ctx context.Context, id, reason string) (crm.Account, error) {
	if err := required("reason", reason); err != nil {
		return crm.Account{}, err
	}
	a, err := s.store.closeAccount(ctx, id, reason)
	if err != nil {
		return crm.Account{}, fmt.Errorf("account %s: %w", id, err)
	}
	return a, nil
}

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var req crm.AccountRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err, "account")
		return
	}
	if err := firstFieldError(validateAccount(req)); err != nil {
		s.fail(w, r, err, "account")
		return
	}
	hash := accountRequestHash(req)
	acc := crm.Account{
		ID:             accountID(key),
		IdempotencyKey: key,
		Name:           req.Name,
		Email:          req.Email,
		Phone:          req.Phone,
		Address:        req.Address,
		Lat:            req.Lat,
		Lon:            req.Lon,
		Plan:           req.Plan,
		Status:         crm.StatusPending,
		CreatedAt:      s.now().UTC(),
	}
	stored, storedHash, created, err := s.store.insertAccount(r.Context(), acc, hash)
	if err != nil {
		s.fail(w, r, err, "account")
		return
	}
	if storedHash != hash {
		writeError(w, http.StatusConflict, "Idempotency-Key was already used with a different request", "Idempotency-Key")
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.InfoContext(r.Context(), "sandbox account created", "account", stored.ID, "plan", stored.Plan)
	}
	writeJSON(w, status, stored)
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) {
	a, err := s.store.getAccount(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err, "account")
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) {
	f, err := accountFilter(r)
	if err != nil {
		s.fail(w, r, err, "account")
		return
	}
	list, err := s.store.listAccounts(r.Context(), f.Email)
	if err != nil {
		s.fail(w, r, err, "account")
		return
	}
	writeJSON(w, http.StatusOK, slices.DeleteFunc(list, func(a crm.Account) bool { return !keepAccount(f, a) }))
}

func (s *Server) activateAccount(w http.ResponseWriter, r *http.Request) {
	var body struct {
		VerifiedBy string `json:"verifiedBy"`
	}
	if err := decode(r, &body); err != nil {
		s.fail(w, r, err, "account")
		return
	}
	if err := required("verifiedBy", body.VerifiedBy); err != nil {
		s.fail(w, r, err, "account")
		return
	}
	a, err := s.store.activateAccount(r.Context(), r.PathValue("id"), body.VerifiedBy, s.now().UTC())
	if errors.Is(err, errConflict) {
		writeError(w, http.StatusConflict, fmt.Sprintf("account %s is %s and cannot be activated", a.ID, a.Status), "status")
		return
	}
	if err != nil {
		s.fail(w, r, err, "account")
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) addAccountNote(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	text, ok := s.noteText(w, r, "account")
	if !ok {
		return
	}
	id := r.PathValue("id")
	if _, err := s.store.getAccount(r.Context(), id); err != nil {
		s.fail(w, r, err, "account")
		return
	}
	added, err := s.store.addAccountNote(r.Context(), id, key, text)
	if err != nil {
		s.fail(w, r, err, "account")
		return
	}
	a, err := s.store.getAccount(r.Context(), id)
	if err != nil {
		s.fail(w, r, err, "account")
		return
	}
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	writeJSON(w, status, a)
}

func (s *Server) postCloseAccount(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := decode(r, &body); err != nil {
		s.fail(w, r, err, "account")
		return
	}
	a, err := s.CloseAccount(r.Context(), r.PathValue("id"), body.Reason)
	if err != nil {
		s.fail(w, r, err, "account")
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// --- store ---

// insertAccount stores a under its idempotency key unless the key is taken.
// It returns the stored account, the request hash stored with it and whether
// this call created it. seq orders accounts oldest first even when the clock
// stands still.
func (s *store) insertAccount(ctx context.Context, a crm.Account, requestHash string) (crm.Account, string, bool, error) {
	// WHERE 1=1 lets SQLite tell the upsert's ON CONFLICT from a join's ON;
	// the casts tell PostgreSQL the parameters' types in a SELECT list.
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sandbox_crm_accounts (id, idempotency_key, request_hash, name, email, phone,
			address, lat, lon, plan, status, verified_by, closed_reason, created_at, activated_at, seq)
		SELECT ?, ?, ?, ?, ?, ?, ?, CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION), ?, ?, '', '', ?, '', nx.next_seq
		FROM (SELECT COALESCE(MAX(seq), 0) + 1 AS next_seq FROM sandbox_crm_accounts) AS nx
		WHERE 1=1
		ON CONFLICT DO NOTHING`),
		a.ID, a.IdempotencyKey, requestHash, a.Name, a.Email, a.Phone, a.Address, a.Lat, a.Lon, a.Plan, a.Status,
		formatStoreTime(a.CreatedAt))
	if err != nil {
		return crm.Account{}, "", false, fmt.Errorf("insert account %s: %w", a.IdempotencyKey, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return crm.Account{}, "", false, fmt.Errorf("insert account %s: %w", a.IdempotencyKey, err)
	}
	stored, hash, err := s.accountByKey(ctx, a.IdempotencyKey)
	if err != nil {
		return crm.Account{}, "", false, err
	}
	return stored, hash, n == 1, nil
}

const accountCols = `id, idempotency_key, name, email, phone, address, lat, lon, plan, status, verified_by, closed_reason, created_at, activated_at`

// scanAccount scans accountCols, then any extra columns into extra.
func scanAccount(r scanner, extra ...any) (crm.Account, error) {
	var (
		a              crm.Account
		created, activ string
	)
	dest := append([]any{&a.ID, &a.IdempotencyKey, &a.Name, &a.Email, &a.Phone, &a.Address, &a.Lat, &a.Lon, &a.Plan,
		&a.Status, &a.VerifiedBy, &a.ClosedReason, &created, &activ}, extra...)
	if err := r.Scan(dest...); err != nil {
		return a, err
	}
	if strings.HasPrefix(a.IdempotencyKey, seedKeyPrefix) {
		a.IdempotencyKey = "" // seed accounts have no key
	}
	t, err := time.Parse(storeTime, created)
	if err != nil {
		return a, fmt.Errorf("decode createdAt of %s: %w", a.ID, err)
	}
	a.CreatedAt = t
	if activ != "" {
		t, err := time.Parse(storeTime, activ)
		if err != nil {
			return a, fmt.Errorf("decode activatedAt of %s: %w", a.ID, err)
		}
		a.ActivatedAt = &t
	}
	return a, nil
}

func (s *store) accountByKey(ctx context.Context, key string) (crm.Account, string, error) {
	var hash string
	a, err := scanAccount(s.db.QueryRowContext(ctx, s.q(`SELECT `+accountCols+`, request_hash FROM sandbox_crm_accounts WHERE idempotency_key = ?`), key), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return crm.Account{}, "", errNotFound
	}
	if err != nil {
		return crm.Account{}, "", fmt.Errorf("get account by key %s: %w", key, err)
	}
	if a.Notes, err = s.accountNotes(ctx, a.ID); err != nil {
		return crm.Account{}, "", err
	}
	if err := s.withProfile(ctx, &a); err != nil {
		return crm.Account{}, "", err
	}
	return a, hash, nil
}

func (s *store) getAccount(ctx context.Context, id string) (crm.Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, s.q(`SELECT `+accountCols+` FROM sandbox_crm_accounts WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return crm.Account{}, errNotFound
	}
	if err != nil {
		return crm.Account{}, fmt.Errorf("get account %s: %w", id, err)
	}
	if a.Notes, err = s.accountNotes(ctx, id); err != nil {
		return crm.Account{}, err
	}
	if err := s.withProfile(ctx, &a); err != nil {
		return crm.Account{}, err
	}
	return a, nil
}

// listAccounts returns accounts oldest first, only those with email
// (compared without case) when it is non-empty.
func (s *store) listAccounts(ctx context.Context, email string) ([]crm.Account, error) {
	query, args := `SELECT `+accountCols+` FROM sandbox_crm_accounts`, []any{}
	if email != "" {
		query += ` WHERE LOWER(email) = LOWER(?)`
		args = append(args, email)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+` ORDER BY seq, id`), args...)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	out := []crm.Account{}
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("scan account: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	for i := range out {
		if out[i].Notes, err = s.accountNotes(ctx, out[i].ID); err != nil {
			return nil, err
		}
		if err := s.withProfile(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// activateAccount turns a pending account active, recording verifiedBy and
// at. An active account is returned as it is (the first activation's
// verifiedBy and time stand); a closed one is returned with errConflict.
func (s *store) activateAccount(ctx context.Context, id, verifiedBy string, at time.Time) (crm.Account, error) {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE sandbox_crm_accounts SET status = ?, verified_by = ?, activated_at = ? WHERE id = ? AND status = ?`),
		crm.StatusActive, verifiedBy, formatStoreTime(at), id, crm.StatusPending)
	if err != nil {
		return crm.Account{}, fmt.Errorf("activate account %s: %w", id, err)
	}
	a, err := s.getAccount(ctx, id)
	if err != nil {
		return crm.Account{}, err
	}
	if a.Status != crm.StatusActive {
		return a, errConflict
	}
	return a, nil
}

// closeAccount closes an account whatever its status.
func (s *store) closeAccount(ctx context.Context, id, reason string) (crm.Account, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE sandbox_crm_accounts SET status = ?, closed_reason = ? WHERE id = ?`), crm.StatusClosed, reason, id)
	if err != nil {
		return crm.Account{}, fmt.Errorf("close account %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return crm.Account{}, fmt.Errorf("close account %s: %w", id, err)
	}
	if n == 0 {
		return crm.Account{}, errNotFound
	}
	return s.getAccount(ctx, id)
}

// addAccountNote appends a note once per (account, idempotency key). It
// reports whether the note was new.
func (s *store) addAccountNote(ctx context.Context, accountID, key, text string) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sandbox_crm_notes (account_id, idempotency_key, text, seq)
		SELECT ?, ?, ?, COALESCE(MAX(seq), 0) + 1 FROM sandbox_crm_notes WHERE account_id = ?
		ON CONFLICT (account_id, idempotency_key) DO NOTHING`), accountID, key, text, accountID)
	if err != nil {
		return false, fmt.Errorf("add note to account %s: %w", accountID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("add note to account %s: %w", accountID, err)
	}
	return n == 1, nil
}

func (s *store) accountNotes(ctx context.Context, accountID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT text FROM sandbox_crm_notes WHERE account_id = ? ORDER BY seq`), accountID)
	if err != nil {
		return nil, fmt.Errorf("list notes of account %s: %w", accountID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("scan note of account %s: %w", accountID, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *store) noAccounts(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sandbox_crm_accounts`).Scan(&n); err != nil {
		return false, fmt.Errorf("count accounts: %w", err)
	}
	return n == 0, nil
}

// seedKeyPrefix starts the stand-in idempotency key of a seed account (the
// column is unique and not null). Control characters cannot travel in an
// HTTP header value, so no request can name it (and PostgreSQL text takes
// any but NUL).
const seedKeyPrefix = "\x01seed:"

// putSeedAccount stores a seed account as it is (no idempotency key; the
// HTTP API cannot create an account without one, so none collides) with its
// commercial profile and health history, when it has them.
func (s *store) putSeedAccount(ctx context.Context, a crm.Account) error {
	activated := ""
	if a.ActivatedAt != nil {
		activated = formatStoreTime(*a.ActivatedAt)
	}
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sandbox_crm_accounts (id, idempotency_key, request_hash, name, email, phone,
			address, lat, lon, plan, status, verified_by, closed_reason, created_at, activated_at, seq)
		VALUES (?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, 0)
		ON CONFLICT DO NOTHING`),
		a.ID, seedKeyPrefix+a.ID, a.Name, a.Email, a.Phone, a.Address, a.Lat, a.Lon, a.Plan, a.Status, a.VerifiedBy,
		formatStoreTime(a.CreatedAt), activated)
	if err != nil {
		return fmt.Errorf("put seed account %s: %w", a.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err // already there: leave its profile and history alone
	}
	if a.Tier != "" {
		if err := s.putProfile(ctx, s.db, a); err != nil {
			return err
		}
	}
	for _, p := range a.HealthHistory {
		if err := s.addHealth(ctx, s.db, a.ID, p); err != nil {
			return err
		}
	}
	return nil
}
