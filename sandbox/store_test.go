package sandbox

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
)

// testStoreArgs returns open arguments for an isolated store: a fresh
// PostgreSQL schema when DATABASE_URL is set, else a SQLite file.
func testStoreArgs(t *testing.T) (databaseURL, sqlitePath string) {
	t.Helper()
	sqlitePath = filepath.Join(t.TempDir(), "store.db")
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		return "", sqlitePath
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "sandbox_store_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", base)
	require.NoError(t, err)
	_, err = db.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := db.Exec("DROP SCHEMA " + schema + " CASCADE")
		assert.NoError(t, err)
		db.Close()
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), sqlitePath
}

func openTestStore(t *testing.T) *store {
	t.Helper()
	dbURL, path := testStoreArgs(t)
	st, err := openStore(context.Background(), dbURL, path)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func TestStoreRebind(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "a = $1 AND b = $2", (&store{postgres: true}).q("a = ? AND b = ?"))
	assert.Equal(t, "a = ? AND b = ?", (&store{}).q("a = ? AND b = ?"))
}

func TestStoreMarkPaid(t *testing.T) {
	t.Parallel()
	st := openTestStore(t)
	ctx := context.Background()
	invoices, _ := SeedInvoices(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, st.putInvoice(ctx, invoices[0]))
	id := invoices[0].ID

	tests := []struct {
		name    string
		id, ref string
		wantErr error
	}{
		{"first", id, "R1", nil},
		{"same reference", id, "R1", nil},
		{"other reference", id, "R2", errConflict},
		{"unknown invoice", "INV-X", "R1", errNotFound},
	}
	for _, tc := range tests {
		inv, err := st.markPaid(ctx, tc.id, tc.ref)
		if tc.wantErr != nil {
			assert.ErrorIs(t, err, tc.wantErr, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		assert.Equal(t, erp.InvoicePaid, inv.Status)
		assert.Equal(t, "R1", inv.PaymentReference)
	}
}

func TestStoreNotesAndSchedule(t *testing.T) {
	t.Parallel()
	st := openTestStore(t)
	ctx := context.Background()
	for _, step := range []struct {
		key, text string
		added     bool
	}{{"a", "one", true}, {"a", "one again", false}, {"b", "two", true}} {
		added, err := st.addNote(ctx, "INV-1", step.key, step.text)
		require.NoError(t, err)
		assert.Equal(t, step.added, added, step.key)
	}
	notes, err := st.notes(ctx, "INV-1")
	require.NoError(t, err)
	assert.Equal(t, []string{"one", "two"}, notes)

	_, err = st.getSchedule(ctx, "INV-1")
	assert.ErrorIs(t, err, errNotFound)
	e := erp.ScheduleEntry{InvoiceID: "INV-1", Approved: true, PayOn: "2026-01-01", AmountMinor: 10}
	require.NoError(t, st.putSchedule(ctx, e))
	got, err := st.getSchedule(ctx, "INV-1")
	require.NoError(t, err)
	assert.Equal(t, e, got)
}

func TestStorePaymentsConcurrentSameKey(t *testing.T) {
	t.Parallel()
	st := openTestStore(t)
	ctx := context.Background()
	p := treasury.Payment{ID: paymentID("k"), IdempotencyKey: "k", InvoiceID: "INV-1", AmountMinor: 5, Currency: "EUR",
		Status: treasury.StatusReleased, ReleasedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var wg sync.WaitGroup
	created := make(chan bool, 8)
	for range 8 {
		wg.Go(func() {
			got, hash, c, err := st.insertPayment(ctx, p, "h")
			assert.NoError(t, err)
			assert.Equal(t, "h", hash)
			assert.Equal(t, p.ID, got.ID)
			created <- c
		})
	}
	wg.Wait()
	close(created)
	n := 0
	for c := range created {
		if c {
			n++
		}
	}
	assert.Equal(t, 1, n, "exactly one insert wins")
	list, err := st.listPayments(ctx, "")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.True(t, list[0].ReleasedAt.Equal(p.ReleasedAt))
}

func TestStoreMailDedupe(t *testing.T) {
	t.Parallel()
	st := openTestStore(t)
	ctx := context.Background()
	m := email.StoredMessage{MessageID: "a@b", From: "x@y", To: []string{"AP@acme.example"}, Subject: "s", Body: "b",
		ReceivedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	added, err := st.insertMail(ctx, m)
	require.NoError(t, err)
	assert.True(t, added)
	m2 := m
	m2.Subject = "changed"
	added, err = st.insertMail(ctx, m2)
	require.NoError(t, err)
	assert.False(t, added)
	got, err := st.getMail(ctx, "a@b")
	require.NoError(t, err)
	assert.Equal(t, m, got)
	list, err := st.listMail(ctx, "ap@ACME.example")
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

func TestStoreSurvivesReopen(t *testing.T) {
	t.Parallel()
	dbURL, path := testStoreArgs(t)
	ctx := context.Background()
	st, err := openStore(ctx, dbURL, path)
	require.NoError(t, err)
	v := SeedVendors()[0]
	require.NoError(t, st.putVendor(ctx, v))
	require.NoError(t, st.Close())

	st, err = openStore(ctx, dbURL, path)
	require.NoError(t, err)
	defer st.Close()
	got, err := st.getVendor(ctx, v.ID)
	require.NoError(t, err)
	assert.Equal(t, v, got)
	empty, err := st.empty(ctx)
	require.NoError(t, err)
	assert.False(t, empty)
}
