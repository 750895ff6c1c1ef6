package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
	"github.com/execution-orchestrator/orchestrator/sandbox"
	"github.com/execution-orchestrator/orchestrator/sandbox/sandboxtest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var day0 = time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)

type answer struct {
	status int
	body   []byte
	hdr    http.Header
}

func (a answer) header(name string) string { return a.hdr.Get(name) }

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(a.body, v), "body %s", a.body)
}

func (a answer) apiError(t *testing.T) (msg, field string) {
	t.Helper()
	var e struct{ Error, Field string }
	a.decode(t, &e)
	return e.Error, e.Field
}

func call(t *testing.T, s *sandbox.Server, method, path string, header map[string]string, body string) answer {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.HTTPURL()+path, r)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return answer{status: res.StatusCode, body: raw, hdr: res.Header}
}

func start(t *testing.T, mutate func(*sandbox.Config)) (*sandbox.Server, *clock) {
	t.Helper()
	c := &clock{t: day0}
	s := sandboxtest.Start(t, func(cfg *sandbox.Config) {
		cfg.Now = c.Now
		if mutate != nil {
			mutate(cfg)
		}
	})
	return s, c
}

func paymentBody(amount int64) string {
	b, _ := json.Marshal(treasury.PaymentRequest{
		InvoiceID: sandbox.InvoiceHappyPath, VendorID: sandbox.VendorAcme, AmountMinor: amount, Currency: "EUR",
		Beneficiary: erp.BankAccount{IBAN: "DE89370400440532013000", BIC: "COBADEFFXXX", AccountHolder: "Acme Office Supplies GmbH"},
		Reference:   "Invoice INV-1042", ActionDigest: "sha256:abc",
	})
	return string(b)
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	assert.Equal(t, http.StatusOK, call(t, s, "GET", "/healthz", nil, "").status)
}

func TestSeedData(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)

	var overdue []erp.Invoice
	a := call(t, s, "GET", "/erp/invoices?status=open&overdueAsOf="+day0.Format(time.DateOnly), nil, "")
	require.Equal(t, http.StatusOK, a.status)
	a.decode(t, &overdue)
	var ids []string
	for _, inv := range overdue {
		ids = append(ids, inv.ID)
	}
	assert.Equal(t, []string{sandbox.InvoiceHappyPath, sandbox.InvoiceLarge, sandbox.InvoiceMedium, sandbox.InvoiceBankMismatch, sandbox.InvoiceUnscheduled}, ids)

	var happy erp.Invoice
	call(t, s, "GET", "/erp/invoices/"+sandbox.InvoiceHappyPath, nil, "").decode(t, &happy)
	var acme erp.Vendor
	call(t, s, "GET", "/erp/vendors/"+happy.VendorID, nil, "").decode(t, &acme)
	assert.Equal(t, acme.BankAccount, happy.BankAccount)
	assert.Equal(t, "ap@acme.example", acme.APContact.Email)
	assert.Equal(t, int64(125000), happy.AmountMinor)

	var mismatch erp.Invoice
	call(t, s, "GET", "/erp/invoices/"+sandbox.InvoiceBankMismatch, nil, "").decode(t, &mismatch)
	var umbrella erp.Vendor
	call(t, s, "GET", "/erp/vendors/"+mismatch.VendorID, nil, "").decode(t, &umbrella)
	assert.NotEqual(t, umbrella.BankAccount.IBAN, mismatch.BankAccount.IBAN)

	var sched erp.ScheduleEntry
	a = call(t, s, "GET", "/erp/schedule/"+sandbox.InvoiceHappyPath, nil, "")
	require.Equal(t, http.StatusOK, a.status)
	a.decode(t, &sched)
	assert.True(t, sched.Approved)
	assert.Equal(t, happy.AmountMinor, sched.AmountMinor)
	assert.Equal(t, http.StatusNotFound, call(t, s, "GET", "/erp/schedule/"+sandbox.InvoiceUnscheduled, nil, "").status)

	var notDue erp.Invoice
	call(t, s, "GET", "/erp/invoices/"+sandbox.InvoiceNotDue, nil, "").decode(t, &notDue)
	assert.Greater(t, notDue.DueDate, day0.Format(time.DateOnly))
}

func TestValidation(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	key := map[string]string{"Idempotency-Key": "k-validation"}
	valid := paymentBody(125000)
	tests := []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
		field              string
	}{
		{"payment without key", "POST", "/treasury/payments", nil, valid, 400, "Idempotency-Key"},
		{"payment zero amount", "POST", "/treasury/payments", key, strings.Replace(valid, `"amountMinor":125000`, `"amountMinor":0`, 1), 400, "amountMinor"},
		{"payment bad currency", "POST", "/treasury/payments", key, strings.Replace(valid, `"EUR"`, `"euro"`, 1), 400, "currency"},
		{"payment no iban", "POST", "/treasury/payments", key, strings.Replace(valid, `"DE89370400440532013000"`, `""`, 1), 400, "beneficiary.iban"},
		{"payment amount wrong type", "POST", "/treasury/payments", key, strings.Replace(valid, `125000`, `"125000"`, 1), 400, "amountMinor"},
		{"payment unknown field", "POST", "/treasury/payments", key, `{"bogus":1}`, 400, "bogus"},
		{"payment empty body", "POST", "/treasury/payments", key, ``, 400, "body"},
		{"mark paid without reference", "POST", "/erp/invoices/INV-1042/payment", nil, `{}`, 400, "paymentReference"},
		{"mark paid unknown invoice", "POST", "/erp/invoices/INV-9999/payment", nil, `{"paymentReference":"PAY-1"}`, 404, ""},
		{"note without key", "POST", "/erp/invoices/INV-1042/notes", nil, `{"text":"hi"}`, 400, "Idempotency-Key"},
		{"note without text", "POST", "/erp/invoices/INV-1042/notes", key, `{"text":""}`, 400, "text"},
		{"note unknown invoice", "POST", "/erp/invoices/INV-9999/notes", key, `{"text":"hi"}`, 404, ""},
		{"list bad date", "GET", "/erp/invoices?overdueAsOf=10.03.2026", nil, "", 400, "overdueAsOf"},
		{"list bad status", "GET", "/erp/invoices?status=late", nil, "", 400, "status"},
		{"unknown vendor", "GET", "/erp/vendors/V-999", nil, "", 404, ""},
		{"unknown payment", "GET", "/treasury/payments/PAY-NOPE", nil, "", 404, ""},
		{"invoice bad due date", "POST", "/erp/invoices", nil, `{"id":"INV-1","vendorId":"V-100","amountMinor":1,"currency":"EUR","issueDate":"2026-01-01","dueDate":"soon","bankAccount":{"iban":"X"}}`, 400, "dueDate"},
		{"faults bad rate", "PUT", "/admin/faults", nil, `{"*":{"errorRate":2}}`, 400, "*.errorRate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, s, tc.method, tc.path, tc.header, tc.body)
			require.Equal(t, tc.status, a.status, "body %s", a.body)
			msg, field := a.apiError(t)
			assert.NotEmpty(t, msg)
			assert.Equal(t, tc.field, field)
		})
	}
	// None of the refused payments was stored.
	var list []treasury.Payment
	call(t, s, "GET", "/treasury/payments", nil, "").decode(t, &list)
	assert.Empty(t, list)
}

func TestReleasePaymentIdempotency(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	// Same JSON, other field order and spacing: still the same request.
	reordered := func() string {
		var m map[string]any
		_ = json.Unmarshal([]byte(paymentBody(125000)), &m)
		b, _ := json.MarshalIndent(m, "", "   ")
		return string(b)
	}()
	steps := []struct {
		name   string
		key    string
		body   string
		status int
	}{
		{"first release", "k1", paymentBody(125000), http.StatusCreated},
		{"same key same body", "k1", paymentBody(125000), http.StatusOK},
		{"same key same body reformatted", "k1", reordered, http.StatusOK},
		{"same key different body", "k1", paymentBody(125001), http.StatusConflict},
		{"other key", "k2", paymentBody(125000), http.StatusCreated},
	}
	var first treasury.Payment
	for _, st := range steps {
		a := call(t, s, "POST", "/treasury/payments", map[string]string{"Idempotency-Key": st.key}, st.body)
		require.Equal(t, st.status, a.status, "%s: %s", st.name, a.body)
		if a.status == http.StatusConflict {
			_, field := a.apiError(t)
			assert.Equal(t, "Idempotency-Key", field)
			continue
		}
		var p treasury.Payment
		a.decode(t, &p)
		assert.Equal(t, treasury.StatusReleased, p.Status, st.name)
		assert.Equal(t, st.key, p.IdempotencyKey)
		if st.key == "k1" {
			if first.ID == "" {
				first = p
			}
			assert.Equal(t, first, p, st.name)
		} else {
			assert.NotEqual(t, first.ID, p.ID)
		}
	}
	var list []treasury.Payment
	call(t, s, "GET", "/treasury/payments", nil, "").decode(t, &list)
	assert.Len(t, list, 2)
	call(t, s, "GET", "/treasury/payments?invoiceId="+url.QueryEscape(sandbox.InvoiceHappyPath), nil, "").decode(t, &list)
	assert.Len(t, list, 2)
	call(t, s, "GET", "/treasury/payments?invoiceId=INV-0", nil, "").decode(t, &list)
	assert.Empty(t, list)
}

func TestSettleAfter(t *testing.T) {
	t.Parallel()
	s, clk := start(t, func(c *sandbox.Config) { c.SettleAfter = time.Minute })
	a := call(t, s, "POST", "/treasury/payments", map[string]string{"Idempotency-Key": "settle"}, paymentBody(125000))
	require.Equal(t, http.StatusCreated, a.status)
	var p treasury.Payment
	a.decode(t, &p)
	assert.True(t, p.ReleasedAt.Equal(day0))

	steps := []struct {
		advance time.Duration
		status  string
	}{
		{0, treasury.StatusReleased},
		{59 * time.Second, treasury.StatusReleased},
		{time.Second, treasury.StatusSettled},
		{time.Hour, treasury.StatusSettled},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		var got treasury.Payment
		call(t, s, "GET", "/treasury/payments/"+p.ID, nil, "").decode(t, &got)
		assert.Equal(t, st.status, got.Status, "after %v more", st.advance)
		if st.status == treasury.StatusSettled {
			require.NotNil(t, got.SettledAt)
			assert.True(t, got.SettledAt.Equal(day0.Add(time.Minute)))
		} else {
			assert.Nil(t, got.SettledAt)
		}
	}
}

func TestMarkPaidIdempotency(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	path := "/erp/invoices/" + sandbox.InvoiceHappyPath + "/payment"
	steps := []struct {
		ref    string
		status int
	}{
		{"PAY-1", http.StatusOK},
		{"PAY-1", http.StatusOK},
		{"PAY-2", http.StatusConflict},
	}
	for _, st := range steps {
		a := call(t, s, "POST", path, nil, `{"paymentReference":"`+st.ref+`"}`)
		require.Equal(t, st.status, a.status, "%s: %s", st.ref, a.body)
		if st.status == http.StatusOK {
			var inv erp.Invoice
			a.decode(t, &inv)
			assert.Equal(t, erp.InvoicePaid, inv.Status)
			assert.Equal(t, "PAY-1", inv.PaymentReference)
		}
	}
	// A paid invoice is no longer overdue.
	var overdue []erp.Invoice
	call(t, s, "GET", "/erp/invoices?overdueAsOf="+day0.Format(time.DateOnly), nil, "").decode(t, &overdue)
	for _, inv := range overdue {
		assert.NotEqual(t, sandbox.InvoiceHappyPath, inv.ID)
	}
}

func TestAddNoteIdempotency(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	path := "/erp/invoices/" + sandbox.InvoiceLarge + "/notes"
	steps := []struct {
		key, text string
		status    int
		notes     []string
	}{
		{"n1", "first", http.StatusCreated, []string{"first"}},
		{"n1", "first", http.StatusOK, []string{"first"}},
		{"n2", "second", http.StatusCreated, []string{"first", "second"}},
	}
	for _, st := range steps {
		a := call(t, s, "POST", path, map[string]string{"Idempotency-Key": st.key}, `{"text":"`+st.text+`"}`)
		require.Equal(t, st.status, a.status, string(a.body))
		var inv erp.Invoice
		a.decode(t, &inv)
		assert.Equal(t, st.notes, inv.Notes)
	}
}

func TestAdminUpserts(t *testing.T) {
	t.Parallel()
	s, _ := start(t, func(c *sandbox.Config) { c.Seed = false })
	v := `{"id":"V-9","name":"Nine","bankAccount":{"iban":"DE1","bic":"B","accountHolder":"Nine"},"apContact":{"name":"AP","email":"ap@nine.example"}}`
	require.Equal(t, http.StatusOK, call(t, s, "PUT", "/erp/vendors/V-9", nil, v).status)
	inv := `{"id":"INV-9","vendorId":"V-9","amountMinor":500,"currency":"EUR","issueDate":"2026-01-01","dueDate":"2026-02-01","bankAccount":{"iban":"DE1","bic":"B","accountHolder":"Nine"}}`
	a := call(t, s, "POST", "/erp/invoices", nil, inv)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var got erp.Invoice
	a.decode(t, &got)
	assert.Equal(t, erp.InvoiceOpen, got.Status)
	require.Equal(t, http.StatusOK, call(t, s, "PUT", "/erp/schedule/INV-9", nil, `{"approved":true,"payOn":"2026-02-01","amountMinor":500}`).status)
	var e erp.ScheduleEntry
	call(t, s, "GET", "/erp/schedule/INV-9", nil, "").decode(t, &e)
	assert.Equal(t, erp.ScheduleEntry{InvoiceID: "INV-9", Approved: true, PayOn: "2026-02-01", AmountMinor: 500}, e)

	require.NoError(t, s.Reset(t.Context()))
	assert.Equal(t, http.StatusNotFound, call(t, s, "GET", "/erp/invoices/INV-9", nil, "").status)
}

func TestFaults(t *testing.T) {
	t.Parallel()
	var dice float64 // rolled by the sandbox under test
	var mu sync.Mutex
	roll := func() float64 { mu.Lock(); defer mu.Unlock(); return dice }
	setDice := func(v float64) { mu.Lock(); dice = v; mu.Unlock() }
	s, _ := start(t, func(c *sandbox.Config) {
		c.Rand = roll
		c.Faults = map[string]sandbox.Fault{sandbox.EndpointERPGetInvoice: {ErrorRate: 0.5}}
	})
	keyN := 0
	release := func() answer {
		keyN++
		return call(t, s, "POST", "/treasury/payments", map[string]string{"Idempotency-Key": "f" + string(rune('a'+keyN))}, paymentBody(125000))
	}
	countPayments := func() int {
		var list []treasury.Payment
		call(t, s, "GET", "/treasury/payments", nil, "").decode(t, &list)
		return len(list)
	}

	// Start-time faults apply; the dice decide.
	setDice(0.4)
	assert.Equal(t, http.StatusServiceUnavailable, call(t, s, "GET", "/erp/invoices/INV-1042", nil, "").status)
	setDice(0.6)
	assert.Equal(t, http.StatusOK, call(t, s, "GET", "/erp/invoices/INV-1042", nil, "").status)
	assert.Equal(t, http.StatusOK, call(t, s, "GET", "/erp/vendors/V-100", nil, "").status, "other endpoints unaffected")

	// Replace faults over the admin API: before-effect failure leaves no payment.
	setDice(0)
	a := call(t, s, "PUT", "/admin/faults", nil, `{"treasury.releasePayment":{"errorRate":1}}`)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	assert.Equal(t, http.StatusOK, call(t, s, "GET", "/erp/invoices/INV-1042", nil, "").status, "old faults replaced")
	assert.Equal(t, http.StatusServiceUnavailable, release().status)
	assert.Equal(t, 0, countPayments())

	// After-effect failure: the payment exists though the caller saw a 503.
	require.Equal(t, http.StatusOK, call(t, s, "PUT", "/admin/faults", nil, `{"*":{"errorRate":1,"afterEffect":true}}`).status)
	assert.Equal(t, http.StatusServiceUnavailable, release().status)
	require.Equal(t, http.StatusOK, call(t, s, "PUT", "/admin/faults", nil, `{}`).status)
	assert.Equal(t, 1, countPayments())

	var got map[string]sandbox.Fault
	require.Equal(t, http.StatusOK, call(t, s, "PUT", "/admin/faults", nil, `{"mail.smtp":{"errorRate":0.25,"latencyMs":200}}`).status)
	call(t, s, "GET", "/admin/faults", nil, "").decode(t, &got)
	assert.Equal(t, map[string]sandbox.Fault{sandbox.EndpointMailSMTP: {ErrorRate: 0.25, Latency: 200 * time.Millisecond}}, got)
}

func TestParseFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    map[string]sandbox.Fault
		wantErr string
	}{
		{`{"*":{"errorRate":0.3,"latencyMs":200}}`, map[string]sandbox.Fault{"*": {ErrorRate: 0.3, Latency: 200 * time.Millisecond}}, ""},
		{`{"treasury.releasePayment":{"errorRate":1,"afterEffect":true}}`, map[string]sandbox.Fault{"treasury.releasePayment": {ErrorRate: 1, AfterEffect: true}}, ""},
		{`null`, map[string]sandbox.Fault{}, ""},
		{`{"x":{"errorRate":-1}}`, nil, "x.errorRate"},
		{`{"x":{"latencyMs":-5}}`, nil, "x.latencyMs"},
		{`[`, nil, "parse faults"},
	}
	for _, tc := range tests {
		got, err := sandbox.ParseFaults([]byte(tc.in))
		if tc.wantErr != "" {
			require.Error(t, err, tc.in)
			assert.Contains(t, err.Error(), tc.wantErr)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got)
	}
}

func TestFaultsYAML(t *testing.T) {
	t.Parallel()
	var got map[string]sandbox.Fault
	require.NoError(t, yaml.Unmarshal([]byte("erp.getInvoice:\n  errorRate: 0.5\n  latencyMs: 150\n  afterEffect: true\n"), &got))
	assert.Equal(t, map[string]sandbox.Fault{"erp.getInvoice": {ErrorRate: 0.5, Latency: 150 * time.Millisecond, AfterEffect: true}}, got)
	out, err := yaml.Marshal(got)
	require.NoError(t, err)
	assert.Contains(t, string(out), "latencyMs: 150")
}

func TestMailAPI(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)
	a := call(t, s, "GET", "/mail/messages/"+url.PathEscape("<nope@x>"), nil, "")
	assert.Equal(t, http.StatusNotFound, a.status)
	var list []any
	call(t, s, "GET", "/mail/messages", nil, "").decode(t, &list)
	assert.Empty(t, list)
}
