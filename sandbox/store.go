package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver (pure Go)

	"github.com/execution-orchestrator/orchestrator/connectors/deploy"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
)

// Store errors the HTTP layer maps to status codes.
var (
	errNotFound = errors.New("not found")
	errConflict = errors.New("conflict")
)

// store keeps the sandbox state in PostgreSQL or SQLite through database/sql.
// The SQL is shared; the only dialect difference is the placeholder style.
type store struct {
	db       *sql.DB
	postgres bool
}

// openStore opens PostgreSQL when databaseURL is set, else SQLite at
// sqlitePath, and creates the tables if missing. For PostgreSQL the caller
// chooses the schema with the search_path runtime parameter in the URL
// (e.g. "...?sslmode=disable&search_path=sandbox_t1"); pgx sends it on connect.
func openStore(ctx context.Context, databaseURL, sqlitePath string) (*store, error) {
	var (
		db  *sql.DB
		err error
		s   = &store{}
	)
	if databaseURL != "" {
		s.postgres = true
		db, err = sql.Open("pgx", databaseURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
	} else {
		if sqlitePath == "" {
			return nil, errors.New("sandbox config: SQLitePath is required when DatabaseURL is empty")
		}
		if dir := filepath.Dir(sqlitePath); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("create sqlite dir %s: %w", dir, err)
			}
		}
		db, err = sql.Open("sqlite", "file:"+sqlitePath+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", sqlitePath, err)
		}
		// One writer at a time is what SQLite can do anyway; a single
		// connection turns lock contention into queueing.
		db.SetMaxOpenConns(1)
	}
	s.db = db
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect sandbox database: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *store) Close() error { return s.db.Close() }

var schema = []string{
	`CREATE TABLE IF NOT EXISTS sandbox_vendors (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		iban TEXT NOT NULL,
		bic TEXT NOT NULL,
		account_holder TEXT NOT NULL,
		ap_name TEXT NOT NULL,
		ap_email TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS sandbox_invoices (
		id TEXT PRIMARY KEY,
		vendor_id TEXT NOT NULL,
		amount_minor BIGINT NOT NULL,
		currency TEXT NOT NULL,
		issue_date TEXT NOT NULL,
		due_date TEXT NOT NULL,
		iban TEXT NOT NULL,
		bic TEXT NOT NULL,
		account_holder TEXT NOT NULL,
		status TEXT NOT NULL,
		payment_reference TEXT NOT NULL DEFAULT '')`,
	`CREATE TABLE IF NOT EXISTS sandbox_invoice_notes (
		invoice_id TEXT NOT NULL,
		idempotency_key TEXT NOT NULL,
		text TEXT NOT NULL,
		seq BIGINT NOT NULL,
		PRIMARY KEY (invoice_id, idempotency_key))`,
	`CREATE TABLE IF NOT EXISTS sandbox_schedule (
		invoice_id TEXT PRIMARY KEY,
		approved BOOLEAN NOT NULL,
		pay_on TEXT NOT NULL,
		amount_minor BIGINT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS sandbox_payments (
		id TEXT PRIMARY KEY,
		idempotency_key TEXT NOT NULL UNIQUE,
		request_hash TEXT NOT NULL,
		invoice_id TEXT NOT NULL,
		body TEXT NOT NULL,
		released_at TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS sandbox_mail (
		message_id TEXT PRIMARY KEY,
		from_addr TEXT NOT NULL,
		to_addrs TEXT NOT NULL,
		subject TEXT NOT NULL,
		body TEXT NOT NULL,
		received_at TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS sandbox_artifacts (
		service TEXT NOT NULL,
		version TEXT NOT NULL,
		digest TEXT NOT NULL,
		pushed_at TEXT NOT NULL,
		PRIMARY KEY (service, version))`,
	`CREATE TABLE IF NOT EXISTS sandbox_releases (
		id TEXT PRIMARY KEY,
		idempotency_key TEXT NOT NULL UNIQUE,
		request_hash TEXT NOT NULL,
		target TEXT NOT NULL,
		service TEXT NOT NULL,
		version TEXT NOT NULL,
		artifact_digest TEXT NOT NULL,
		requested_by TEXT NOT NULL,
		status TEXT NOT NULL,
		detail TEXT NOT NULL DEFAULT '',
		created_at TEXT NOT NULL,
		seq BIGINT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS sandbox_crm_accounts (
		id TEXT PRIMARY KEY,
		idempotency_key TEXT NOT NULL UNIQUE,
		request_hash TEXT NOT NULL,
		name TEXT NOT NULL,
		email TEXT NOT NULL,
		phone TEXT NOT NULL,
		address TEXT NOT NULL,
		lat DOUBLE PRECISION NOT NULL,
		lon DOUBLE PRECISION NOT NULL,
		plan TEXT NOT NULL,
		status TEXT NOT NULL,
		verified_by TEXT NOT NULL DEFAULT '',
		closed_reason TEXT NOT NULL DEFAULT '',
		created_at TEXT NOT NULL,
		activated_at TEXT NOT NULL DEFAULT '',
		seq BIGINT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS sandbox_crm_accounts_email ON sandbox_crm_accounts (LOWER(email))`,
	`CREATE TABLE IF NOT EXISTS sandbox_crm_notes (
		account_id TEXT NOT NULL,
		idempotency_key TEXT NOT NULL,
		text TEXT NOT NULL,
		seq BIGINT NOT NULL,
		PRIMARY KEY (account_id, idempotency_key))`,
}

var tables = []string{"sandbox_vendors", "sandbox_invoices", "sandbox_invoice_notes", "sandbox_schedule", "sandbox_payments", "sandbox_mail",
	"sandbox_artifacts", "sandbox_releases", "sandbox_crm_accounts", "sandbox_crm_notes",
	"sandbox_crm_profiles", "sandbox_crm_health", "sandbox_idempotency",
	"sandbox_tickets", "sandbox_ticket_comments", "sandbox_ticket_links", "sandbox_ticket_history",
	"sandbox_chat_channels", "sandbox_chat_messages", "sandbox_chat_webhooks"}

func (s *store) migrate(ctx context.Context) error {
	for _, stmt := range slices.Concat(schema, escalationSchema) {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create sandbox tables: %w", err)
		}
	}
	return nil
}

// q rewrites "?" placeholders to "$n" for PostgreSQL.
func (s *store) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *store) wipe(ctx context.Context) error {
	for _, t := range tables {
		if _, err := s.db.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return fmt.Errorf("wipe %s: %w", t, err)
		}
	}
	return nil
}

func (s *store) empty(ctx context.Context) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM sandbox_vendors) + (SELECT COUNT(*) FROM sandbox_invoices)`).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("count sandbox rows: %w", err)
	}
	return n == 0, nil
}

// --- ERP ---

func (s *store) putVendor(ctx context.Context, v erp.Vendor) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sandbox_vendors (id, name, iban, bic, account_holder, ap_name, ap_email)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, iban = excluded.iban, bic = excluded.bic,
			account_holder = excluded.account_holder, ap_name = excluded.ap_name, ap_email = excluded.ap_email`),
		v.ID, v.Name, v.BankAccount.IBAN, v.BankAccount.BIC, v.BankAccount.AccountHolder, v.APContact.Name, v.APContact.Email)
	if err != nil {
		return fmt.Errorf("put vendor %s: %w", v.ID, err)
	}
	return nil
}

func (s *store) getVendor(ctx context.Context, id string) (erp.Vendor, error) {
	var v erp.Vendor
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, name, iban, bic, account_holder, ap_name, ap_email FROM sandbox_vendors WHERE id = ?`), id).
		Scan(&v.ID, &v.Name, &v.BankAccount.IBAN, &v.BankAccount.BIC, &v.BankAccount.AccountHolder, &v.APContact.Name, &v.APContact.Email)
	if errors.Is(err, sql.ErrNoRows) {
		return erp.Vendor{}, errNotFound
	}
	if err != nil {
		return erp.Vendor{}, fmt.Errorf("get vendor %s: %w", id, err)
	}
	return v, nil
}

// putInvoice creates or replaces an invoice. Notes are history and survive a
// replace.
func (s *store) putInvoice(ctx context.Context, inv erp.Invoice) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sandbox_invoices (id, vendor_id, amount_minor, currency, issue_date, due_date, iban, bic, account_holder, status, payment_reference)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET vendor_id = excluded.vendor_id, amount_minor = excluded.amount_minor,
			currency = excluded.currency, issue_date = excluded.issue_date, due_date = excluded.due_date,
			iban = excluded.iban, bic = excluded.bic, account_holder = excluded.account_holder,
			status = excluded.status, payment_reference = excluded.payment_reference`),
		inv.ID, inv.VendorID, inv.AmountMinor, inv.Currency, inv.IssueDate, inv.DueDate,
		inv.BankAccount.IBAN, inv.BankAccount.BIC, inv.BankAccount.AccountHolder, inv.Status, inv.PaymentReference)
	if err != nil {
		return fmt.Errorf("put invoice %s: %w", inv.ID, err)
	}
	return nil
}

const invoiceCols = `id, vendor_id, amount_minor, currency, issue_date, due_date, iban, bic, account_holder, status, payment_reference`

type scanner interface{ Scan(dest ...any) error }

func scanInvoice(r scanner) (erp.Invoice, error) {
	var inv erp.Invoice
	err := r.Scan(&inv.ID, &inv.VendorID, &inv.AmountMinor, &inv.Currency, &inv.IssueDate, &inv.DueDate,
		&inv.BankAccount.IBAN, &inv.BankAccount.BIC, &inv.BankAccount.AccountHolder, &inv.Status, &inv.PaymentReference)
	return inv, err
}

func (s *store) getInvoice(ctx context.Context, id string) (erp.Invoice, error) {
	inv, err := scanInvoice(s.db.QueryRowContext(ctx, s.q(`SELECT `+invoiceCols+` FROM sandbox_invoices WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return erp.Invoice{}, errNotFound
	}
	if err != nil {
		return erp.Invoice{}, fmt.Errorf("get invoice %s: %w", id, err)
	}
	inv.Notes, err = s.notes(ctx, id)
	if err != nil {
		return erp.Invoice{}, err
	}
	return inv, nil
}

func (s *store) notes(ctx context.Context, invoiceID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT text FROM sandbox_invoice_notes WHERE invoice_id = ? ORDER BY seq`), invoiceID)
	if err != nil {
		return nil, fmt.Errorf("list notes of %s: %w", invoiceID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("scan note of %s: %w", invoiceID, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// listInvoices filters by status (when non-empty) and by dueDate < dueBefore
// (when non-empty; dates are YYYY-MM-DD so text order is date order).
func (s *store) listInvoices(ctx context.Context, status, dueBefore string) ([]erp.Invoice, error) {
	query := `SELECT ` + invoiceCols + ` FROM sandbox_invoices WHERE 1=1`
	var args []any
	if status != "" {
		query += ` AND status = ?`
		args = append(args, status)
	}
	if dueBefore != "" {
		query += ` AND due_date < ?`
		args = append(args, dueBefore)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+` ORDER BY id`), args...)
	if err != nil {
		return nil, fmt.Errorf("list invoices: %w", err)
	}
	defer rows.Close()
	out := []erp.Invoice{}
	for rows.Next() {
		inv, err := scanInvoice(rows)
		if err != nil {
			return nil, fmt.Errorf("scan invoice: %w", err)
		}
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list invoices: %w", err)
	}
	for i := range out {
		if out[i].Notes, err = s.notes(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// markPaid flips an open invoice to paid with reference. Marking it again
// with the same reference is a no-op; a different reference is errConflict.
func (s *store) markPaid(ctx context.Context, id, reference string) (erp.Invoice, error) {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE sandbox_invoices SET status = ?, payment_reference = ? WHERE id = ? AND status = ?`),
		erp.InvoicePaid, reference, id, erp.InvoiceOpen)
	if err != nil {
		return erp.Invoice{}, fmt.Errorf("mark invoice %s paid: %w", id, err)
	}
	inv, err := s.getInvoice(ctx, id)
	if err != nil {
		return erp.Invoice{}, err
	}
	if inv.Status != erp.InvoicePaid || inv.PaymentReference != reference {
		return inv, errConflict
	}
	return inv, nil
}

// addNote appends a note once per (invoice, idempotency key). It reports
// whether the note was new.
func (s *store) addNote(ctx context.Context, invoiceID, key, text string) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sandbox_invoice_notes (invoice_id, idempotency_key, text, seq)
		SELECT ?, ?, ?, COALESCE(MAX(seq), 0) + 1 FROM sandbox_invoice_notes WHERE invoice_id = ?
		ON CONFLICT (invoice_id, idempotency_key) DO NOTHING`), invoiceID, key, text, invoiceID)
	if err != nil {
		return false, fmt.Errorf("add note to %s: %w", invoiceID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("add note to %s: %w", invoiceID, err)
	}
	return n == 1, nil
}

func (s *store) putSchedule(ctx context.Context, e erp.ScheduleEntry) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sandbox_schedule (invoice_id, approved, pay_on, amount_minor) VALUES (?, ?, ?, ?)
		ON CONFLICT (invoice_id) DO UPDATE SET approved = excluded.approved, pay_on = excluded.pay_on, amount_minor = excluded.amount_minor`),
		e.InvoiceID, e.Approved, e.PayOn, e.AmountMinor)
	if err != nil {
		return fmt.Errorf("put schedule entry %s: %w", e.InvoiceID, err)
	}
	return nil
}

func (s *store) getSchedule(ctx context.Context, invoiceID string) (erp.ScheduleEntry, error) {
	var e erp.ScheduleEntry
	err := s.db.QueryRowContext(ctx, s.q(`SELECT invoice_id, approved, pay_on, amount_minor FROM sandbox_schedule WHERE invoice_id = ?`), invoiceID).
		Scan(&e.InvoiceID, &e.Approved, &e.PayOn, &e.AmountMinor)
	if errors.Is(err, sql.ErrNoRows) {
		return erp.ScheduleEntry{}, errNotFound
	}
	if err != nil {
		return erp.ScheduleEntry{}, fmt.Errorf("get schedule entry %s: %w", invoiceID, err)
	}
	return e, nil
}

// --- Treasury ---

// insertPayment stores p under its idempotency key unless the key is taken.
// It returns the stored payment, the request hash stored with it, and whether
// this call created it.
func (s *store) insertPayment(ctx context.Context, p treasury.Payment, requestHash string) (treasury.Payment, string, bool, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return treasury.Payment{}, "", false, fmt.Errorf("encode payment: %w", err)
	}
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sandbox_payments (id, idempotency_key, request_hash, invoice_id, body, released_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		p.ID, p.IdempotencyKey, requestHash, p.InvoiceID, string(body), p.ReleasedAt.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return treasury.Payment{}, "", false, fmt.Errorf("insert payment %s: %w", p.IdempotencyKey, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return treasury.Payment{}, "", false, fmt.Errorf("insert payment %s: %w", p.IdempotencyKey, err)
	}
	stored, hash, err := s.paymentByKey(ctx, p.IdempotencyKey)
	if err != nil {
		return treasury.Payment{}, "", false, err
	}
	return stored, hash, n == 1, nil
}

func (s *store) paymentByKey(ctx context.Context, key string) (treasury.Payment, string, error) {
	var body, hash string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT body, request_hash FROM sandbox_payments WHERE idempotency_key = ?`), key).Scan(&body, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return treasury.Payment{}, "", errNotFound
	}
	if err != nil {
		return treasury.Payment{}, "", fmt.Errorf("get payment by key %s: %w", key, err)
	}
	var p treasury.Payment
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return treasury.Payment{}, "", fmt.Errorf("decode payment %s: %w", key, err)
	}
	return p, hash, nil
}

func (s *store) getPayment(ctx context.Context, id string) (treasury.Payment, error) {
	var body string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT body FROM sandbox_payments WHERE id = ?`), id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return treasury.Payment{}, errNotFound
	}
	if err != nil {
		return treasury.Payment{}, fmt.Errorf("get payment %s: %w", id, err)
	}
	var p treasury.Payment
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return treasury.Payment{}, fmt.Errorf("decode payment %s: %w", id, err)
	}
	return p, nil
}

func (s *store) listPayments(ctx context.Context, invoiceID string) ([]treasury.Payment, error) {
	query, args := `SELECT body FROM sandbox_payments`, []any{}
	if invoiceID != "" {
		query += ` WHERE invoice_id = ?`
		args = append(args, invoiceID)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+` ORDER BY released_at, id`), args...)
	if err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	defer rows.Close()
	out := []treasury.Payment{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("scan payment: %w", err)
		}
		var p treasury.Payment
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			return nil, fmt.Errorf("decode payment: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// --- Mail ---

// insertMail stores m unless a message with the same Message-ID exists, and
// reports whether it was new.
func (s *store) insertMail(ctx context.Context, m email.StoredMessage) (bool, error) {
	to, err := json.Marshal(m.To)
	if err != nil {
		return false, fmt.Errorf("encode recipients: %w", err)
	}
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sandbox_mail (message_id, from_addr, to_addrs, subject, body, received_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING`),
		m.MessageID, m.From, string(to), m.Subject, m.Body, m.ReceivedAt.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return false, fmt.Errorf("store message %s: %w", m.MessageID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store message %s: %w", m.MessageID, err)
	}
	return n == 1, nil
}

func scanMail(r scanner) (email.StoredMessage, error) {
	var (
		m      email.StoredMessage
		to, at string
	)
	if err := r.Scan(&m.MessageID, &m.From, &to, &m.Subject, &m.Body, &at); err != nil {
		return m, err
	}
	if err := json.Unmarshal([]byte(to), &m.To); err != nil {
		return m, fmt.Errorf("decode recipients of %s: %w", m.MessageID, err)
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return m, fmt.Errorf("decode receivedAt of %s: %w", m.MessageID, err)
	}
	m.ReceivedAt = t
	return m, nil
}

const mailCols = `message_id, from_addr, to_addrs, subject, body, received_at`

func (s *store) getMail(ctx context.Context, messageID string) (email.StoredMessage, error) {
	m, err := scanMail(s.db.QueryRowContext(ctx, s.q(`SELECT `+mailCols+` FROM sandbox_mail WHERE message_id = ?`), messageID))
	if errors.Is(err, sql.ErrNoRows) {
		return email.StoredMessage{}, errNotFound
	}
	if err != nil {
		return email.StoredMessage{}, fmt.Errorf("get message %s: %w", messageID, err)
	}
	return m, nil
}

// listMail returns every message, oldest first, optionally only those with
// recipient to (case-insensitive).
func (s *store) listMail(ctx context.Context, to string) ([]email.StoredMessage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+mailCols+` FROM sandbox_mail ORDER BY received_at, message_id`)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	defer rows.Close()
	out := []email.StoredMessage{}
	for rows.Next() {
		m, err := scanMail(rows)
		if err != nil {
			return nil, fmt.Errorf("scan message: %w", err)
		}
		if to == "" || containsFold(m.To, to) {
			out = append(out, m)
		}
	}
	return out, rows.Err()
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// --- Deploy ---

// errDigestMismatch: the registry does not hold the requested digest for the
// version (another digest, or the version was never pushed).
var errDigestMismatch = errors.New("artifact digest mismatch")

// storeTime is fixed-width so that text order is time order; RFC3339Nano
// drops trailing zeros and would sort "…:00.5Z" before "…:00Z".
const storeTime = "2006-01-02T15:04:05.000000000Z"

func formatStoreTime(t time.Time) string { return t.UTC().Format(storeTime) }

// putArtifact points (service, version) at a.Digest. Pushing the digest it
// already has changes nothing, so pushedAt says when the content last changed.
func (s *store) putArtifact(ctx context.Context, a deploy.Artifact) (deploy.Artifact, error) {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sandbox_artifacts (service, version, digest, pushed_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (service, version) DO UPDATE SET digest = excluded.digest, pushed_at = excluded.pushed_at
		WHERE sandbox_artifacts.digest <> excluded.digest`),
		a.Service, a.Version, a.Digest, formatStoreTime(a.PushedAt))
	if err != nil {
		return deploy.Artifact{}, fmt.Errorf("put artifact %s@%s: %w", a.Service, a.Version, err)
	}
	return s.getArtifact(ctx, a.Service, a.Version)
}

func (s *store) getArtifact(ctx context.Context, service, version string) (deploy.Artifact, error) {
	a := deploy.Artifact{Service: service, Version: version}
	var at string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT digest, pushed_at FROM sandbox_artifacts WHERE service = ? AND version = ?`), service, version).
		Scan(&a.Digest, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return deploy.Artifact{}, errNotFound
	}
	if err != nil {
		return deploy.Artifact{}, fmt.Errorf("get artifact %s@%s: %w", service, version, err)
	}
	if a.PushedAt, err = time.Parse(storeTime, at); err != nil {
		return deploy.Artifact{}, fmt.Errorf("decode pushedAt of %s@%s: %w", service, version, err)
	}
	return a, nil
}

func (s *store) noArtifacts(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sandbox_artifacts`).Scan(&n); err != nil {
		return false, fmt.Errorf("count artifacts: %w", err)
	}
	return n == 0, nil
}

// insertRelease stores r under its idempotency key unless the key is taken,
// and only if the registry holds r.ArtifactDigest for the version: one
// statement, so a push racing the release cannot slip between check and
// insert. It returns the stored release, the request hash stored with it and
// whether this call created it; errDigestMismatch when the key is free but
// the digest is not what the registry holds.
//
// seq orders releases newest first even when the clock stands still. Two
// concurrent PostgreSQL inserts may draw the same seq; the id breaks the tie.
func (s *store) insertRelease(ctx context.Context, r deploy.Release, requestHash string) (deploy.Release, string, bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sandbox_releases (id, idempotency_key, request_hash, target, service, version,
			artifact_digest, requested_by, status, detail, created_at, seq)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, nx.next_seq
		FROM (SELECT COALESCE(MAX(seq), 0) + 1 AS next_seq FROM sandbox_releases) AS nx
		WHERE EXISTS (SELECT 1 FROM sandbox_artifacts WHERE service = ? AND version = ? AND digest = ?)
		ON CONFLICT DO NOTHING`),
		r.ID, r.IdempotencyKey, requestHash, r.Target, r.Service, r.Version, r.ArtifactDigest, r.RequestedBy, r.Status,
		formatStoreTime(r.CreatedAt), r.Service, r.Version, r.ArtifactDigest)
	if err != nil {
		return deploy.Release{}, "", false, fmt.Errorf("insert release %s: %w", r.IdempotencyKey, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return deploy.Release{}, "", false, fmt.Errorf("insert release %s: %w", r.IdempotencyKey, err)
	}
	stored, hash, err := s.releaseByKey(ctx, r.IdempotencyKey)
	if errors.Is(err, errNotFound) {
		return deploy.Release{}, "", false, errDigestMismatch
	}
	if err != nil {
		return deploy.Release{}, "", false, err
	}
	return stored, hash, n == 1, nil
}

const releaseCols = `id, idempotency_key, target, service, version, artifact_digest, requested_by, status, detail, created_at`

// scanRelease scans releaseCols, then any extra columns into extra.
func scanRelease(r scanner, extra ...any) (deploy.Release, error) {
	var (
		rel deploy.Release
		at  string
	)
	dest := append([]any{&rel.ID, &rel.IdempotencyKey, &rel.Target, &rel.Service, &rel.Version, &rel.ArtifactDigest,
		&rel.RequestedBy, &rel.Status, &rel.Detail, &at}, extra...)
	if err := r.Scan(dest...); err != nil {
		return rel, err
	}
	t, err := time.Parse(storeTime, at)
	if err != nil {
		return rel, fmt.Errorf("decode createdAt of %s: %w", rel.ID, err)
	}
	rel.CreatedAt = t
	return rel, nil
}

func (s *store) releaseByKey(ctx context.Context, key string) (deploy.Release, string, error) {
	var hash string
	rel, err := scanRelease(s.db.QueryRowContext(ctx, s.q(`SELECT `+releaseCols+`, request_hash FROM sandbox_releases WHERE idempotency_key = ?`), key), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return deploy.Release{}, "", errNotFound
	}
	if err != nil {
		return deploy.Release{}, "", fmt.Errorf("get release by key %s: %w", key, err)
	}
	return rel, hash, nil
}

func (s *store) getRelease(ctx context.Context, id string) (deploy.Release, error) {
	rel, err := scanRelease(s.db.QueryRowContext(ctx, s.q(`SELECT `+releaseCols+` FROM sandbox_releases WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return deploy.Release{}, errNotFound
	}
	if err != nil {
		return deploy.Release{}, fmt.Errorf("get release %s: %w", id, err)
	}
	return rel, nil
}

// listReleases returns releases newest first, filtered by target and service
// when non-empty; limit > 0 caps the count.
func (s *store) listReleases(ctx context.Context, target, service string, limit int) ([]deploy.Release, error) {
	query, args := `SELECT `+releaseCols+` FROM sandbox_releases WHERE 1=1`, []any{}
	if target != "" {
		query += ` AND target = ?`
		args = append(args, target)
	}
	if service != "" {
		query += ` AND service = ?`
		args = append(args, service)
	}
	query += ` ORDER BY seq DESC, id DESC`
	if limit > 0 {
		query += ` LIMIT ` + strconv.Itoa(limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	defer rows.Close()
	out := []deploy.Release{}
	for rows.Next() {
		rel, err := scanRelease(rows)
		if err != nil {
			return nil, fmt.Errorf("scan release: %w", err)
		}
		out = append(out, rel)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	return out, nil
}

// markUnhealthy records a failed rollout. It applies whatever the release's
// status, as a healthy service can start crash-looping later.
func (s *store) markUnhealthy(ctx context.Context, id, detail string) (deploy.Release, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE sandbox_releases SET status = ?, detail = ? WHERE id = ?`), deploy.StatusUnhealthy, detail, id)
	if err != nil {
		return deploy.Release{}, fmt.Errorf("mark release %s unhealthy: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return deploy.Release{}, fmt.Errorf("mark release %s unhealthy: %w", id, err)
	}
	if n == 0 {
		return deploy.Release{}, errNotFound
	}
	return s.getRelease(ctx, id)
}
