package agentapi

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/execution-orchestrator/orchestrator/processes/agentaction"
)

// openapiSpec is the REST API's OpenAPI 3.1 description, served at
// /v1/openapi.yaml.
//
//go:embed openapi.yaml
var openapiSpec []byte

// OpenAPI returns the REST API's OpenAPI 3.1 description (a copy).
func OpenAPI() []byte { return bytes.Clone(openapiSpec) }

// DefaultWait is how long GET /v1/actions/{id}/wait and wait_for_action
// wait when not told.
const DefaultWait = 30 * time.Second

// route is one REST operation. scope "" marks a public route, served
// without a key.
type route struct {
	method, path string
	scope        string
	handle       func(w http.ResponseWriter, r *http.Request, agent string)
}

// routeTable is every REST route; openapi.yaml documents exactly these (a
// test holds them in step), the task routes only when Config.Tasks is set. There is no approve route: agents never
// approve, people do, in the web app or the Temporal UI, with proofs.
func (g *Gateway) routeTable() []route {
	return append([]route{
		{"GET", "/v1/healthz", "", g.healthz},
		{"GET", "/v1/openapi.yaml", "", g.openapi},
		{"POST", "/v1/actions", ScopePropose, g.propose},
		{"GET", "/v1/actions", ScopeRead, g.list},
		{"GET", "/v1/actions/{id}", ScopeRead, g.get},
		{"GET", "/v1/actions/{id}/wait", ScopeRead, g.wait},
		{"POST", "/v1/actions/{id}/cancel", ScopeCancel, g.cancel},
		{"POST", "/v1/vendor-payments", ScopePropose, g.vendorPayment},
	}, append(g.taskRoutes(), g.escalationRoutes()...)...)
}

// restHandler puts the bearer check, the agent's rate limit and the
// route's scope in front of its handler.
func (g *Gateway) restHandler(rt route) http.Handler {
	if rt.scope == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rt.handle(w, r, "") })
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, ok := g.authenticate(w, r)
		if !ok {
			return
		}
		if ok, retry := g.allow(info.UserID); !ok {
			g.tooManyRequests(w, info.UserID, retry)
			return
		}
		if !slices.Contains(info.Scopes, rt.scope) {
			g.challenge(w, http.StatusForbidden, "insufficient_scope", rt.scope,
				fmt.Sprintf("this agent key lacks scope %s, which %s %s needs", rt.scope, rt.method, rt.path))
			return
		}
		rt.handle(w, r, info.UserID)
	})
}

func (g *Gateway) healthz(w http.ResponseWriter, _ *http.Request, _ string) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (g *Gateway) openapi(w http.ResponseWriter, _ *http.Request, _ string) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openapiSpec)
}

func (g *Gateway) propose(w http.ResponseWriter, r *http.Request, agent string) {
	var p agentaction.Proposal
	if !g.decode(w, r, &p) {
		return
	}
	st, err := g.actions.Propose(r.Context(), agent, p)
	if err != nil {
		g.fail(w, r, agent, err, nil)
		return
	}
	g.log.Info("action proposed", "agent", agent, "id", st.ID, "kind", p.Kind, "target", p.Target, "via", "rest")
	writeJSON(w, http.StatusAccepted, st)
}

// VendorPaymentRequest is POST /v1/vendor-payments: pay one invoice through
// the vendor-payment process, with its own gate and approvals.
type VendorPaymentRequest struct {
	InvoiceID      string  `json:"invoiceId"`
	Justification  string  `json:"justification"`
	Confidence     float64 `json:"confidence"`
	IdempotencyKey string  `json:"idempotencyKey"`
}

// Proposal is the vendor_payment.release proposal the request stands for.
func (v VendorPaymentRequest) Proposal() agentaction.Proposal {
	return agentaction.Proposal{Kind: agentaction.KindVendorPayment, Target: v.InvoiceID, Params: json.RawMessage(`{}`),
		Justification: v.Justification, Confidence: v.Confidence, IdempotencyKey: v.IdempotencyKey}
}

// vendorPaymentField renames a proposal field to the request's, so an
// error names what the agent sent.
func vendorPaymentField(field string) string {
	if field == "target" {
		return "invoiceId"
	}
	return field
}

func (g *Gateway) vendorPayment(w http.ResponseWriter, r *http.Request, agent string) {
	var v VendorPaymentRequest
	if !g.decode(w, r, &v) {
		return
	}
	st, err := g.actions.Propose(r.Context(), agent, v.Proposal())
	if err != nil {
		g.fail(w, r, agent, err, vendorPaymentField)
		return
	}
	g.log.Info("action proposed", "agent", agent, "id", st.ID, "kind", agentaction.KindVendorPayment, "target", v.InvoiceID, "via", "rest")
	writeJSON(w, http.StatusAccepted, st)
}

func (g *Gateway) get(w http.ResponseWriter, r *http.Request, agent string) {
	st, err := g.actions.Get(r.Context(), agent, r.PathValue("id"))
	if err != nil {
		g.fail(w, r, agent, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (g *Gateway) wait(w http.ResponseWriter, r *http.Request, agent string) {
	timeout, err := parseTimeout(r.URL.Query().Get("timeout"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error(), Field: "timeout"})
		return
	}
	done, ok := g.startWait(agent)
	if !ok {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, errorBody{Error: errTooManyWaits.Error()})
		return
	}
	defer done()
	st, err := g.actions.Wait(r.Context(), agent, r.PathValue("id"), timeout)
	if err != nil {
		g.fail(w, r, agent, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// parseTimeout reads ?timeout= as a duration ("30s") or whole seconds
// ("30"); more than agentaction.MaxWait is refused rather than cut short
// silently.
func parseTimeout(v string) (time.Duration, error) {
	if v == "" {
		return DefaultWait, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil {
			return 0, fmt.Errorf("%q is not a duration (e.g. 30s) or a number of seconds", clip(v))
		}
		d = time.Duration(n) * time.Second
	}
	if d <= 0 || d > agentaction.MaxWait {
		return 0, fmt.Errorf("must be more than 0 and at most %s", agentaction.MaxWait)
	}
	return d, nil
}

func (g *Gateway) list(w http.ResponseWriter, r *http.Request, agent string) {
	limit := 0 // the client's default, agentaction.MaxList
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > agentaction.MaxList {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: fmt.Sprintf("must be a whole number from 1 to %d", agentaction.MaxList), Field: "limit"})
			return
		}
		limit = n
	}
	sts, err := g.actions.List(r.Context(), agent, limit)
	if err != nil {
		g.fail(w, r, agent, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, listOf(sts))
}

func (g *Gateway) cancel(w http.ResponseWriter, r *http.Request, agent string) {
	st, err := g.actions.Cancel(r.Context(), agent, r.PathValue("id"))
	if err != nil {
		g.fail(w, r, agent, err, nil)
		return
	}
	g.log.Info("action cancel requested", "agent", agent, "id", st.ID, "via", "rest")
	writeJSON(w, http.StatusOK, st)
}

func listOf(sts []agentaction.Status) ActionList {
	if sts == nil {
		sts = []agentaction.Status{}
	}
	return ActionList{Actions: sts}
}

// fail answers an error of Actions: a refused field is the agent's to fix
// (400, naming it), a missing or foreign action is 404, a reused
// idempotency key 409; anything else is the gateway's problem, logged and
// answered without detail. rename, if not nil, maps proposal fields to
// request fields.
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, agent string, err error, rename func(string) string) {
	var fe *agentaction.FieldError
	switch {
	case errors.As(err, &fe):
		field := renameField(fe.Field, rename)
		writeJSON(w, http.StatusBadRequest, errorBody{Error: field + ": " + fe.Message, Field: field})
	case errors.Is(err, agentaction.ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody{Error: agentaction.ErrNotFound.Error()})
	case errors.Is(err, agentaction.ErrConflict):
		writeJSON(w, http.StatusConflict, errorBody{Error: agentaction.ErrConflict.Error(), Field: "idempotencyKey"})
	case r.Context().Err() != nil && errors.Is(err, context.Canceled):
		// The agent went away; nobody reads the answer.
		g.log.Info("agent request abandoned", "agent", agent, "path", r.URL.Path)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "request cancelled"})
	default:
		g.log.Error("agent request failed", "agent", agent, "method", r.Method, "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error; the gateway logged the detail, try again later"})
	}
}

func renameField(field string, rename func(string) string) string {
	if rename == nil {
		return field
	}
	return rename(field)
}

// decode reads one JSON object into v strictly: an unknown field (say, an
// "agent" the caller hoped would be believed) is an error naming it, as is a
// value of the wrong type. It answers the error itself and reports whether
// decoding succeeded.
func (g *Gateway) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)})
			return false
		}
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "could not read the request body"})
		return false
	}
	if e := decodeStrict(body, v); e != nil {
		writeJSON(w, http.StatusBadRequest, *e)
		return false
	}
	return true
}

// decodeStrict decodes one JSON object, naming the field at fault where
// encoding/json says which.
func decodeStrict(body []byte, v any) *errorBody {
	if len(bytes.TrimSpace(body)) == 0 {
		return &errorBody{Error: "a JSON object body is required"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case err == nil:
	case errors.As(err, &syntaxErr):
		return &errorBody{Error: fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)}
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return &errorBody{Error: fmt.Sprintf("%s: must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value), Field: typeErr.Field}
	case errors.As(err, &typeErr):
		return &errorBody{Error: "the body must be a JSON object, not " + typeErr.Value}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &errorBody{Error: name + ": unknown field; the agent is always the key's, never a field", Field: name}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &errorBody{Error: "malformed JSON: the body ends early"}
	default:
		return &errorBody{Error: "malformed JSON: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &errorBody{Error: "the body must be exactly one JSON object"}
	}
	return nil
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}
