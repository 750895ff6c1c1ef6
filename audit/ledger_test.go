package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/internal/testdb"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// ledgerDB is one ledger under test and where it lives.
type ledgerDB struct {
	*audit.Ledger
	url, path string
	pub       ed25519.PublicKey
	opts      audit.Options
}

// clock returns a clock that advances 1.000000123 s per call, from a
// time with nanoseconds, so precision loss would show.
func clock() func() time.Time {
	var (
		mu sync.Mutex
		t  = time.Date(2025, 3, 1, 9, 0, 0, 987654321, time.UTC)
	)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second + 123)
		return t
	}
}

func openLedger(t *testing.T, e testdb.Engine, every int) ledgerDB {
	t.Helper()
	url, path := e.Locate(t, "audit.db")
	pub, priv, err := proof.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	opts := audit.Options{Now: clock(), Signer: priv, CheckpointEvery: every}
	l, err := audit.Open(context.Background(), url, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return ledgerDB{Ledger: l, url: url, path: path, pub: pub, opts: opts}
}

// reopen is a second Ledger on the same database (another process).
func (d ledgerDB) reopen(t *testing.T) *audit.Ledger {
	t.Helper()
	l, err := audit.Open(context.Background(), d.url, d.path, d.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func (d ledgerDB) rawDB(t *testing.T) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", d.url
	if d.url == "" {
		driver, dsn = "sqlite", "file:"+d.path+"?_pragma=busy_timeout(5000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func event(i int) audit.Event {
	kind := audit.Kinds[i%len(audit.Kinds)]
	return audit.Event{
		ID:          fmt.Sprintf("wf-%d/run-1/%d", i%3, i),
		Process:     "vendor-payment",
		BusinessKey: fmt.Sprintf("INV-%d", 1000+i%3),
		WorkflowID:  fmt.Sprintf("wf-%d", i%3),
		RunID:       "run-1",
		Kind:        kind,
		Actor:       "system",
		Summary:     fmt.Sprintf("event %d (%s)", i, kind),
		At:          time.Date(2025, 3, 1, 8, 0, i, 1000*i, time.UTC),
		Data:        json.RawMessage(fmt.Sprintf(`{"n": %d, "b": "x", "a": [1, 2.50, "é"]}`, i)),
	}
}

func fill(t *testing.T, l *audit.Ledger, n int) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	for i := 1; i <= n; i++ {
		e, err := l.Append(context.Background(), event(i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func count(t *testing.T, l *audit.Ledger) int {
	t.Helper()
	all, err := l.Entries(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}

func TestAppendIdempotentByEventID(t *testing.T) {
	for _, eng := range testdb.Engines("audit_idem") {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			d := openLedger(t, eng, 0)
			first, err := d.Append(ctx, event(1))
			if err != nil {
				t.Fatal(err)
			}
			if first.Seq != 1 || first.PrevHash != audit.GenesisHash || len(first.Hash) != 64 {
				t.Fatalf("first entry = %+v", first)
			}
			again := event(1)
			again.Summary = "a retry that says something else"
			second, err := d.Append(ctx, again)
			if err != nil {
				t.Fatal(err)
			}
			if !sameEntry(first, second) {
				t.Errorf("second append = %+v, want the stored %+v", second, first)
			}
			// From another process too.
			third, err := d.reopen(t).Append(ctx, event(1))
			if err != nil {
				t.Fatal(err)
			}
			if !sameEntry(first, third) {
				t.Errorf("append from a second ledger = %+v, want %+v", third, first)
			}
			if n := count(t, d.Ledger); n != 1 {
				t.Errorf("%d entries, want 1", n)
			}
		})
	}
}

func sameEntry(a, b audit.Entry) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestAppendRejectsMalformedEvents(t *testing.T) {
	d := openLedger(t, testdb.Engines("audit_bad")[0], 0)
	tests := []struct {
		name   string
		change func(*audit.Event)
		field  string
	}{
		{"no id", func(e *audit.Event) { e.ID = "" }, "id"},
		{"long id", func(e *audit.Event) { e.ID = strings.Repeat("x", audit.MaxIDBytes+1) }, "id"},
		{"no process", func(e *audit.Event) { e.Process = "" }, "process"},
		{"no actor", func(e *audit.Event) { e.Actor = "" }, "actor"},
		{"no summary", func(e *audit.Event) { e.Summary = "" }, "summary"},
		{"long summary", func(e *audit.Event) { e.Summary = strings.Repeat("s", audit.MaxSummaryBytes+1) }, "summary"},
		{"bad kind", func(e *audit.Event) { e.Kind = "payment" }, "kind"},
		{"empty kind", func(e *audit.Event) { e.Kind = "" }, "kind"},
		{"array data", func(e *audit.Event) { e.Data = json.RawMessage(`[1, 2]`) }, "data"},
		{"string data", func(e *audit.Event) { e.Data = json.RawMessage(`"approved"`) }, "data"},
		{"invalid data", func(e *audit.Event) { e.Data = json.RawMessage(`{"a": }`) }, "data"},
		{"oversized data", func(e *audit.Event) {
			e.Data = json.RawMessage(`{"blob": "` + strings.Repeat("a", audit.MaxDataBytes) + `"}`)
		}, "data"},
		{"too many links", func(e *audit.Event) { e.Links = make([]string, audit.MaxLinks+1) }, "links"},
		{"empty link", func(e *audit.Event) { e.Links = []string{"child", ""} }, "links[1]"},
		{"invalid UTF-8", func(e *audit.Event) { e.Actor = "ma\xffria" }, "actor"},
		{"NUL", func(e *audit.Event) { e.BusinessKey = "INV\x001" }, "businessKey"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := event(1)
			tc.change(&ev)
			_, err := d.Append(context.Background(), ev)
			if !errors.Is(err, audit.ErrInvalidEvent) {
				t.Fatalf("Append = %v, want ErrInvalidEvent", err)
			}
			if !strings.Contains(err.Error(), ": "+tc.field+": ") {
				t.Errorf("error %q does not name the field %q", err, tc.field)
			}
		})
	}
	if n := count(t, d.Ledger); n != 0 {
		t.Errorf("%d entries after refused appends, want 0", n)
	}
	// Empty and null data are no data.
	for i, data := range []string{"", "null", "  "} {
		ev := event(i)
		ev.Data = json.RawMessage(data)
		e, err := d.Append(context.Background(), ev)
		if err != nil || e.Event.Data != nil {
			t.Errorf("data %q: entry data %q, err %v; want none", data, e.Event.Data, err)
		}
	}
}

func TestAppendConcurrentFromTwoLedgers(t *testing.T) {
	for _, eng := range testdb.Engines("audit_conc") {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			d := openLedger(t, eng, 50)
			ledgers := []*audit.Ledger{d.Ledger, d.reopen(t)}
			const workers, each = 8, 25
			var wg sync.WaitGroup
			errs := make(chan error, workers*each)
			for w := range workers {
				wg.Go(func() {
					l := ledgers[w%2]
					for i := range each {
						ev := event(w*each + i)
						ev.ID = fmt.Sprintf("worker-%d/%d", w, i)
						if _, err := l.Append(ctx, ev); err != nil {
							errs <- err
						}
						// Retries interleave with new events.
						if i%5 == 0 {
							if _, err := ledgers[(w+1)%2].Append(ctx, ev); err != nil {
								errs <- err
							}
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			all, err := d.Entries(ctx, audit.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != workers*each {
				t.Fatalf("%d entries, want %d", len(all), workers*each)
			}
			for i, e := range all {
				if e.Seq != int64(i+1) {
					t.Fatalf("entry %d has seq %d", i+1, e.Seq)
				}
			}
			rep, err := audit.Verify(ctx, d.Ledger, audit.VerifyOptions{PublicKeys: []ed25519.PublicKey{d.pub}})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK || rep.Checkpoints != 4 {
				t.Fatalf("report = %+v, want OK with 4 checkpoints", rep)
			}
		})
	}
}

func TestLedgerRoundTripRehashes(t *testing.T) {
	for _, eng := range testdb.Engines("audit_rt") {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			d := openLedger(t, eng, 0)
			lisbon := time.FixedZone("WEST", 3600)
			ev := audit.Event{
				ID: "wf/run/1", Process: "vendor-payment", BusinessKey: "INV-1042", WorkflowID: "wf", RunID: "run",
				Kind: audit.KindApproval, Actor: "maria", Summary: "Approved by Maria <finance> & co — 💶",
				At:    time.Date(2025, 3, 1, 10, 0, 0, 100, lisbon), // nanoseconds, not UTC
				Data:  json.RawMessage(" {\"z\": 1e2, \"a\": {\"y\": [true, null], \"x\": \"\\u00e9\\n\"}, \"big\": 12345678901234} "),
				Links: []string{"child-1"},
			}
			appended, err := d.Append(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(appended.Event.Data), `{"a":{"x":"é\n","y":[true,null]},"big":12345678901234,"z":100}`; got != want {
				t.Errorf("stored data %s, want canonical %s", got, want)
			}
			if !appended.Event.At.Equal(ev.At) || appended.Event.At.Location() != time.UTC {
				t.Errorf("At = %v, want %v in UTC", appended.Event.At, ev.At)
			}
			all, err := d.Entries(ctx, audit.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 1 {
				t.Fatalf("%d entries", len(all))
			}
			read := all[0]
			if !sameEntry(read, appended) {
				t.Errorf("read back\n%+v\nwant\n%+v", read, appended)
			}
			h, err := audit.HashEntry(read)
			if err != nil || h != read.Hash {
				t.Errorf("re-hash = %s, %v; stored %s", h, err, read.Hash)
			}
			if read.Event.At.Nanosecond() != 100 || read.RecordedAt.Nanosecond() == 0 {
				t.Errorf("lost precision: at %v, recorded %v", read.Event.At, read.RecordedAt)
			}
		})
	}
}

func TestLedgerAppendOnlyTriggers(t *testing.T) {
	for _, eng := range testdb.Engines("audit_trig") {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			d := openLedger(t, eng, 2)
			fill(t, d.Ledger, 3)
			db := d.rawDB(t)
			stmts := []string{
				`UPDATE audit_entries SET summary = 'edited' WHERE seq = 2`,
				`DELETE FROM audit_entries WHERE seq = 3`,
				`DELETE FROM audit_entries`,
				`UPDATE audit_checkpoints SET hash = 'x'`,
				`DELETE FROM audit_checkpoints`,
			}
			if eng.Name == "postgres" {
				stmts = append(stmts, `TRUNCATE audit_entries`, `TRUNCATE audit_checkpoints`)
			}
			for _, stmt := range stmts {
				if _, err := db.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Errorf("%s: error %v, want the append-only refusal", stmt, err)
				}
			}
			rep, err := audit.Verify(ctx, d.Ledger, audit.VerifyOptions{PublicKeys: []ed25519.PublicKey{d.pub}})
			if err != nil || !rep.OK || rep.Entries != 3 || rep.Checkpoints != 1 {
				t.Errorf("after refused changes: %+v, %v", rep, err)
			}
			// Opening again (another process, a restart) keeps the triggers.
			d.reopen(t)
			if _, err := db.ExecContext(ctx, stmts[0]); err == nil {
				t.Error("UPDATE allowed after reopening")
			}
		})
	}
}

func TestLedgerCheckpoint(t *testing.T) {
	for _, eng := range testdb.Engines("audit_cp") {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			d := openLedger(t, eng, -1) // no automatic checkpoints
			if _, err := d.Checkpoint(ctx); !errors.Is(err, audit.ErrEmpty) {
				t.Errorf("Checkpoint on an empty ledger = %v, want ErrEmpty", err)
			}
			entries := fill(t, d.Ledger, 3)
			c, err := d.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if c.Seq != 3 || c.Hash != entries[2].Hash || c.KeyID != proof.KeyID(d.pub) {
				t.Errorf("checkpoint = %+v", c)
			}
			if err := audit.VerifyCheckpoint(c, []ed25519.PublicKey{d.pub}); err != nil {
				t.Error(err)
			}
			again, err := d.Checkpoint(ctx)
			if err != nil || again != c {
				t.Errorf("second checkpoint without new entries = %+v, %v; want %+v", again, err, c)
			}
			cps, err := d.Checkpoints(ctx)
			if err != nil || len(cps) != 1 {
				t.Errorf("checkpoints = %v, %v; want 1", cps, err)
			}
			seq, hash, err := d.Head(ctx)
			if err != nil || seq != 3 || hash != c.Hash {
				t.Errorf("head = %d %s %v", seq, hash, err)
			}

			unsigned, err := audit.Open(ctx, d.url, d.path, audit.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer unsigned.Close()
			if _, err := unsigned.Checkpoint(ctx); !errors.Is(err, audit.ErrNoSigner) {
				t.Errorf("Checkpoint without a key = %v, want ErrNoSigner", err)
			}
		})
	}
}

func TestLedgerHistoryAndFilter(t *testing.T) {
	for _, eng := range testdb.Engines("audit_hist") {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			d := openLedger(t, eng, 0)
			base := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
			add := func(id, key, wf string, kind audit.Kind, at time.Duration, links ...string) {
				t.Helper()
				_, err := d.Append(ctx, audit.Event{ID: id, Process: "p", BusinessKey: key, WorkflowID: wf, RunID: "r",
					Kind: kind, Actor: "system", Summary: id, At: base.Add(at), Links: links})
				if err != nil {
					t.Fatal(err)
				}
			}
			add("a1", "INV-1", "pay-INV-1", audit.KindProposed, 0)
			add("b1", "INV-2", "pay-INV-2", audit.KindProposed, time.Second)
			add("a-gate", "", "pay-INV-1", audit.KindGate, 2*time.Second) // no business key
			add("a2", "INV-1", "pay-INV-1", audit.KindHandoff, 3*time.Second, "child-1")
			add("c1", "TASK-9", "child-1", audit.KindEvidence, 4*time.Second)
			add("c2", "TASK-9", "child-1", audit.KindOutcome, 5*time.Second, "grandchild")
			add("g1", "", "grandchild", audit.KindOutcome, 6*time.Second)
			add("a3", "INV-1", "pay-INV-1", audit.KindOutcome, 7*time.Second)

			ids := func(es []audit.Entry) string {
				var s []string
				for _, e := range es {
					s = append(s, e.Event.ID)
				}
				return strings.Join(s, ",")
			}
			for key, want := range map[string]string{
				"INV-1":     "a1,a-gate,a2,c1,c2,a3", // the gate by workflow, the child by link; not the grandchild
				"pay-INV-1": "a1,a-gate,a2,c1,c2,a3",
				"INV-2":     "b1",
				"nothing":   "",
			} {
				got, err := d.History(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				if ids(got) != want {
					t.Errorf("History(%s) = %s, want %s", key, ids(got), want)
				}
			}
			for name, tc := range map[string]struct {
				f    audit.Filter
				want string
			}{
				"all":       {audit.Filter{}, "a1,b1,a-gate,a2,c1,c2,g1,a3"},
				"key":       {audit.Filter{BusinessKey: "INV-1"}, "a1,a2,a3"},
				"workflows": {audit.Filter{WorkflowIDs: []string{"child-1", "grandchild"}}, "c1,c2,g1"},
				"kinds":     {audit.Filter{Kinds: []audit.Kind{audit.KindOutcome, audit.KindGate}}, "a-gate,c2,g1,a3"},
				"window":    {audit.Filter{Since: base.Add(time.Second), Until: base.Add(4 * time.Second)}, "b1,a-gate,a2"},
				"page":      {audit.Filter{AfterSeq: 2, Limit: 3}, "a-gate,a2,c1"},
				"process":   {audit.Filter{Process: "other"}, ""},
			} {
				got, err := d.Entries(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if ids(got) != tc.want {
					t.Errorf("%s: Entries = %s, want %s", name, ids(got), tc.want)
				}
			}
		})
	}
}

func TestLedgerConcurrentOpen(t *testing.T) {
	for _, eng := range testdb.Engines("audit_open") {
		t.Run(eng.Name, func(t *testing.T) {
			url, path := eng.Locate(t, "audit.db")
			var wg sync.WaitGroup
			errs := make(chan error, 6)
			for i := range 6 {
				wg.Go(func() {
					l, err := audit.Open(context.Background(), url, path, audit.Options{})
					if err != nil {
						errs <- err
						return
					}
					defer l.Close()
					if _, err := l.Append(context.Background(), event(i)); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
