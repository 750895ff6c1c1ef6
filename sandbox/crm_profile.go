package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/execution-orchestrator/orchestrator/connectors/crm"
)

// setAccountHealth records a health score (0..100) once per (account,
// Idempotency-Key): the same key and score again is a replay (200), the same
// key with another score a 409.
func (s *Server) setAccountHealth(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var req struct {
		Score *int `json:"score"`
	}
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err, "account")
		return
	}
	if req.Score == nil || *req.Score < 0 || *req.Score > 100 {
		s.fail(w, r, fieldError{field: "score", msg: "score must be an integer from 0 to 100"}, "account")
		return
	}
	id, ctx, now := r.PathValue("id"), r.Context(), s.now().UTC()
	s.writeMu.Lock()
	replay, err := s.store.once(ctx, "crm.setHealth:"+id, key, contentHash(req), now, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.store.q(`SELECT COUNT(*) FROM sandbox_crm_accounts WHERE id = ?`), id).Scan(&n); err != nil {
			return fmt.Errorf("find account %s: %w", id, err)
		}
		if n == 0 {
			return errNotFound
		}
		return s.store.addHealth(ctx, tx, id, crm.HealthPoint{Score: *req.Score, At: now})
	})
	s.writeMu.Unlock()
	if errors.Is(err, errKeyReuse) {
		writeKeyReuse(w)
		return
	}
	if err != nil {
		s.fail(w, r, err, "account")
		return
	}
	a, err := s.store.getAccount(ctx, id)
	if err != nil {
		s.fail(w, r, err, "account")
		return
	}
	writeJSON(w, keyedStatus(w, replay, http.StatusCreated, http.StatusOK), a)
}

// accountFilter reads the listing filters email, tier and healthBelow.
func accountFilter(r *http.Request) (crm.AccountFilter, error) {
	q := r.URL.Query()
	f := crm.AccountFilter{Email: strings.TrimSpace(q.Get("email")), Tier: q.Get("tier")}
	if v := q.Get("healthBelow"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 101 {
			return f, fieldError{field: "healthBelow", msg: "healthBelow must be an integer from 1 to 101"}
		}
		f.HealthBelow = n
	}
	if f.Tier != "" && !slices.Contains([]string{crm.TierEnterprise, crm.TierMidMarket, crm.TierSMB}, f.Tier) {
		return f, fieldError{field: "tier", msg: `tier must be "enterprise", "mid-market" or "smb"`}
	}
	return f, nil
}

// keepAccount reports whether a passes f's tier and health filters (the
// store applies the email filter).
func keepAccount(f crm.AccountFilter, a crm.Account) bool {
	if f.Tier != "" && a.Tier != f.Tier {
		return false
	}
	if f.HealthBelow > 0 && (a.HealthScore == nil || *a.HealthScore >= f.HealthBelow) {
		return false
	}
	return true
}

// --- store ---

// addHealth appends a score to an account's health history.
func (s *store) addHealth(ctx context.Context, ex execer, accountID string, p crm.HealthPoint) error {
	var seq int64
	if err := ex.QueryRowContext(ctx, s.q(`SELECT COALESCE(MAX(seq), 0) + 1 FROM sandbox_crm_health WHERE account_id = ?`), accountID).Scan(&seq); err != nil {
		return fmt.Errorf("next health seq of %s: %w", accountID, err)
	}
	_, err := ex.ExecContext(ctx, s.q(`INSERT INTO sandbox_crm_health (account_id, seq, score, at) VALUES (?, ?, ?, ?)`),
		accountID, seq, p.Score, formatStoreTime(p.At))
	if err != nil {
		return fmt.Errorf("add health of %s: %w", accountID, err)
	}
	return nil
}

// putProfile stores an account's commercial profile, replacing any.
func (s *store) putProfile(ctx context.Context, ex execer, a crm.Account) error {
	_, err := ex.ExecContext(ctx, s.q(`INSERT INTO sandbox_crm_profiles (account_id, arr_minor, currency, owner, csm, tier)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET arr_minor = excluded.arr_minor, currency = excluded.currency,
			owner = excluded.owner, csm = excluded.csm, tier = excluded.tier`),
		a.ID, a.ARRMinor, a.Currency, a.Owner, a.CSM, a.Tier)
	if err != nil {
		return fmt.Errorf("put profile of %s: %w", a.ID, err)
	}
	return nil
}

// withProfile fills in a's commercial profile and health; an account
// without them keeps zero values.
func (s *store) withProfile(ctx context.Context, a *crm.Account) error {
	err := s.db.QueryRowContext(ctx, s.q(`SELECT arr_minor, currency, owner, csm, tier FROM sandbox_crm_profiles WHERE account_id = ?`), a.ID).
		Scan(&a.ARRMinor, &a.Currency, &a.Owner, &a.CSM, &a.Tier)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("get profile of %s: %w", a.ID, err)
	}
	a.HealthHistory, a.HealthScore = nil, nil
	err = s.each(ctx, `SELECT score, at FROM sandbox_crm_health WHERE account_id = ? ORDER BY seq`, []any{a.ID}, func(r scanner) error {
		var p crm.HealthPoint
		var at string
		if err := r.Scan(&p.Score, &at); err != nil {
			return err
		}
		var err error
		p.At, err = parseStoreTime("health time", at)
		a.HealthHistory = append(a.HealthHistory, p)
		return err
	})
	if err != nil {
		return fmt.Errorf("health of %s: %w", a.ID, err)
	}
	if n := len(a.HealthHistory); n > 0 {
		score := a.HealthHistory[n-1].Score
		a.HealthScore = &score
	}
	return nil
}

func (s *store) noProfiles(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sandbox_crm_profiles`).Scan(&n); err != nil {
		return false, fmt.Errorf("count profiles: %w", err)
	}
	return n == 0, nil
}
