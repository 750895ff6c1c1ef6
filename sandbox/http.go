package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/execution-orchestrator/orchestrator/connectors/erp"
	"github.com/execution-orchestrator/orchestrator/connectors/treasury"
)

const maxRequestBody = 1 << 20

// fieldError is a 400 that names the offending field.
type fieldError struct{ field, msg string }

func (e fieldError) Error() string { return e.field + ": " + e.msg }

type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg, field string) {
	writeJSON(w, status, apiError{Error: msg, Field: field})
}

// fail maps an error to an HTTP answer: field errors are 400, store sentinel
// errors 404/409, anything else 500 (and logged).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, what string) {
	var fe fieldError
	switch {
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, fe.msg, fe.field)
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, what+" not found", "")
	case errors.Is(err, errConflict):
		writeError(w, http.StatusConflict, what, "")
	case errors.Is(err, context.Canceled):
		// Client went away; nobody reads the answer.
	default:
		s.log.ErrorContext(r.Context(), "sandbox request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error", "")
	}
}

// decode reads a JSON body strictly: unknown fields and trailing data are
// refused, and type errors name the field.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fieldError{field: te.Field, msg: "wrong type: want " + te.Type.String()}
		}
		if errors.Is(err, io.EOF) {
			return fieldError{field: "body", msg: "request body is required"}
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fieldError{field: strings.Trim(f, `"`), msg: "unknown field"}
		}
		return fieldError{field: "body", msg: "invalid JSON: " + err.Error()}
	}
	if dec.More() {
		return fieldError{field: "body", msg: "trailing data after JSON object"}
	}
	return nil
}

// bufferedWriter holds a response so it can be dropped (afterEffect faults).
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedWriter) WriteHeader(code int)        { b.status = code }

// endpoint wraps h with fault injection under a stable endpoint name.
func (s *Server) endpoint(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, fire := s.decide(name)
		if err := sleepCtx(r.Context(), f.Latency); err != nil {
			return
		}
		if !fire {
			h(w, r)
			return
		}
		if f.AfterEffect {
			h(&bufferedWriter{header: http.Header{}}, r)
		}
		s.log.InfoContext(r.Context(), "sandbox injected fault", "endpoint", name, "afterEffect", f.AfterEffect)
		writeError(w, http.StatusServiceUnavailable, "injected fault: "+name, "")
	}
}

// route is one HTTP operation; endpoint is its fault-injection name ("" for
// admin routes, which faults never touch).
type route struct {
	pattern  string
	endpoint string
	handler  http.HandlerFunc
}

func (s *Server) routeTable() []route {
	return []route{
		{"GET /healthz", "", s.healthz},
		{"GET /erp/vendors/{id}", EndpointERPGetVendor, s.getVendor},
		{"PUT /erp/vendors/{id}", EndpointERPPutVendor, s.putVendor},
		{"GET /erp/invoices", EndpointERPListInvoices, s.listInvoices},
		{"POST /erp/invoices", EndpointERPPutInvoice, s.putInvoice},
		{"GET /erp/invoices/{id}", EndpointERPGetInvoice, s.getInvoice},
		{"POST /erp/invoices/{id}/payment", EndpointERPMarkPaid, s.markPaid},
		{"POST /erp/invoices/{id}/notes", EndpointERPAddNote, s.addNote},
		{"GET /erp/schedule/{invoiceId}", EndpointERPGetSchedule, s.getSchedule},
		{"PUT /erp/schedule/{invoiceId}", EndpointERPPutSchedule, s.putSchedule},
		{"POST /treasury/payments", EndpointTreasuryRelease, s.releasePayment},
		{"GET /treasury/payments", EndpointTreasuryList, s.listPayments},
		{"GET /treasury/payments/{id}", EndpointTreasuryGet, s.getPayment},
		{"GET /mail/messages", EndpointMailList, s.listMail},
		{"GET /mail/messages/{messageId}", EndpointMailGet, s.getMail},
		{"GET /deploy/targets", EndpointDeployTargets, s.listTargets},
		{"GET /deploy/artifacts/{service}/{version}", EndpointDeployArtifactGet, s.getArtifact},
		{"PUT /deploy/artifacts/{service}/{version}", EndpointDeployArtifactPut, s.putArtifact},
		{"POST /deploy/releases", EndpointDeployRelease, s.createRelease},
		{"GET /deploy/releases", EndpointDeployList, s.listReleases},
		{"GET /deploy/releases/{id}", EndpointDeployGet, s.getRelease},
		{"POST /crm/accounts", EndpointCRMCreate, s.createAccount},
		{"GET /crm/accounts", EndpointCRMList, s.listAccounts},
		{"GET /crm/accounts/{id}", EndpointCRMGet, s.getAccount},
		{"POST /crm/accounts/{id}/activate", EndpointCRMActivate, s.activateAccount},
		{"POST /crm/accounts/{id}/notes", EndpointCRMAddNote, s.addAccountNote},
		{"POST /crm/accounts/{id}/health", EndpointCRMSetHealth, s.setAccountHealth},
		{"POST /ticketing/issues", EndpointTicketingCreate, s.createIssue},
		{"GET /ticketing/issues", EndpointTicketingList, s.listIssues},
		{"GET /ticketing/issues/{id}", EndpointTicketingGet, s.getIssue},
		{"POST /ticketing/issues/{id}/transitions", EndpointTicketingTransition, s.transitionIssue},
		{"POST /ticketing/issues/{id}/assignee", EndpointTicketingAssign, s.assignIssue},
		{"POST /ticketing/issues/{id}/comments", EndpointTicketingComment, s.commentIssue},
		{"POST /ticketing/issues/{id}/links", EndpointTicketingLink, s.linkIssue},
		{"GET /chat/channels", EndpointChatListChannels, s.listChannels},
		{"POST /chat/channels", EndpointChatCreateChannel, s.createChannel},
		{"POST /chat/channels/{id}/messages", EndpointChatPost, s.postMessage},
		{"GET /chat/channels/{id}/messages", EndpointChatListMessages, s.listMessages},
		{"POST /chat/webhooks", EndpointChatSetWebhook, s.setWebhook},
		{"GET /chat/webhooks", EndpointChatListWebhooks, s.listWebhooks},
		{"GET /admin/faults", "", s.getFaults},
		{"PUT /admin/faults", "", s.putFaults},
		{"POST /admin/reset", "", s.postReset},
		{"POST /admin/deploy/releases/{id}/unhealthy", "", s.postUnhealthy},
		{"POST /admin/crm/accounts/{id}/close", "", s.postCloseAccount},
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, r := range s.routeTable() {
		h := r.handler
		if r.endpoint != "" {
			h = s.endpoint(r.endpoint, h)
		}
		mux.HandleFunc(r.pattern, h)
	}
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// idempotencyKey reads the Idempotency-Key header every mutation of money,
// releases and records carries; without it the request is refused, naming it.
func idempotencyKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		writeError(w, http.StatusBadRequest, "Idempotency-Key header is required", "Idempotency-Key")
		return "", false
	}
	return key, true
}

// noteText reads a note's body ({"text"}), refusing it naming the field;
// what names the record in errors.
func (s *Server) noteText(w http.ResponseWriter, r *http.Request, what string) (string, bool) {
	var body struct {
		Text string `json:"text"`
	}
	if err := decode(r, &body); err != nil {
		s.fail(w, r, err, what)
		return "", false
	}
	if err := required("text", body.Text); err != nil {
		s.fail(w, r, err, what)
		return "", false
	}
	return body.Text, true
}

// --- validation helpers ---

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

func validDate(field, v string) error {
	if _, err := time.Parse(time.DateOnly, v); err != nil {
		return fieldError{field: field, msg: "must be a date YYYY-MM-DD"}
	}
	return nil
}

func required(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return fieldError{field: field, msg: field + " is required"}
	}
	return nil
}

func validateVendor(v erp.Vendor) error {
	return errors.Join(
		required("id", v.ID),
		required("name", v.Name),
		required("bankAccount.iban", v.BankAccount.IBAN),
		required("bankAccount.accountHolder", v.BankAccount.AccountHolder),
		required("apContact.email", v.APContact.Email),
	)
}

func validateInvoice(inv erp.Invoice) error {
	errs := []error{
		required("id", inv.ID),
		required("vendorId", inv.VendorID),
		required("bankAccount.iban", inv.BankAccount.IBAN),
		validDate("issueDate", inv.IssueDate),
		validDate("dueDate", inv.DueDate),
	}
	if inv.AmountMinor <= 0 {
		errs = append(errs, fieldError{field: "amountMinor", msg: "amountMinor must be positive"})
	}
	if !currencyRE.MatchString(inv.Currency) {
		errs = append(errs, fieldError{field: "currency", msg: "currency must be 3 upper-case letters (ISO 4217)"})
	}
	if inv.Status != erp.InvoiceOpen && inv.Status != erp.InvoicePaid {
		errs = append(errs, fieldError{field: "status", msg: `status must be "open" or "paid"`})
	}
	if inv.Status == erp.InvoicePaid && inv.PaymentReference == "" {
		errs = append(errs, fieldError{field: "paymentReference", msg: "a paid invoice needs a paymentReference"})
	}
	return errors.Join(errs...)
}

func validatePayment(p treasury.PaymentRequest) error {
	errs := []error{
		required("invoiceId", p.InvoiceID),
		required("vendorId", p.VendorID),
		required("beneficiary.iban", p.Beneficiary.IBAN),
		required("beneficiary.accountHolder", p.Beneficiary.AccountHolder),
		required("reference", p.Reference),
	}
	if p.AmountMinor <= 0 {
		errs = append(errs, fieldError{field: "amountMinor", msg: "amountMinor must be positive"})
	}
	if !currencyRE.MatchString(p.Currency) {
		errs = append(errs, fieldError{field: "currency", msg: "currency must be 3 upper-case letters (ISO 4217)"})
	}
	return errors.Join(errs...)
}

// firstFieldError returns the first fieldError in a joined error so the
// answer names one field; nil stays nil.
func firstFieldError(err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if e != nil {
				return firstFieldError(e)
			}
		}
	}
	return err
}

// --- ERP ---

func (s *Server) getVendor(w http.ResponseWriter, r *http.Request) {
	v, err := s.store.getVendor(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err, "vendor")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) putVendor(w http.ResponseWriter, r *http.Request) {
	var v erp.Vendor
	if err := decode(r, &v); err != nil {
		s.fail(w, r, err, "vendor")
		return
	}
	if v.ID == "" {
		v.ID = r.PathValue("id")
	}
	if v.ID != r.PathValue("id") {
		s.fail(w, r, fieldError{field: "id", msg: "id does not match the path"}, "vendor")
		return
	}
	if err := firstFieldError(validateVendor(v)); err != nil {
		s.fail(w, r, err, "vendor")
		return
	}
	if err := s.store.putVendor(r.Context(), v); err != nil {
		s.fail(w, r, err, "vendor")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request) {
	inv, err := s.store.getInvoice(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err, "invoice")
		return
	}
	writeJSON(w, http.StatusOK, inv)
}

func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if status != "" && status != erp.InvoiceOpen && status != erp.InvoicePaid {
		s.fail(w, r, fieldError{field: "status", msg: `status must be "open" or "paid"`}, "invoice")
		return
	}
	asOf := r.URL.Query().Get("overdueAsOf")
	if asOf != "" {
		if err := validDate("overdueAsOf", asOf); err != nil {
			s.fail(w, r, err, "invoice")
			return
		}
		// Overdue means still open and due before the date.
		if status == erp.InvoicePaid {
			writeJSON(w, http.StatusOK, []erp.Invoice{})
			return
		}
		status = erp.InvoiceOpen
	}
	list, err := s.store.listInvoices(r.Context(), status, asOf)
	if err != nil {
		s.fail(w, r, err, "invoice")
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) putInvoice(w http.ResponseWriter, r *http.Request) {
	var inv erp.Invoice
	if err := decode(r, &inv); err != nil {
		s.fail(w, r, err, "invoice")
		return
	}
	if inv.Status == "" {
		inv.Status = erp.InvoiceOpen
	}
	if err := firstFieldError(validateInvoice(inv)); err != nil {
		s.fail(w, r, err, "invoice")
		return
	}
	if err := s.store.putInvoice(r.Context(), inv); err != nil {
		s.fail(w, r, err, "invoice")
		return
	}
	stored, err := s.store.getInvoice(r.Context(), inv.ID)
	if err != nil {
		s.fail(w, r, err, "invoice")
		return
	}
	writeJSON(w, http.StatusOK, stored)
}

func (s *Server) markPaid(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PaymentReference string `json:"paymentReference"`
	}
	if err := decode(r, &body); err != nil {
		s.fail(w, r, err, "invoice")
		return
	}
	if err := required("paymentReference", body.PaymentReference); err != nil {
		s.fail(w, r, err, "invoice")
		return
	}
	inv, err := s.store.markPaid(r.Context(), r.PathValue("id"), body.PaymentReference)
	if errors.Is(err, errConflict) {
		writeError(w, http.StatusConflict, fmt.Sprintf("invoice %s is already paid with a different reference", inv.ID), "paymentReference")
		return
	}
	if err != nil {
		s.fail(w, r, err, "invoice")
		return
	}
	writeJSON(w, http.StatusOK, inv)
}

func (s *Server) addNote(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	text, ok := s.noteText(w, r, "invoice")
	if !ok {
		return
	}
	id := r.PathValue("id")
	if _, err := s.store.getInvoice(r.Context(), id); err != nil {
		s.fail(w, r, err, "invoice")
		return
	}
	added, err := s.store.addNote(r.Context(), id, key, text)
	if err != nil {
		s.fail(w, r, err, "invoice")
		return
	}
	inv, err := s.store.getInvoice(r.Context(), id)
	if err != nil {
		s.fail(w, r, err, "invoice")
		return
	}
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	writeJSON(w, status, inv)
}

func (s *Server) getSchedule(w http.ResponseWriter, r *http.Request) {
	e, err := s.store.getSchedule(r.Context(), r.PathValue("invoiceId"))
	if err != nil {
		s.fail(w, r, err, "schedule entry")
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) putSchedule(w http.ResponseWriter, r *http.Request) {
	var e erp.ScheduleEntry
	if err := decode(r, &e); err != nil {
		s.fail(w, r, err, "schedule entry")
		return
	}
	if e.InvoiceID == "" {
		e.InvoiceID = r.PathValue("invoiceId")
	}
	var err error
	switch {
	case e.InvoiceID != r.PathValue("invoiceId"):
		err = fieldError{field: "invoiceId", msg: "invoiceId does not match the path"}
	case e.AmountMinor <= 0:
		err = fieldError{field: "amountMinor", msg: "amountMinor must be positive"}
	default:
		err = validDate("payOn", e.PayOn)
	}
	if err != nil {
		s.fail(w, r, err, "schedule entry")
		return
	}
	if err := s.store.putSchedule(r.Context(), e); err != nil {
		s.fail(w, r, err, "schedule entry")
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// --- Treasury ---

// contentHash identifies a request by content: the struct is re-encoded,
// so field order and whitespace in the body do not matter.
func contentHash(v any) string {
	raw, _ := json.Marshal(v) // our request structs of strings and ints always encode
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// derivedID derives an id from an idempotency key so that the same key can
// only ever name one record of its kind (ns).
func derivedID(prefix, ns, key string) string {
	sum := sha256.Sum256([]byte(ns + ":" + key))
	return prefix + strings.ToUpper(hex.EncodeToString(sum[:8]))
}

func requestHash(p treasury.PaymentRequest) string { return contentHash(p) }
func paymentID(key string) string                  { return derivedID("PAY-", "payment", key) }

// settle reports the status as of now: a payment settles SettleAfter after
// its release. Computing it on read needs no background job.
func (s *Server) settle(p treasury.Payment) treasury.Payment {
	if s.cfg.SettleAfter < 0 || p.Status != treasury.StatusReleased {
		return p
	}
	at := p.ReleasedAt.Add(s.cfg.SettleAfter)
	if !s.now().Before(at) {
		p.Status = treasury.StatusSettled
		p.SettledAt = &at
	}
	return p
}

func (s *Server) releasePayment(w http.ResponseWriter, r *http.Request) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var req treasury.PaymentRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err, "payment")
		return
	}
	if err := firstFieldError(validatePayment(req)); err != nil {
		s.fail(w, r, err, "payment")
		return
	}
	hash := requestHash(req)
	p := treasury.Payment{
		ID:             paymentID(key),
		IdempotencyKey: key,
		InvoiceID:      req.InvoiceID,
		VendorID:       req.VendorID,
		AmountMinor:    req.AmountMinor,
		Currency:       req.Currency,
		Beneficiary:    req.Beneficiary,
		Reference:      req.Reference,
		ActionDigest:   req.ActionDigest,
		Status:         treasury.StatusReleased,
		ReleasedAt:     s.now().UTC(),
	}
	stored, storedHash, created, err := s.store.insertPayment(r.Context(), p, hash)
	if err != nil {
		s.fail(w, r, err, "payment")
		return
	}
	if storedHash != hash {
		writeError(w, http.StatusConflict, "Idempotency-Key was already used with a different request", "Idempotency-Key")
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.InfoContext(r.Context(), "sandbox payment released", "payment", stored.ID, "invoice", stored.InvoiceID, "amountMinor", stored.AmountMinor)
	}
	writeJSON(w, status, s.settle(stored))
}

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request) {
	p, err := s.store.getPayment(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err, "payment")
		return
	}
	writeJSON(w, http.StatusOK, s.settle(p))
}

func (s *Server) listPayments(w http.ResponseWriter, r *http.Request) {
	list, err := s.store.listPayments(r.Context(), r.URL.Query().Get("invoiceId"))
	if err != nil {
		s.fail(w, r, err, "payment")
		return
	}
	for i := range list {
		list[i] = s.settle(list[i])
	}
	writeJSON(w, http.StatusOK, list)
}

// --- Mail ---

func (s *Server) listMail(w http.ResponseWriter, r *http.Request) {
	list, err := s.store.listMail(r.Context(), r.URL.Query().Get("to"))
	if err != nil {
		s.fail(w, r, err, "message")
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) getMail(w http.ResponseWriter, r *http.Request) {
	m, err := s.store.getMail(r.Context(), NormalizeMessageID(r.PathValue("messageId")))
	if err != nil {
		s.fail(w, r, err, "message")
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// --- Admin ---

func (s *Server) getFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) putFaults(w http.ResponseWriter, r *http.Request) {
	var m map[string]Fault
	if err := decode(r, &m); err != nil {
		s.fail(w, r, err, "faults")
		return
	}
	if err := s.SetFaults(m); err != nil {
		s.fail(w, r, err, "faults")
		return
	}
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) postReset(w http.ResponseWriter, r *http.Request) {
	if err := s.Reset(r.Context()); err != nil {
		s.fail(w, r, err, "reset")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "reset"})
}
