package web

// Customer escalations (processes/customerescalation): the escalation page
// for signed-in people (status, and the ack, update and resolve steps sent
// as the "escalation" Update with an assertion the app signs), and the
// customer's reply page, opened from the emailed link (the token is the
// identity; the workflow redeems it).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/execution-orchestrator/orchestrator/process"
	"github.com/execution-orchestrator/orchestrator/processes/customerescalation"
	"github.com/execution-orchestrator/orchestrator/proof"
)

// Escalations is what the escalation pages and the chat webhook need from
// Temporal.
type Escalations interface {
	// EscalationStatus is the CustomerEscalation's "status" query.
	EscalationStatus(ctx context.Context, workflowID string) (customerescalation.Status, error)
	// SendEscalation sends a person's step as the "escalation" Update and
	// waits until the workflow accepted it (wait false: its validator
	// passed) or carried it out (wait true); a refusal is an
	// *EscalationRefusedError.
	SendEscalation(ctx context.Context, workflowID string, req customerescalation.EscalationRequest, wait bool) error
	// SignalCustomer sends the customer's answer as the "customer" Signal.
	SignalCustomer(ctx context.Context, workflowID string, ans customerescalation.CustomerAnswer) error
}

// EscalationRefusedError is the workflow refusing a step; Reason is its
// validator's (or handler's) message.
type EscalationRefusedError struct {
	WorkflowID string
	Reason     string
	Err        error
}

func (e *EscalationRefusedError) Error() string {
	return fmt.Sprintf("escalation %s refused the step: %s", e.WorkflowID, e.Reason)
}

func (e *EscalationRefusedError) Unwrap() error { return e.Err }

type temporalEscalations struct{ c tclient.Client }

func (t temporalEscalations) EscalationStatus(ctx context.Context, workflowID string) (customerescalation.Status, error) {
	st, err := customerescalation.QueryStatus(ctx, t.c, workflowID)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return st, fmt.Errorf("%w: %w", errNotFound, err)
	}
	return st, err
}

func (t temporalEscalations) SendEscalation(ctx context.Context, workflowID string, req customerescalation.EscalationRequest, wait bool) error {
	stage := tclient.WorkflowUpdateStageAccepted
	if wait {
		stage = tclient.WorkflowUpdateStageCompleted
	}
	h, err := t.c.UpdateWorkflow(ctx, tclient.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: customerescalation.EscalationUpdate, Args: []any{req}, WaitForStage: stage,
	})
	if err == nil && wait {
		err = h.Get(ctx, nil)
	}
	if err == nil {
		return nil
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%s %s on %s: %w: %w", req.Person, req.Action, workflowID, errNotFound, err)
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return &EscalationRefusedError{WorkflowID: workflowID, Reason: appErr.Message(), Err: err}
	}
	return fmt.Errorf("send %s from %s to %s: %w", req.Action, req.Person, workflowID, err)
}

func (t temporalEscalations) SignalCustomer(ctx context.Context, workflowID string, ans customerescalation.CustomerAnswer) error {
	err := t.c.SignalWorkflow(ctx, workflowID, "", customerescalation.CustomerSignal, ans)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: %w", errNotFound, err)
	}
	return err
}

// Caps of the escalation forms.
const (
	maxEscalationMessage = 4000
	maxAnswer            = 16
)

// escalationWorkflowID is the workflow id a chat ref or a URL names: a full
// workflow id ("escalation-SUP-1") as is, else the escalation's ref.
func escalationWorkflowID(ref string) string {
	if strings.HasPrefix(ref, customerescalation.WorkflowID("")) {
		return ref
	}
	return customerescalation.WorkflowID(ref)
}

// lookupEscalation reads the escalation id names: Temporal's record of its
// run (believed only for a CustomerEscalation on our task queue), then its
// status query.
func (s *Server) lookupEscalation(ctx context.Context, id string) (Execution, customerescalation.Status, *refusal) {
	var st customerescalation.Status
	ex, err := s.wf.Describe(ctx, id)
	if errors.Is(err, errNotFound) {
		return ex, st, &refusal{http.StatusNotFound, "No such escalation", fmt.Sprintf("There is no escalation %q.", shorten(id, 100))}
	}
	if err != nil {
		s.log.ErrorContext(ctx, "describe escalation", "workflowId", id, "err", err)
		return ex, st, &refusal{http.StatusBadGateway, "Escalation unavailable", "Could not read the escalation from Temporal."}
	}
	if ex.TaskQueue != process.TaskQueue || ex.WorkflowType != customerescalation.Workflow {
		s.log.WarnContext(ctx, "foreign workflow refused", "workflowId", id, "workflowType", ex.WorkflowType, "taskQueue", ex.TaskQueue)
		return ex, st, &refusal{http.StatusForbidden, "Not an escalation", fmt.Sprintf("Workflow %q is not a customer escalation of this app.", shorten(id, 100))}
	}
	st, err = s.esc.EscalationStatus(ctx, id)
	if errors.Is(err, errNotFound) {
		return ex, st, &refusal{http.StatusNotFound, "No such escalation", fmt.Sprintf("There is no escalation %q.", shorten(id, 100))}
	}
	if err != nil {
		s.log.ErrorContext(ctx, "escalation status query", "workflowId", id, "err", err)
		return ex, st, &refusal{http.StatusBadGateway, "Escalation unavailable", "Could not read the escalation's status."}
	}
	return ex, st, nil
}

// signEscalation makes the assertion that person takes req's step on the
// given run.
func (s *Server) signEscalation(method, workflowID, runID string, req customerescalation.EscalationRequest) (string, error) {
	if s.signer == nil {
		return "", errors.New("web: no signing key configured")
	}
	digest, err := customerescalation.RequestDigest(req)
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	return s.signer.Sign(proof.Assertion{
		Kind: proof.KindTask, WorkflowID: workflowID, RunID: runID, Slot: req.Step,
		ActionDigest: digest, Decision: customerescalation.ProofDecision, Subject: req.Person, Method: method,
		IssuedAt: now, ExpiresAt: now.Add(proofLifetime),
	})
}

// ---- the escalation page ----

type escalationView struct {
	WorkflowID string
	Status     customerescalation.Status
	HeldFor    string
	MayAct     bool
	Sent       string // the action just carried out
	Error      string // the workflow's refusal
}

// escalationReader is the signed-in person who may read an escalation;
// field workers and anonymous visitors are refused.
func (s *Server) escalationPerson(w http.ResponseWriter, r *http.Request) (string, bool) {
	if me, ok := s.auth.Person(r); ok {
		return me, true
	}
	if _, ok := s.workerOf(r); ok {
		s.fail(w, r, http.StatusForbidden, "Not for field workers", "Escalations are handled by the account and engineering teams.")
		return "", false
	}
	s.fail(w, r, http.StatusUnauthorized, "Not signed in", "Sign in to see this escalation.")
	return "", false
}

// mayReadEscalation: the people involved, the requester, and ops roles.
func (s *Server) mayReadEscalation(me string, st customerescalation.Status) bool {
	return slices.Contains(st.Involved, me) || st.RequestedBy == me || st.Holder == me || s.mayOps(me)
}

func (s *Server) escalationPage(w http.ResponseWriter, r *http.Request) {
	me, ok := s.escalationPerson(w, r)
	if !ok {
		return
	}
	s.renderEscalation(w, r, http.StatusOK, me, r.PathValue("workflowId"), "", "")
}

func (s *Server) renderEscalation(w http.ResponseWriter, r *http.Request, status int, me, id, sent, problem string) {
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	_, st, ref := s.lookupEscalation(ctx, id)
	if ref != nil {
		s.fail(w, r, ref.status, ref.heading, ref.message)
		return
	}
	if !s.mayReadEscalation(me, st) {
		s.fail(w, r, http.StatusForbidden, "Not your escalation", "You are not involved in this escalation.")
		return
	}
	v := escalationView{WorkflowID: id, Status: st, Sent: sent, Error: problem,
		MayAct: st.OpenStep != "" && slices.Contains(st.Involved, me)}
	if !st.HeldSince.IsZero() {
		v.HeldFor = ago(s.now().Sub(st.HeldSince))
	}
	pg := s.newPage(w, r, "Escalation "+st.Ref, me)
	pg.Data = v
	s.render(w, r, status, "escalation", pg)
}

func (s *Server) escalationAct(w http.ResponseWriter, r *http.Request) {
	me, ok := s.escalationPerson(w, r)
	if !ok {
		return
	}
	id := r.PathValue("workflowId")
	if !s.parseForm(w, r, map[string]int{"action": maxDecision, "step": maxStep, "message": maxEscalationMessage, csrfField: maxCSRF}) {
		return
	}
	if !s.csrf.valid(r) {
		s.fail(w, r, http.StatusForbidden, "Form expired", "The form's security token is missing or wrong. Reload the page and try again.")
		return
	}
	act, step := r.PostFormValue("action"), r.PostFormValue("step")
	msg := strings.TrimSpace(r.PostFormValue("message"))
	switch act {
	case customerescalation.ActionAck, customerescalation.ActionResolve:
		msg = ""
	case customerescalation.ActionUpdate:
		if msg == "" {
			s.fail(w, r, http.StatusBadRequest, "Bad form", "message: required for a customer update.")
			return
		}
	default:
		s.fail(w, r, http.StatusBadRequest, "Bad form", fmt.Sprintf("action: %q is not ack, update or resolve.", shorten(act, 16)))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), decideTimeout)
	defer cancel()
	ex, st, ref := s.lookupEscalation(ctx, id)
	if ref != nil {
		s.fail(w, r, ref.status, ref.heading, ref.message)
		return
	}
	switch {
	case !ex.Running || st.OpenStep == "":
		s.fail(w, r, http.StatusConflict, "No step open", "This escalation is not waiting for a step; nothing was sent.")
		return
	case step != st.OpenStep:
		s.fail(w, r, http.StatusConflict, "Escalation changed", "The escalation moved on since the page was loaded; reload it and try again.")
		return
	case !slices.Contains(st.Involved, me):
		s.fail(w, r, http.StatusForbidden, "Not your escalation", "You are not involved in this escalation; nothing was sent.")
		return
	}
	req := customerescalation.EscalationRequest{Action: act, Person: me, Message: msg, Via: customerescalation.ViaWeb, Step: step}
	var err error
	if req.Proof, err = s.signEscalation(s.proofMethod(), id, ex.RunID, req); err != nil {
		s.log.ErrorContext(ctx, "sign escalation step", "workflowId", id, "err", err)
		s.fail(w, r, http.StatusInternalServerError, "Not sent", "The app could not sign your step.")
		return
	}
	err = s.esc.SendEscalation(ctx, id, req, true)
	var refused *EscalationRefusedError
	switch {
	case err == nil:
		s.log.InfoContext(ctx, "escalation step recorded", "workflowId", id, "person", me, "action", act, "step", step)
		s.renderEscalation(w, r, http.StatusOK, me, id, act, "")
	case errors.As(err, &refused):
		s.log.WarnContext(ctx, "escalation step refused", "workflowId", id, "person", me, "action", act, "reason", refused.Reason)
		s.renderEscalation(w, r, http.StatusConflict, me, id, "", refused.Reason)
	default:
		s.log.ErrorContext(ctx, "send escalation step", "workflowId", id, "person", me, "err", err)
		s.fail(w, r, http.StatusBadGateway, "Step not confirmed", "The workflow did not confirm your step in time. Open the escalation again to check before retrying.")
	}
}

// ---- the customer's reply page ----

type customerView struct {
	WorkflowID string
	Ref        string
	Token      string
	Asked      bool
	Sent       string
}

func (s *Server) customerPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("workflowId")
	token := r.URL.Query().Get("token")
	switch {
	case token == "":
		s.fail(w, r, http.StatusBadRequest, "Bad link", "token: missing; open the link from the email again.")
		return
	case len(token) > maxToken:
		s.fail(w, r, http.StatusBadRequest, "Bad link", fmt.Sprintf("token: longer than %d characters.", maxToken))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	ex, st, ref := s.lookupEscalation(ctx, id)
	if ref != nil {
		// Say little to an anonymous visitor.
		s.fail(w, r, ref.status, ref.heading, "This link does not open an escalation.")
		return
	}
	v := customerView{WorkflowID: id, Ref: st.Ref, Token: token, Asked: ex.Running && st.Stage == customerescalation.StageAwaitingCustomer}
	pg := s.newPage(w, r, "Is the problem fixed?", "")
	pg.Data = v
	s.render(w, r, http.StatusOK, "customer", pg)
}

func (s *Server) customerAnswer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("workflowId")
	if !s.parseForm(w, r, map[string]int{"answer": maxAnswer, "token": maxToken, "comment": maxComment, csrfField: maxCSRF}) {
		return
	}
	if !s.csrf.valid(r) {
		s.fail(w, r, http.StatusForbidden, "Form expired", "The form's security token is missing or wrong. Reload the page and try again.")
		return
	}
	ans := customerescalation.CustomerAnswer{Answer: r.PostFormValue("answer"), Token: r.PostFormValue("token"),
		Comment: strings.TrimSpace(r.PostFormValue("comment"))}
	switch {
	case ans.Answer != customerescalation.AnswerConfirmed && ans.Answer != customerescalation.AnswerNotFixed:
		s.fail(w, r, http.StatusBadRequest, "Bad form", "answer: choose one of the two buttons.")
		return
	case ans.Token == "":
		s.fail(w, r, http.StatusBadRequest, "Bad form", "token: missing; open the link from the email again.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	ex, st, ref := s.lookupEscalation(ctx, id)
	if ref != nil {
		s.fail(w, r, ref.status, ref.heading, "This link does not open an escalation.")
		return
	}
	if !ex.Running || st.Stage != customerescalation.StageAwaitingCustomer {
		s.fail(w, r, http.StatusConflict, "No longer asked", "We are no longer waiting for this answer; thank you all the same.")
		return
	}
	// The workflow redeems the token (once); the app never consumes it.
	if err := s.esc.SignalCustomer(ctx, id, ans); err != nil {
		s.log.ErrorContext(ctx, "customer answer signal", "workflowId", id, "err", err)
		s.fail(w, r, http.StatusBadGateway, "Answer not sent", "Your answer could not be sent. Try again in a moment.")
		return
	}
	s.log.InfoContext(ctx, "customer answer sent", "workflowId", id, "answer", ans.Answer)
	pg := s.newPage(w, r, "Thank you", "")
	pg.Data = customerView{WorkflowID: id, Ref: st.Ref, Sent: ans.Answer}
	s.render(w, r, http.StatusOK, "customer", pg)
}

// routeEscalations serves the escalation pages (with Escalations).
func (s *Server) routeEscalations(mux *http.ServeMux) {
	if s.esc == nil {
		return
	}
	mux.HandleFunc("GET /escalations/{workflowId}", s.escalationPage)
	mux.HandleFunc("POST /escalations/{workflowId}", s.escalationAct)
	mux.HandleFunc("GET /escalations/{workflowId}/customer", s.customerPage)
	mux.HandleFunc("POST /escalations/{workflowId}/customer", s.customerAnswer)
}
