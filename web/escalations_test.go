package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/execution-orchestrator/orchestrator/connectors/chat"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/policy"
	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/customerescalation"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

const (
	escRef    = "SUP-1"
	escRunID  = "esc-run-1"
	escSecret = "chat-test-secret"
)

var escWF = customerescalation.WorkflowID(escRef)

// fakeEscalations answers the status query and records what is sent.
type fakeEscalations struct {
	mu      sync.Mutex
	status  map[string]customerescalation.Status
	steps   []customerescalation.EscalationRequest
	answers []customerescalation.CustomerAnswer
	refuse  string
}

func (f *fakeEscalations) EscalationStatus(_ context.Context, id string) (customerescalation.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.status[id]
	if !ok {
		return st, errNotFound
	}
	return st, nil
}

func (f *fakeEscalations) SendEscalation(_ context.Context, id string, req customerescalation.EscalationRequest, _ bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps = append(f.steps, req)
	if f.refuse != "" {
		return &EscalationRefusedError{WorkflowID: id, Reason: f.refuse}
	}
	return nil
}

func (f *fakeEscalations) SignalCustomer(_ context.Context, _ string, ans customerescalation.CustomerAnswer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = append(f.answers, ans)
	return nil
}

func (f *fakeEscalations) sent() []customerescalation.EscalationRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]customerescalation.EscalationRequest(nil), f.steps...)
}

type escHarness struct {
	*harness
	esc    *fakeEscalations
	signer *proof.Signer
	srv    *Server
}

func newEscHarness(t *testing.T) *escHarness {
	t.Helper()
	ctx := context.Background()
	dir, err := policy.DefaultDirectory()
	require.NoError(t, err)
	tmp := t.TempDir()
	wf, err := workforce.Open(ctx, "", filepath.Join(tmp, "orchestrator.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { wf.Close() })
	require.NoError(t, wf.Seed(ctx))
	ev, err := evidence.Open(ctx, "", filepath.Join(tmp, "orchestrator.db"), filepath.Join(tmp, "evidence"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { ev.Close() })
	eh := &escHarness{esc: &fakeEscalations{status: map[string]customerescalation.Status{}}, signer: testSigner(t)}
	h := &harness{t: t, fake: newFake(), now: t0.Add(3*time.Hour + 12*time.Minute)}
	h.srv = httptest.NewUnstartedServer(nil)
	cfg := Config{Workflows: h.fake, Directory: dir, Now: func() time.Time { return h.now }, SecretKey: []byte("test-key"),
		DevIdentity: true, BaseURL: "http://" + h.srv.Listener.Addr().String(), Signer: eh.signer,
		WorkflowTypes: append(append([]string(nil), testTypes...), customerescalation.Workflow),
		Workforce:     wf, Evidence: ev, Tasks: &fakeTasks{status: map[string]humantask.Status{}},
		Escalations: eh.esc, ChatWebhookSecret: []byte(escSecret)}
	s, err := New(cfg)
	require.NoError(t, err)
	h.srv.Config = NewHTTPServer(s.Handler())
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	h.c = newClient(t)
	eh.harness, eh.srv = h, s
	eh.esc.status[escWF] = customerescalation.Status{Ref: escRef, AccountID: "ACC-HOOLI", AccountName: "Hooli", Severity: customerescalation.Sev1,
		Summary: "Checkout down", Stage: customerescalation.StageAwaitingAck, Cycle: 1, OpenStep: "cycle-1", Holder: "eli", HeldSince: t0,
		Owners:   []customerescalation.Person{{ID: "eli", Name: "Eli Cohen", Role: "engineering on-call", Chat: "@eli"}},
		Involved: []string{"eli", "sam"}, SLAState: customerescalation.SLAOK, EngTicket: "ENG-7"}
	h.fake.execs[escWF] = Execution{RunID: escRunID, WorkflowType: customerescalation.Workflow, TaskQueue: process.TaskQueue, Running: true}
	return eh
}

// verify checks a step's proof as the workflow does.
func (h *escHarness) verify(req customerescalation.EscalationRequest, method string) proof.Assertion {
	h.t.Helper()
	digest, err := customerescalation.RequestDigest(req)
	require.NoError(h.t, err)
	trust := proof.Trust{Keys: []proof.TrustedKey{{KeyID: h.signer.KeyID(), Public: proof.EncodePublicKey(h.signer.Public()),
		Issuer: proof.IssuerWeb, Methods: []string{method}}}}
	a, err := proof.Verify(req.Proof, trust, proof.Expect{Kind: proof.KindTask, WorkflowID: escWF, RunID: escRunID, Slot: req.Step,
		ActionDigest: digest, Decision: customerescalation.ProofDecision, Subject: req.Person}, h.now)
	require.NoError(h.t, err)
	assert.Equal(h.t, method, a.Method)
	return a
}

// deliver posts a chat message event as the chat service does.
func (h *escHarness) deliver(delivery, author, text string, mutate ...func(*http.Request)) resp {
	h.t.Helper()
	body, err := json.Marshal(chat.WebhookEvent{Type: chat.EventMessage, Message: chat.Message{ID: delivery, Channel: "#esc", Author: author, Text: text, At: h.now}})
	require.NoError(h.t, err)
	return h.deliverRaw(delivery, body, h.now, mutate...)
}

func (h *escHarness) deliverRaw(delivery string, body []byte, at time.Time, mutate ...func(*http.Request)) resp {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.harness.srv.URL+ChatHookPath, bytes.NewReader(body))
	require.NoError(h.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(chat.HeaderSignature, chat.SignWebhook(escSecret, at, body))
	req.Header.Set(chat.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(chat.HeaderDelivery, delivery)
	for _, m := range mutate {
		m(req)
	}
	r, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	return read(h.t, r)
}

// settle waits for the steps the webhook sends in the background.
func (h *escHarness) settle() { h.srv.chat.bg.Wait() }

func TestChatWebhookKnownHandleSendsAProvenStep(t *testing.T) {
	h := newEscHarness(t)
	r := h.deliver("MSG-1", "@Eli", "ack "+escRef)
	require.Equal(t, http.StatusOK, r.code, r.body)
	h.settle()
	sent := h.esc.sent()
	require.Len(t, sent, 1)
	req := sent[0]
	assert.Equal(t, customerescalation.ActionAck, req.Action)
	assert.Equal(t, "eli", req.Person)
	assert.Equal(t, customerescalation.ViaChat, req.Via)
	assert.Equal(t, "@Eli", req.ChatHandle)
	assert.Equal(t, "cycle-1", req.Step)
	h.verify(req, proof.MethodChat)

	// The same delivery again (a retry) has no effect.
	r = h.deliver("MSG-1", "@Eli", "ack "+escRef)
	assert.Equal(t, http.StatusOK, r.code)
	h.settle()
	assert.Len(t, h.esc.sent(), 1, "a replayed delivery sends nothing")

	// A full workflow id works too; reassign maps the handle to a person.
	r = h.deliver("MSG-2", "@eli", "reassign "+escWF+" @noor")
	require.Equal(t, http.StatusOK, r.code)
	h.settle()
	sent = h.esc.sent()
	require.Len(t, sent, 2)
	assert.Equal(t, customerescalation.ActionReassign, sent[1].Action)
	assert.Equal(t, "noor", sent[1].To)
	h.verify(sent[1], proof.MethodChat)

	// A refusal by the workflow is only logged.
	h.esc.mu.Lock()
	h.esc.refuse = "action: already acknowledged"
	h.esc.mu.Unlock()
	r = h.deliver("MSG-3", "@eli", "resolved "+escRef)
	assert.Equal(t, http.StatusOK, r.code)
	h.settle()
	assert.Len(t, h.esc.sent(), 3)
}

func TestChatWebhookIgnoresUnknownHandlesAndChatter(t *testing.T) {
	h := newEscHarness(t)
	for i, m := range []struct{ author, text string }{
		{"@mallory", "ack " + escRef},              // nobody in the directory
		{"@eli", "good morning"},                   // not a command
		{"@eli", "reassign " + escRef + " @ghost"}, // to nobody
		{"@eli", "ack ESC-404"},                    // no such escalation
	} {
		r := h.deliver("MSG-X"+strconv.Itoa(i), m.author, m.text)
		assert.Equal(t, http.StatusOK, r.code, m.text)
	}
	h.settle()
	assert.Empty(t, h.esc.sent())
}

func TestChatWebhookRefusesForgedStaleAndOversized(t *testing.T) {
	h := newEscHarness(t)
	r := h.deliver("MSG-1", "@eli", "ack "+escRef, func(req *http.Request) {
		req.Header.Set(chat.HeaderSignature, chat.SignWebhook("wrong-secret", h.now, []byte("{}")))
	})
	assert.Equal(t, http.StatusUnauthorized, r.code)
	r = h.deliver("MSG-2", "@eli", "ack "+escRef, func(req *http.Request) { req.Header.Del(chat.HeaderSignature) })
	assert.Equal(t, http.StatusUnauthorized, r.code)

	body, err := json.Marshal(chat.WebhookEvent{Type: chat.EventMessage, Message: chat.Message{ID: "MSG-3", Author: "@eli", Text: "ack " + escRef}})
	require.NoError(t, err)
	r = h.deliverRaw("MSG-3", body, h.now.Add(-time.Hour))
	assert.Equal(t, http.StatusUnauthorized, r.code, "stale timestamp")

	big := bytes.Repeat([]byte("x"), chat.MaxWebhookBody+1)
	r = h.deliverRaw("MSG-4", big, h.now)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.code)

	// A forged delivery does not burn the id: the real one still acts.
	r = h.deliver("MSG-1", "@eli", "ack "+escRef)
	assert.Equal(t, http.StatusOK, r.code)
	h.settle()
	assert.Len(t, h.esc.sent(), 1)
}

func TestChatWebhookAbsentWithoutSecret(t *testing.T) {
	h := newHarness(t)
	r := h.post(h.c, ChatHookPath, url.Values{})
	assert.NotEqual(t, http.StatusOK, r.code)
	assert.NotEqual(t, http.StatusUnauthorized, r.code)
}

func TestCustomerPageSendsTheAnswer(t *testing.T) {
	h := newEscHarness(t)
	h.esc.mu.Lock()
	st := h.esc.status[escWF]
	st.Stage, st.OpenStep = customerescalation.StageAwaitingCustomer, ""
	h.esc.status[escWF] = st
	h.esc.mu.Unlock()
	c := newClient(t)
	page := h.get(c, "/escalations/"+escWF+"/customer?token=tok-123")
	require.Equal(t, http.StatusOK, page.code, page.body)
	assert.Contains(t, page.body, "Is the problem fixed?")
	assert.Contains(t, page.body, `value="tok-123"`)

	// Without the form's CSRF field: refused.
	r := h.post(c, "/escalations/"+escWF+"/customer", url.Values{"answer": {"confirmed"}, "token": {"tok-123"}})
	assert.Equal(t, http.StatusForbidden, r.code)
	assert.Empty(t, h.esc.answers)

	r = h.post(c, "/escalations/"+escWF+"/customer", url.Values{"answer": {"not_fixed"}, "token": {"tok-123"}, "comment": {"still slow"}, "csrf": {csrfOf(t, page.body)}})
	require.Equal(t, http.StatusOK, r.code, r.body)
	assert.Contains(t, r.body, "Thank you")
	require.Len(t, h.esc.answers, 1)
	assert.Equal(t, customerescalation.CustomerAnswer{Answer: "not_fixed", Token: "tok-123", Comment: "still slow"}, h.esc.answers[0])

	// No token: a bad link.
	assert.Equal(t, http.StatusBadRequest, h.get(c, "/escalations/"+escWF+"/customer").code)
}

func TestEscalationPage(t *testing.T) {
	h := newEscHarness(t)
	// Anonymous: refused.
	anon := newClient(t)
	assert.Equal(t, http.StatusUnauthorized, h.get(anon, "/escalations/"+escWF).code)
	assert.Equal(t, http.StatusUnauthorized, h.post(anon, "/escalations/"+escWF, url.Values{"action": {"ack"}}).code)

	// A field worker: refused.
	wk := newClient(t)
	pick := h.get(wk, "/")
	require.Equal(t, http.StatusSeeOther, h.post(wk, "/session", url.Values{"worker": {ana}, "csrf": {csrfOf(t, pick.body)}}).code)
	assert.Equal(t, http.StatusForbidden, h.get(wk, "/escalations/"+escWF).code)
	assert.Equal(t, http.StatusForbidden, h.post(wk, "/escalations/"+escWF, url.Values{"action": {"ack"}, "step": {"cycle-1"}, "csrf": {csrfOf(t, pick.body)}}).code)

	// Someone not involved: refused.
	other := newClient(t)
	h.signIn(other, "maria")
	assert.Equal(t, http.StatusForbidden, h.get(other, "/escalations/"+escWF).code)

	h.signIn(h.c, "eli")
	page := h.get(h.c, "/escalations/"+escWF)
	require.Equal(t, http.StatusOK, page.code, page.body)
	for _, want := range []string{"Hooli", "sev1", "ENG-7", "Eli Cohen", `value="cycle-1"`, "Acknowledge"} {
		assert.Contains(t, page.body, want)
	}
	r := h.post(h.c, "/escalations/"+escWF, url.Values{"action": {"ack"}, "step": {"cycle-1"}})
	assert.Equal(t, http.StatusForbidden, r.code, "no CSRF field")
	assert.Empty(t, h.esc.sent())

	r = h.post(h.c, "/escalations/"+escWF, url.Values{"action": {"ack"}, "step": {"cycle-1"}, "csrf": {csrfOf(t, page.body)}})
	require.Equal(t, http.StatusOK, r.code, r.body)
	assert.Contains(t, r.body, "was recorded")
	sent := h.esc.sent()
	require.Len(t, sent, 1)
	assert.Equal(t, customerescalation.EscalationRequest{Action: "ack", Person: "eli", Via: customerescalation.ViaWeb, Step: "cycle-1", Proof: sent[0].Proof}, sent[0])
	h.verify(sent[0], proof.MethodDev)

	// A stale step is not sent.
	r = h.post(h.c, "/escalations/"+escWF, url.Values{"action": {"resolve"}, "step": {"cycle-0"}, "csrf": {csrfOf(t, page.body)}})
	assert.Equal(t, http.StatusConflict, r.code)
	assert.Len(t, h.esc.sent(), 1)
	// A refusal is shown.
	h.esc.refuse = "action: acknowledge before resolving"
	r = h.post(h.c, "/escalations/"+escWF, url.Values{"action": {"update"}, "message": {"we are on it"}, "step": {"cycle-1"}, "csrf": {csrfOf(t, page.body)}})
	assert.Equal(t, http.StatusConflict, r.code)
	assert.Contains(t, r.body, "acknowledge before resolving")
	assert.True(t, strings.Contains(r.body, "did not accept"))
}
