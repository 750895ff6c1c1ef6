package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/execution-orchestrator/orchestrator/connectors/ticketing"
)

// projectRE is a project key: an upper-case letter, then 1 to 9 upper-case
// letters or digits ("SUP", "ENG").
var projectRE = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,9}$`)

const (
	maxTitle = 200
	maxText  = 10000
	maxName  = 100
)

// maxLen refuses v longer than n bytes, naming field.
func maxLen(field, v string, n int) error {
	if len(v) > n {
		return fieldError{field: field, msg: field + " must be at most " + strconv.Itoa(n) + " bytes"}
	}
	return nil
}

// requiredName is a required short text such as a person id.
func requiredName(field, v string) error {
	if err := required(field, v); err != nil {
		return err
	}
	return maxLen(field, v, maxName)
}

func validateIssue(r ticketing.IssueRequest) error {
	var errs []error
	if !projectRE.MatchString(r.Project) {
		errs = append(errs, fieldError{field: "project", msg: "project must be 2 to 10 upper-case letters or digits, starting with a letter (e.g. SUP)"})
	}
	if err := required("title", r.Title); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, maxLen("title", r.Title, maxTitle), maxLen("description", r.Description, maxText))
	if !slices.Contains(ticketing.Priorities(), r.Priority) {
		errs = append(errs, fieldError{field: "priority", msg: `priority must be "P1", "P2", "P3" or "P4"`})
	}
	errs = append(errs, maxLen("assignee", r.Assignee, maxName), maxLen("accountId", r.AccountID, maxName))
	return errors.Join(errs...)
}

// transitionError is an invalid status change: a 409 naming from and to.
type transitionError struct{ id, from, to string }

func (e transitionError) Error() string {
	return fmt.Sprintf("issue %s cannot move from %s to %s", e.id, e.from, e.to)
}

// failTicket maps ticketing errors to answers; the rest go to fail.
func (s *Server) failTicket(w http.ResponseWriter, r *http.Request, err error) {
	var te transitionError
	switch {
	case errors.As(err, &te):
		writeError(w, http.StatusConflict, te.Error(), "to")
	case errors.Is(err, errKeyReuse):
		writeKeyReuse(w)
	default:
		s.fail(w, r, err, "issue")
	}
}

// decodeValid decodes the body into v and validates it, answering the
// failure; ok says whether to go on.
func (s *Server) decodeValid(w http.ResponseWriter, r *http.Request, v any, validate func() error) bool {
	if err := decode(r, v); err != nil {
		s.failTicket(w, r, err)
		return false
	}
	if err := firstFieldError(validate()); err != nil {
		s.failTicket(w, r, err)
		return false
	}
	return true
}

func (s *Server) createIssue(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var req ticketing.IssueRequest
	if !s.decodeValid(w, r, &req, func() error { return validateIssue(req) }) {
		return
	}
	now := s.now().UTC()
	s.writeMu.Lock()
	replay, err := s.store.once(r.Context(), "ticketing.create", key, contentHash(req), now, func(tx *sql.Tx) error {
		_, err := s.store.insertIssue(r.Context(), tx, key, req, now)
		return err
	})
	s.writeMu.Unlock()
	if err != nil {
		s.failTicket(w, r, err)
		return
	}
	iss, err := s.store.issueByKey(r.Context(), key)
	if err != nil {
		s.failTicket(w, r, err)
		return
	}
	if !replay {
		s.log.InfoContext(r.Context(), "sandbox issue created", "issue", iss.ID, "priority", iss.Priority)
	}
	writeJSON(w, keyedStatus(w, replay, http.StatusCreated, http.StatusOK), iss)
}

func (s *Server) getIssue(w http.ResponseWriter, r *http.Request) {
	iss, err := s.store.getIssue(r.Context(), r.PathValue("id"))
	if err != nil {
		s.failTicket(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, iss)
}

// listIssues filters by status (comma-separated, any of), priority, project
// and accountId.
func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := ticketing.Filter{Priority: q.Get("priority"), Project: q.Get("project"), AccountID: q.Get("accountId")}
	if v := q.Get("status"); v != "" {
		f.Statuses = strings.Split(v, ",")
	}
	var err error
	for _, st := range f.Statuses {
		if !slices.Contains(ticketing.Statuses(), st) {
			err = fieldError{field: "status", msg: `status must be "open", "in_progress", "resolved" or "closed" (comma-separated for any of several)`}
		}
	}
	if f.Priority != "" && !slices.Contains(ticketing.Priorities(), f.Priority) {
		err = fieldError{field: "priority", msg: `priority must be "P1", "P2", "P3" or "P4"`}
	}
	if f.Project != "" && !projectRE.MatchString(f.Project) {
		err = fieldError{field: "project", msg: "project must be 2 to 10 upper-case letters or digits, starting with a letter"}
	}
	if err != nil {
		s.failTicket(w, r, err)
		return
	}
	list, err := s.store.listIssues(r.Context(), f)
	if err != nil {
		s.failTicket(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// mutateIssue runs a keyed change of one issue (scope names the kind of
// change) and answers the issue as it is afterwards: status on a first
// application, 200 on a replay.
func (s *Server) mutateIssue(w http.ResponseWriter, r *http.Request, key, scope string, req any, status int,
	apply func(ctx context.Context, tx *sql.Tx, id string, now time.Time) error) {
	id := r.PathValue("id")
	now := s.now().UTC()
	s.writeMu.Lock()
	replay, err := s.store.once(r.Context(), scope+":"+id, key, contentHash(req), now, func(tx *sql.Tx) error {
		if err := s.store.issueExists(r.Context(), tx, id); err != nil {
			return err
		}
		if err := apply(r.Context(), tx, id, now); err != nil {
			return err
		}
		return s.store.touchIssue(r.Context(), tx, id, now)
	})
	s.writeMu.Unlock()
	if err != nil {
		s.failTicket(w, r, err)
		return
	}
	iss, err := s.store.getIssue(r.Context(), id)
	if err != nil {
		s.failTicket(w, r, err)
		return
	}
	writeJSON(w, keyedStatus(w, replay, status, http.StatusOK), iss)
}

type transitionRequest struct {
	To string `json:"to"`
	By string `json:"by"`
}

func (s *Server) transitionIssue(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var req transitionRequest
	if !s.decodeValid(w, r, &req, func() error {
		if !slices.Contains(ticketing.Statuses(), req.To) {
			return fieldError{field: "to", msg: `to must be "open", "in_progress", "resolved" or "closed"`}
		}
		return requiredName("by", req.By)
	}) {
		return
	}
	s.mutateIssue(w, r, key, "ticketing.transition", req, http.StatusOK, func(ctx context.Context, tx *sql.Tx, id string, now time.Time) error {
		return s.store.transitionIssue(ctx, tx, id, req.To, req.By, now)
	})
}

type assigneeRequest struct {
	Assignee string `json:"assignee"`
}

func (s *Server) assignIssue(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var req assigneeRequest
	if !s.decodeValid(w, r, &req, func() error { return requiredName("assignee", req.Assignee) }) {
		return
	}
	s.mutateIssue(w, r, key, "ticketing.assign", req, http.StatusOK, func(ctx context.Context, tx *sql.Tx, id string, _ time.Time) error {
		_, err := tx.ExecContext(ctx, s.store.q(`UPDATE sandbox_tickets SET assignee = ? WHERE id = ?`), req.Assignee, id)
		if err != nil {
			return fmt.Errorf("assign issue %s: %w", id, err)
		}
		return nil
	})
}

type commentRequest struct {
	Author string `json:"author"`
	Body   string `json:"body"`
}

func (s *Server) commentIssue(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var req commentRequest
	if !s.decodeValid(w, r, &req, func() error {
		return errors.Join(requiredName("author", req.Author), required("body", req.Body), maxLen("body", req.Body, maxText))
	}) {
		return
	}
	s.mutateIssue(w, r, key, "ticketing.comment", req, http.StatusCreated, func(ctx context.Context, tx *sql.Tx, id string, now time.Time) error {
		c := ticketing.Comment{ID: derivedID("CMT-", "comment:"+id, key), Author: req.Author, Body: req.Body, At: now}
		return s.store.insertComment(ctx, tx, id, c)
	})
}

func (s *Server) linkIssue(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var req ticketing.Link
	if !s.decodeValid(w, r, &req, func() error {
		if !slices.Contains(ticketing.LinkTypes(), req.Type) {
			return fieldError{field: "type", msg: `type must be "relates", "blocks" or "caused_by"`}
		}
		if err := required("issueId", req.IssueID); err != nil {
			return err
		}
		if req.IssueID == r.PathValue("id") {
			return fieldError{field: "issueId", msg: "an issue cannot link to itself"}
		}
		return nil
	}) {
		return
	}
	s.mutateIssue(w, r, key, "ticketing.link", req, http.StatusCreated, func(ctx context.Context, tx *sql.Tx, id string, _ time.Time) error {
		if err := s.store.issueExists(ctx, tx, req.IssueID); errors.Is(err, errNotFound) {
			return fieldError{field: "issueId", msg: "issue " + req.IssueID + " does not exist"}
		} else if err != nil {
			return err
		}
		return s.store.insertLink(ctx, tx, id, req)
	})
}

// --- store ---

// insertIssue numbers a new issue within its project and stores it open.
func (s *store) insertIssue(ctx context.Context, tx *sql.Tx, key string, req ticketing.IssueRequest, now time.Time) (string, error) {
	var num int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(MAX(num), 0) + 1 FROM sandbox_tickets WHERE project = ?`), req.Project).Scan(&num); err != nil {
		return "", fmt.Errorf("number issue in %s: %w", req.Project, err)
	}
	seq, err := s.nextSeq(ctx, tx, "sandbox_tickets", "")
	if err != nil {
		return "", err
	}
	iss := ticketing.Issue{ID: fmt.Sprintf("TCK-%s-%d", req.Project, num), IdempotencyKey: key, Project: req.Project,
		Title: req.Title, Description: req.Description, Priority: req.Priority, Status: ticketing.StatusOpen,
		Assignee: req.Assignee, AccountID: req.AccountID, CreatedAt: now, UpdatedAt: now}
	return iss.ID, s.putIssue(ctx, tx, iss, num, seq)
}

func (s *store) putIssue(ctx context.Context, ex execer, iss ticketing.Issue, num, seq int64) error {
	resolved := ""
	if iss.ResolvedAt != nil {
		resolved = formatStoreTime(*iss.ResolvedAt)
	}
	_, err := ex.ExecContext(ctx, s.q(`INSERT INTO sandbox_tickets (id, idempotency_key, project, num, title, description, priority,
			status, assignee, account_id, created_at, updated_at, resolved_at, seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		iss.ID, iss.IdempotencyKey, iss.Project, num, iss.Title, iss.Description, iss.Priority, iss.Status, iss.Assignee,
		iss.AccountID, formatStoreTime(iss.CreatedAt), formatStoreTime(iss.UpdatedAt), resolved, seq)
	if err != nil {
		return fmt.Errorf("insert issue %s: %w", iss.ID, err)
	}
	return nil
}

// execer is a *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *store) issueExists(ctx context.Context, tx *sql.Tx, id string) error {
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM sandbox_tickets WHERE id = ?`), id).Scan(&n); err != nil {
		return fmt.Errorf("find issue %s: %w", id, err)
	}
	if n == 0 {
		return errNotFound
	}
	return nil
}

func (s *store) touchIssue(ctx context.Context, tx *sql.Tx, id string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE sandbox_tickets SET updated_at = ? WHERE id = ?`), formatStoreTime(now), id); err != nil {
		return fmt.Errorf("touch issue %s: %w", id, err)
	}
	return nil
}

// transitionIssue moves an issue to status to if the workflow allows it,
// recording the change; resolving sets resolvedAt, reopening clears it.
func (s *store) transitionIssue(ctx context.Context, tx *sql.Tx, id, to, by string, now time.Time) error {
	var from string
	if err := tx.QueryRowContext(ctx, s.q(`SELECT status FROM sandbox_tickets WHERE id = ?`), id).Scan(&from); err != nil {
		return fmt.Errorf("read status of %s: %w", id, err)
	}
	if !ticketing.CanTransition(from, to) {
		return transitionError{id: id, from: from, to: to}
	}
	resolved := "resolved_at"
	args := []any{to}
	switch to {
	case ticketing.StatusResolved:
		resolved = "?"
		args = append(args, formatStoreTime(now))
	case ticketing.StatusOpen:
		resolved = "''"
	}
	args = append(args, id)
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE sandbox_tickets SET status = ?, resolved_at = `+resolved+` WHERE id = ?`), args...); err != nil {
		return fmt.Errorf("transition %s: %w", id, err)
	}
	return s.insertHistory(ctx, tx, id, ticketing.Transition{From: from, To: to, By: by, At: now})
}

func (s *store) insertHistory(ctx context.Context, tx *sql.Tx, id string, t ticketing.Transition) error {
	seq, err := s.nextSeq(ctx, tx, "sandbox_ticket_history", "issue_id = ?", id)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO sandbox_ticket_history (issue_id, seq, from_status, to_status, by_whom, at) VALUES (?, ?, ?, ?, ?, ?)`),
		id, seq, t.From, t.To, t.By, formatStoreTime(t.At))
	if err != nil {
		return fmt.Errorf("record transition of %s: %w", id, err)
	}
	return nil
}

func (s *store) insertComment(ctx context.Context, tx *sql.Tx, id string, c ticketing.Comment) error {
	seq, err := s.nextSeq(ctx, tx, "sandbox_ticket_comments", "issue_id = ?", id)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO sandbox_ticket_comments (issue_id, id, author, body, at, seq) VALUES (?, ?, ?, ?, ?, ?)`),
		id, c.ID, c.Author, c.Body, formatStoreTime(c.At), seq)
	if err != nil {
		return fmt.Errorf("add comment to %s: %w", id, err)
	}
	return nil
}

// insertLink adds a link unless the issue has it already (links are a set).
func (s *store) insertLink(ctx context.Context, tx *sql.Tx, id string, l ticketing.Link) error {
	seq, err := s.nextSeq(ctx, tx, "sandbox_ticket_links", "issue_id = ?", id)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO sandbox_ticket_links (issue_id, link_type, target_id, seq) VALUES (?, ?, ?, ?)
		ON CONFLICT DO NOTHING`), id, l.Type, l.IssueID, seq)
	if err != nil {
		return fmt.Errorf("link %s to %s: %w", id, l.IssueID, err)
	}
	return nil
}

const issueCols = `id, idempotency_key, project, title, description, priority, status, assignee, account_id, created_at, updated_at, resolved_at`

func scanIssue(r scanner) (ticketing.Issue, error) {
	var (
		iss                       ticketing.Issue
		created, updated, resolvd string
	)
	if err := r.Scan(&iss.ID, &iss.IdempotencyKey, &iss.Project, &iss.Title, &iss.Description, &iss.Priority, &iss.Status,
		&iss.Assignee, &iss.AccountID, &created, &updated, &resolvd); err != nil {
		return iss, err
	}
	var err error
	if iss.CreatedAt, err = parseStoreTime("createdAt of "+iss.ID, created); err != nil {
		return iss, err
	}
	if iss.UpdatedAt, err = parseStoreTime("updatedAt of "+iss.ID, updated); err != nil {
		return iss, err
	}
	if resolvd != "" {
		t, err := parseStoreTime("resolvedAt of "+iss.ID, resolvd)
		if err != nil {
			return iss, err
		}
		iss.ResolvedAt = &t
	}
	return iss, nil
}

func (s *store) issueByKey(ctx context.Context, key string) (ticketing.Issue, error) {
	var id string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id FROM sandbox_tickets WHERE idempotency_key = ?`), key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return ticketing.Issue{}, errNotFound
	}
	if err != nil {
		return ticketing.Issue{}, fmt.Errorf("get issue by key %s: %w", key, err)
	}
	return s.getIssue(ctx, id)
}

func (s *store) getIssue(ctx context.Context, id string) (ticketing.Issue, error) {
	iss, err := scanIssue(s.db.QueryRowContext(ctx, s.q(`SELECT `+issueCols+` FROM sandbox_tickets WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return ticketing.Issue{}, errNotFound
	}
	if err != nil {
		return ticketing.Issue{}, fmt.Errorf("get issue %s: %w", id, err)
	}
	return iss, s.issueDetails(ctx, &iss)
}

// listIssues returns the issues matching f, oldest first.
func (s *store) listIssues(ctx context.Context, f ticketing.Filter) ([]ticketing.Issue, error) {
	query, args := `SELECT `+issueCols+` FROM sandbox_tickets WHERE 1=1`, []any{}
	if len(f.Statuses) > 0 {
		query += ` AND status IN (?` + strings.Repeat(", ?", len(f.Statuses)-1) + `)`
		for _, st := range f.Statuses {
			args = append(args, st)
		}
	}
	for _, c := range []struct{ col, v string }{{"priority", f.Priority}, {"project", f.Project}, {"account_id", f.AccountID}} {
		if c.v != "" {
			query += ` AND ` + c.col + ` = ?`
			args = append(args, c.v)
		}
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+` ORDER BY seq, id`), args...)
	if err != nil {
		return nil, fmt.Errorf("list issues: %w", err)
	}
	defer rows.Close()
	out := []ticketing.Issue{}
	for rows.Next() {
		iss, err := scanIssue(rows)
		if err != nil {
			return nil, fmt.Errorf("scan issue: %w", err)
		}
		out = append(out, iss)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list issues: %w", err)
	}
	rows.Close()
	for i := range out {
		if err := s.issueDetails(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// issueDetails loads an issue's comments, links and history.
func (s *store) issueDetails(ctx context.Context, iss *ticketing.Issue) error {
	iss.Comments, iss.Links, iss.History = []ticketing.Comment{}, []ticketing.Link{}, []ticketing.Transition{}
	err := s.each(ctx, `SELECT id, author, body, at FROM sandbox_ticket_comments WHERE issue_id = ? ORDER BY seq`, []any{iss.ID},
		func(r scanner) error {
			var c ticketing.Comment
			var at string
			if err := r.Scan(&c.ID, &c.Author, &c.Body, &at); err != nil {
				return err
			}
			t, err := parseStoreTime("comment time", at)
			c.At = t
			iss.Comments = append(iss.Comments, c)
			return err
		})
	if err != nil {
		return fmt.Errorf("comments of %s: %w", iss.ID, err)
	}
	err = s.each(ctx, `SELECT link_type, target_id FROM sandbox_ticket_links WHERE issue_id = ? ORDER BY seq`, []any{iss.ID},
		func(r scanner) error {
			var l ticketing.Link
			err := r.Scan(&l.Type, &l.IssueID)
			iss.Links = append(iss.Links, l)
			return err
		})
	if err != nil {
		return fmt.Errorf("links of %s: %w", iss.ID, err)
	}
	err = s.each(ctx, `SELECT from_status, to_status, by_whom, at FROM sandbox_ticket_history WHERE issue_id = ? ORDER BY seq`, []any{iss.ID},
		func(r scanner) error {
			var t ticketing.Transition
			var at string
			if err := r.Scan(&t.From, &t.To, &t.By, &at); err != nil {
				return err
			}
			var err error
			t.At, err = parseStoreTime("transition time", at)
			iss.History = append(iss.History, t)
			return err
		})
	if err != nil {
		return fmt.Errorf("history of %s: %w", iss.ID, err)
	}
	return nil
}

// each runs query and calls fn for every row.
func (s *store) each(ctx context.Context, query string, args []any, fn func(scanner) error) error {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *store) noIssues(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sandbox_tickets`).Scan(&n); err != nil {
		return false, fmt.Errorf("count issues: %w", err)
	}
	return n == 0, nil
}
