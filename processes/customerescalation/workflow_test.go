package customerescalation

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/execution-orchestrator/orchestrator/audit"
	"github.com/execution-orchestrator/orchestrator/connectors/chat"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/connectors/ticketing"
	"github.com/execution-orchestrator/orchestrator/proof"
)

const testWFID = "escalation-SUP-1"

var testInput = Input{Ref: "SUP-1", AccountID: "ACC-GLOBEX", Severity: Sev1, Trigger: TriggerTicket, TicketID: "TCK-SUP-1",
	Summary: "Checkout down", RequestedBy: "detector"}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.SLAs = map[string]SLA{Sev1: {AckWithin: 10 * time.Second, UpdateEvery: 60 * time.Second, ConfirmWithin: 30 * time.Second}}
	return cfg
}

type fixture struct {
	t        *testing.T
	signer   *proof.Signer
	trust    proof.Trust
	mu       sync.Mutex
	runID    string
	ticket   string // status VerifyResolved sees
	calls    map[string]int
	posts    []string
	notified [][]string
	events   []audit.Event
	updates  int
}

func newFixture(t *testing.T) *fixture {
	pub, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	s := proof.NewSigner(priv)
	return &fixture{t: t, signer: s, ticket: ticketing.StatusResolved, calls: map[string]int{},
		trust: proof.Trust{Keys: []proof.TrustedKey{{KeyID: proof.KeyID(pub), Public: proof.EncodePublicKey(pub), Issuer: proof.IssuerWeb}}}}
}

func (f *fixture) count(n string) int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls[n] }

func (f *fixture) enter(n string) { f.mu.Lock(); f.calls[n]++; f.mu.Unlock() }

func (f *fixture) env() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(time.Date(2026, 3, 10, 10, 42, 0, 0, time.UTC))
	env.SetStartWorkflowOptions(StartOptions(testInput))
	RegisterActivities(env, &Activities{})
	env.RegisterActivityWithOptions(func(_ context.Context, ev audit.Event) (audit.AppendResult, error) {
		f.mu.Lock()
		f.events = append(f.events, ev)
		f.mu.Unlock()
		return audit.AppendResult{}, nil
	}, activity.RegisterOptions{Name: audit.AppendActivityName})
	env.OnActivity(ActivityLoadIdentity, mock.Anything).Return(func(ctx context.Context) (Identity, error) {
		f.mu.Lock()
		f.runID = activity.GetInfo(ctx).WorkflowExecution.RunID
		f.mu.Unlock()
		return Identity{Trust: f.trust, People: []Known{{ID: "clara", Chat: "@clara"}, {ID: "eli", Chat: "@eli"}, {ID: "mateo", Chat: "@mateo"},
			{ID: "noor", Chat: "@noor"}, {ID: "sam"}, {ID: "vera", Chat: "@vera"}, {ID: "zed"}}}, nil
	})
	env.OnActivity(ActivityResolveOwners, mock.Anything, mock.Anything).Return(func(context.Context, OwnersRequest) (Owners, error) {
		eli := Person{ID: "eli", Email: "eli@example.com", Role: "engineering on-call"}
		return Owners{AccountName: "Globex", AccountEmail: "it@globex.example", Channel: "acct-globex",
			Sales: Person{ID: "sam", Email: "sam@example.com"}, CSM: Person{ID: "clara", Email: "clara@example.com"}, Engineering: eli,
			Chain: []ChainStep{{Person: eli}, {Person: Person{ID: "mateo", Email: "mateo@example.com"}, After: 15 * time.Second},
				{Person: Person{ID: "vera", Email: "vera@example.com"}, After: 30 * time.Second}}}, nil
	})
	env.OnActivity(ActivityOpenTicket, mock.Anything, mock.Anything).Return(func(_ context.Context, req TicketRequest) (ticketing.Issue, error) {
		f.enter(ActivityOpenTicket)
		assert.Equal(f.t, testWFID+"/eng-ticket", req.IdempotencyKey)
		return ticketing.Issue{ID: "TCK-ENG-2", Status: ticketing.StatusOpen}, nil
	})
	env.OnActivity(ActivityAssignTicket, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(ActivityVerifyResolved, mock.Anything, mock.Anything).Return(func(_ context.Context, req TicketCheck) (ticketing.Issue, error) {
		f.mu.Lock()
		st := f.ticket
		f.mu.Unlock()
		if st != ticketing.StatusResolved {
			return ticketing.Issue{}, temporal.NewNonRetryableApplicationError("ticket "+req.IssueID+" is "+st, ErrTypeNotResolved, nil)
		}
		return ticketing.Issue{ID: req.IssueID, Status: st}, nil
	})
	env.OnActivity(ActivityReopenTicket, mock.Anything, mock.Anything).Return(func(context.Context, ReopenRequest) (ticketing.Issue, error) {
		f.enter(ActivityReopenTicket)
		return ticketing.Issue{}, nil
	})
	env.OnActivity(ActivityPost, mock.Anything, mock.Anything).Return(func(_ context.Context, req PostRequest) (chat.Message, error) {
		f.mu.Lock()
		f.posts = append(f.posts, req.IdempotencyKey)
		f.mu.Unlock()
		return chat.Message{}, nil
	})
	env.OnActivity(ActivityNotify, mock.Anything, mock.Anything).Return(func(_ context.Context, req NotifyRequest) ([]string, error) {
		var ids []string
		for _, p := range req.People {
			ids = append(ids, p.ID)
		}
		f.mu.Lock()
		f.notified = append(f.notified, ids)
		f.mu.Unlock()
		return ids, nil
	})
	env.OnActivity(ActivitySendCustomerUpdate, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(ActivityVerifyDelivery, mock.Anything, mock.Anything).Return(email.StoredMessage{}, nil)
	env.OnActivity(ActivityAskCustomer, mock.Anything, mock.Anything).Return(func(context.Context, AskRequest) error {
		f.enter(ActivityAskCustomer)
		return nil
	})
	env.OnActivity(ActivityRedeemCustomer, mock.Anything, mock.Anything).Return(func(_ context.Context, req RedeemRequest) error {
		if req.Token != "good-"+req.Digest {
			return temporal.NewNonRetryableApplicationError("token: unknown", ErrTypeBadToken, nil)
		}
		return nil
	})
	env.OnActivity(ActivityAddNote, mock.Anything, mock.Anything).Return(func(context.Context, NoteRequest) error {
		f.enter(ActivityAddNote)
		return nil
	})
	return env
}

// step signs req as the web app does (method oidc) for the open cycle.
func (f *fixture) step(cycle int, req EscalationRequest) EscalationRequest {
	req.Step = fmt.Sprintf("cycle-%d", cycle)
	digest, err := RequestDigest(req)
	require.NoError(f.t, err)
	nonce, _ := proof.NewNonce()
	f.mu.Lock()
	run := f.runID
	f.mu.Unlock()
	now := time.Date(2026, 3, 10, 10, 40, 0, 0, time.UTC)
	req.Proof, err = f.signer.Sign(proof.Assertion{Kind: proof.KindTask, WorkflowID: testWFID, RunID: run, Slot: req.Step, ActionDigest: digest,
		Decision: ProofDecision, Subject: req.Person, Method: proof.MethodOIDC, IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour), Nonce: nonce})
	require.NoError(f.t, err)
	return req
}

type outcome struct{ rejected, failed error }

// send sends an Update at d and records how it ended.
func (f *fixture) send(env *testsuite.TestWorkflowEnvironment, d time.Duration, cycle int, req EscalationRequest) *outcome {
	o := &outcome{}
	f.mu.Lock()
	f.updates++
	id := fmt.Sprint("update-", f.updates)
	f.mu.Unlock()
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(EscalationUpdate, id, &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { o.rejected = err },
			OnComplete: func(_ any, err error) { o.failed = err },
		}, f.step(cycle, req))
	}, d)
	return o
}

func customer(env *testsuite.TestWorkflowEnvironment, d time.Duration, cycle int, answer string) {
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(CustomerSignal, CustomerAnswer{Answer: answer, Token: "good-" + CustomerDigest(testInput.Ref, cycle)})
	}, d)
}

func result(t *testing.T, env *testsuite.TestWorkflowEnvironment) Status {
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var st Status
	require.NoError(t, env.GetWorkflowResult(&st))
	return st
}

func (f *fixture) kinds(kind audit.Kind) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		if e.Kind == kind {
			out = append(out, e.Summary)
		}
	}
	return out
}

func TestAckResolveConfirm(t *testing.T) {
	f := newFixture(t)
	env := f.env()
	ack := f.send(env, 2*time.Second, 1, EscalationRequest{Action: ActionAck, Person: "eli", Via: ViaChat, ChatHandle: "@eli"})
	upd := f.send(env, 3*time.Second, 1, EscalationRequest{Action: ActionUpdate, Person: "clara", Message: "We are on it."})
	res := f.send(env, 4*time.Second, 1, EscalationRequest{Action: ActionResolve, Person: "eli"})
	customer(env, 6*time.Second, 1, AnswerConfirmed)
	env.ExecuteWorkflow(New(testConfig()).Run, testInput)
	st := result(t, env)
	for _, o := range []*outcome{ack, upd, res} {
		assert.NoError(t, o.rejected)
		assert.NoError(t, o.failed)
	}
	assert.Equal(t, OutcomeResolved, st.Outcome)
	assert.Equal(t, "eli", st.AckedBy)
	assert.Equal(t, SLAMet, st.SLAState)
	assert.Equal(t, "TCK-ENG-2", st.EngTicket)
	require.Len(t, st.Updates, 1)
	assert.True(t, st.Updates[0].Delivered)
	assert.Equal(t, 1, f.count(ActivityOpenTicket))
	assert.Equal(t, 1, f.count(ActivityAddNote))
	assert.Contains(t, f.posts, testWFID+"/post/opened")
	assert.Contains(t, f.posts, testWFID+"/post/closed")
	assert.NotEmpty(t, f.kinds(audit.KindHandoff))
	outs := f.kinds(audit.KindOutcome)
	require.Len(t, outs, 1)
	assert.Contains(t, outs[0], OutcomeResolved)
}

func TestNotAcknowledgedWalksChain(t *testing.T) {
	f := newFixture(t)
	env := f.env()
	// Breach at 10s; mateo at 25s, vera at 40s; vera acknowledges at 45s.
	early := f.send(env, 20*time.Second, 1, EscalationRequest{Action: ActionAck, Person: "vera"}) // not involved yet
	ack := f.send(env, 45*time.Second, 1, EscalationRequest{Action: ActionAck, Person: "vera"})
	f.send(env, 46*time.Second, 1, EscalationRequest{Action: ActionResolve, Person: "vera"})
	env.ExecuteWorkflow(New(testConfig()).Run, testInput)
	st := result(t, env)
	require.Error(t, early.rejected)
	assert.Contains(t, early.rejected.Error(), "not involved")
	assert.NoError(t, ack.rejected)
	assert.Equal(t, OutcomeResolvedUnconfirmed, st.Outcome)
	var to []string
	for _, h := range st.Handoffs {
		to = append(to, h.To+"/"+h.Why)
	}
	assert.Equal(t, []string{"eli/assigned", "mateo/escalation", "vera/escalation"}, to)
	require.Len(t, st.Breaches, 1)
	assert.Equal(t, "ack", st.Breaches[0].SLA)
	assert.Equal(t, []string{"eli", "mateo"}, st.Breaches[0].Notified)
	assert.Equal(t, SLABreached, st.SLAState)
	assert.Len(t, f.kinds(audit.KindHandoff), 4) // assigned, 2 escalations, ack
	assert.Contains(t, f.posts, testWFID+"/post/chain-ack-1-step-1")
}

func TestResolveRefusedWhileTicketOpen(t *testing.T) {
	f := newFixture(t)
	f.ticket = ticketing.StatusInProgress
	env := f.env()
	f.send(env, time.Second, 1, EscalationRequest{Action: ActionAck, Person: "eli"})
	early := f.send(env, 2*time.Second, 1, EscalationRequest{Action: ActionResolve, Person: "eli"})
	env.RegisterDelayedCallback(func() {
		f.mu.Lock()
		f.ticket = ticketing.StatusResolved
		f.mu.Unlock()
	}, 3*time.Second)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(StatusQuery)
		require.NoError(t, err)
		var st Status
		require.NoError(t, v.Get(&st))
		assert.Equal(t, StageWorking, st.Stage)
		assert.Empty(t, st.Outcome)
	}, 3500*time.Millisecond)
	late := f.send(env, 4*time.Second, 1, EscalationRequest{Action: ActionResolve, Person: "eli"})
	customer(env, 5*time.Second, 1, AnswerConfirmed)
	env.ExecuteWorkflow(New(testConfig()).Run, testInput)
	st := result(t, env)
	require.Error(t, early.failed)
	assert.Contains(t, early.failed.Error(), "resolution refused: ticket TCK-ENG-2 is in_progress")
	assert.NoError(t, late.failed)
	assert.Equal(t, OutcomeResolved, st.Outcome)
}

func TestCustomerNotFixedReopens(t *testing.T) {
	f := newFixture(t)
	env := f.env()
	f.send(env, time.Second, 1, EscalationRequest{Action: ActionAck, Person: "eli"})
	f.send(env, 2*time.Second, 1, EscalationRequest{Action: ActionResolve, Person: "eli"})
	customer(env, 3*time.Second, 1, AnswerNotFixed)
	f.send(env, 5*time.Second, 2, EscalationRequest{Action: ActionAck, Person: "eli"})
	f.send(env, 6*time.Second, 2, EscalationRequest{Action: ActionResolve, Person: "eli"})
	customer(env, 7*time.Second, 1, AnswerConfirmed) // the cycle-1 token: refused
	customer(env, 8*time.Second, 2, AnswerConfirmed)
	env.ExecuteWorkflow(New(testConfig()).Run, testInput)
	st := result(t, env)
	assert.Equal(t, OutcomeResolved, st.Outcome)
	assert.Equal(t, 2, st.Cycle)
	assert.Equal(t, []string{OutcomeReopened}, st.CycleOutcomes)
	assert.Equal(t, 1, f.count(ActivityReopenTicket))
	assert.Equal(t, 2, f.count(ActivityAskCustomer))
	require.Len(t, st.Refused, 1)
	assert.Contains(t, st.Refused[0].Reason, "token")
	assert.Len(t, f.kinds(audit.KindOutcome), 2) // reopened, resolved
}

func TestResolvedUnconfirmed(t *testing.T) {
	f := newFixture(t)
	env := f.env()
	f.send(env, time.Second, 1, EscalationRequest{Action: ActionAck, Person: "eli"})
	f.send(env, 2*time.Second, 1, EscalationRequest{Action: ActionResolve, Person: "eli"})
	env.ExecuteWorkflow(New(testConfig()).Run, testInput)
	st := result(t, env)
	assert.Equal(t, OutcomeResolvedUnconfirmed, st.Outcome)
}

func TestUpdateSLABreach(t *testing.T) {
	f := newFixture(t)
	env := f.env()
	f.send(env, time.Second, 1, EscalationRequest{Action: ActionAck, Person: "eli"})
	f.send(env, 70*time.Second, 1, EscalationRequest{Action: ActionResolve, Person: "eli"})
	env.ExecuteWorkflow(New(testConfig()).Run, testInput)
	st := result(t, env)
	require.Len(t, st.Breaches, 1)
	assert.Equal(t, "update", st.Breaches[0].SLA)
	assert.Equal(t, []string{"eli", "mateo"}, st.Breaches[0].Notified)
}

func TestValidatorRefuses(t *testing.T) {
	f := newFixture(t)
	env := f.env()
	other := newFixture(t) // a key nobody trusts
	forged := &outcome{}
	env.RegisterDelayedCallback(func() {
		other.runID = f.runID
		req := other.step(1, EscalationRequest{Action: ActionAck, Person: "eli"})
		env.UpdateWorkflow(EscalationUpdate, "forged", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { forged.rejected = err },
			OnComplete: func(any, error) {}}, req)
	}, time.Second)
	unknown := f.send(env, time.Second, 1, EscalationRequest{Action: ActionAck, Person: "mallory"})
	agent := f.send(env, time.Second, 1, EscalationRequest{Action: ActionAck, Person: "agent:bot"})
	badChat := f.send(env, time.Second, 1, EscalationRequest{Action: ActionAck, Person: "eli", Via: ViaChat, ChatHandle: "@stranger"})
	wrongChat := f.send(env, time.Second, 1, EscalationRequest{Action: ActionAck, Person: "eli", Via: ViaChat, ChatHandle: "@clara"})
	stranger := f.send(env, time.Second, 1, EscalationRequest{Action: ActionAck, Person: "zed"})
	wrongStep := f.send(env, time.Second, 2, EscalationRequest{Action: ActionAck, Person: "eli"})
	env.RegisterDelayedCallback(func() {
		// A signal with a refused step is recorded, not applied.
		env.SignalWorkflow(EscalationSignal, EscalationRequest{Action: ActionAck, Person: "eli", Step: "cycle-1", Proof: "eo1.bad.sig"})
	}, time.Second)
	// eli's ack is accepted; the same signed request sent again (a replayed
	// proof) is refused, and so is an update with an oversized message.
	ok, replayed := &outcome{}, &outcome{}
	var signed EscalationRequest
	env.RegisterDelayedCallback(func() {
		signed = f.step(1, EscalationRequest{Action: ActionAck, Person: "eli", Via: ViaChat, ChatHandle: "@eli"})
		env.UpdateWorkflow(EscalationUpdate, "ack", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { ok.rejected = err },
			OnComplete: func(_ any, err error) { ok.failed = err }}, signed)
	}, 2*time.Second)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(EscalationUpdate, "ack-again", &testsuite.TestUpdateCallback{OnAccept: func() {}, OnReject: func(err error) { replayed.rejected = err },
			OnComplete: func(any, error) {}}, signed)
	}, 2500*time.Millisecond)
	oversized := f.send(env, 2600*time.Millisecond, 1, EscalationRequest{Action: ActionUpdate, Person: "eli", Message: strings.Repeat("x", maxMessage+1)})
	f.send(env, 3*time.Second, 1, EscalationRequest{Action: ActionResolve, Person: "eli"})
	env.ExecuteWorkflow(New(testConfig()).Run, testInput)
	st := result(t, env)
	for name, o := range map[string]*outcome{"forged": forged, "unknown": unknown, "agent": agent, "badChat": badChat, "wrongChat": wrongChat, "stranger": stranger, "wrongStep": wrongStep,
		"replayed": replayed, "oversized": oversized} {
		assert.Error(t, o.rejected, name)
	}
	assert.Contains(t, forged.rejected.Error(), "proof")
	assert.Contains(t, unknown.rejected.Error(), "not in the directory")
	assert.Contains(t, agent.rejected.Error(), "agent")
	assert.Contains(t, badChat.rejected.Error(), "not a known chat user")
	assert.Contains(t, wrongChat.rejected.Error(), "clara")
	assert.Contains(t, stranger.rejected.Error(), "not involved")
	assert.Contains(t, oversized.rejected.Error(), "too long")
	assert.NoError(t, ok.rejected)
	assert.NoError(t, ok.failed)
	assert.Equal(t, "eli", st.AckedBy)
	assert.Equal(t, OutcomeResolvedUnconfirmed, st.Outcome)
	require.Len(t, st.Refused, 1)
	assert.Contains(t, st.Refused[0].Reason, "proof")
}

func TestInvalidInputNamesField(t *testing.T) {
	in := testInput
	in.Severity = "sev9"
	err := validateInput(in)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "severity")
	in = testInput
	in.TicketID = ""
	assert.Contains(t, validateInput(in).Error(), "ticketId")
}
