package onboarding

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/connectors/email"
	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/proof"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// wfStart is when the test runs start.
var wfStart = time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)

var validInput = Input{
	CustomerRef: "C-1001", Name: "Joana Silva", Email: "j.silva@example.com", Phone: "+351 21 000 0000",
	Address: "Rua Augusta 100, 1100-053 Lisboa", Lat: 38.7107, Lon: -9.1366, Plan: crm.PlanStandard, RequestedBy: "maria",
}

const testAccountID = "ACC-00000000C0FFEE01"

func testConfig() Config {
	cfg := DefaultConfig()
	// Short bounds keep the simulated retries few; the clock is mocked.
	cfg.Delivery.ScheduleToCloseTimeout = 2 * time.Minute
	cfg.Activation.ScheduleToCloseTimeout = 2 * time.Minute
	return cfg
}

// fixture answers the workflow's activities and its HumanTask child through
// mocks, recording what the workflow asked.
type fixture struct {
	// createErr, sendErr, activateErr, escalateErr: what those activities
	// fail with.
	createErr, sendErr, activateErr, escalateErr error
	// deliveredAfter: VerifyDelivery fails this many times first; < 0 never
	// succeeds. activeAfter likewise for VerifyActive.
	deliveredAfter, activeAfter int
	// task is how the HumanTask child ends; taskErr makes it fail; taskWait
	// makes it take that long first.
	task     humantask.Result
	taskErr  error
	taskWait time.Duration
	// trust is what LoadTrust answers.
	trust proof.Trust

	mu          sync.Mutex
	calls       map[string]int
	creates     []CreateAccountRequest
	welcomes    []WelcomeRequest
	activations []ActivateRequest
	notes       []NoteRequest
	escalations []EscalationRequest
	tasks       []humantask.Input
	taskIDs     []string    // child workflow ids
	taskAt      []time.Time // when each child started
}

func newFixture() *fixture {
	return &fixture{calls: map[string]int{}, task: completedTask()}
}

func completedTask() humantask.Result {
	return humantask.Result{TaskID: TaskID(testAccountID), Stage: humantask.StageDone, Outcome: humantask.OutcomeCompleted,
		Assignee: "ana-field", Accepted: &evidence.Verdict{Overall: evidence.Accepted}, Answers: map[string]any{"name-matches": true}}
}

func (f *fixture) enter(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[name]++
	return f.calls[name]
}

func (f *fixture) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

func (f *fixture) account(status string) crm.Account {
	in := validInput
	a := crm.Account{ID: testAccountID, IdempotencyKey: AccountKey(WorkflowID(in.CustomerRef)), Name: in.Name, Email: in.Email,
		Phone: in.Phone, Address: in.Address, Lat: in.Lat, Lon: in.Lon, Plan: in.Plan, Status: status, CreatedAt: wfStart}
	if status == crm.StatusActive {
		at := wfStart.Add(2 * time.Hour)
		a.ActivatedAt, a.VerifiedBy = &at, TaskID(testAccountID)
	}
	return a
}

func (f *fixture) mockAll(env *testsuite.TestWorkflowEnvironment) {
	RegisterActivities(env, &Activities{})
	env.OnActivity(ActivityLoadTrust, mock.Anything, mock.Anything).Return(func(context.Context, struct{}) (proof.Trust, error) {
		f.enter(ActivityLoadTrust)
		return f.trust, nil
	})
	env.OnActivity(ActivityCreateAccount, mock.Anything, mock.Anything).Return(func(_ context.Context, req CreateAccountRequest) (crm.Account, error) {
		f.enter(ActivityCreateAccount)
		f.mu.Lock()
		f.creates = append(f.creates, req)
		f.mu.Unlock()
		if f.createErr != nil {
			return crm.Account{}, f.createErr
		}
		return f.account(crm.StatusPending), nil
	})
	env.OnActivity(ActivitySendWelcome, mock.Anything, mock.Anything).Return(func(_ context.Context, req WelcomeRequest) error {
		f.enter(ActivitySendWelcome)
		f.mu.Lock()
		f.welcomes = append(f.welcomes, req)
		f.mu.Unlock()
		return f.sendErr
	})
	env.OnActivity(ActivityVerifyDelivery, mock.Anything, mock.Anything).Return(func(_ context.Context, req DeliveryCheck) (email.StoredMessage, error) {
		n := f.enter(ActivityVerifyDelivery)
		if f.deliveredAfter < 0 || n <= f.deliveredAfter {
			return email.StoredMessage{}, temporal.NewApplicationError("message "+req.MessageID+" not delivered yet", ErrTypeNotDelivered)
		}
		return email.StoredMessage{MessageID: req.MessageID, To: []string{req.Email}, ReceivedAt: wfStart}, nil
	})
	env.OnActivity(ActivityActivate, mock.Anything, mock.Anything).Return(func(_ context.Context, req ActivateRequest) (crm.Account, error) {
		f.enter(ActivityActivate)
		f.mu.Lock()
		f.activations = append(f.activations, req)
		f.mu.Unlock()
		if f.activateErr != nil {
			return crm.Account{}, f.activateErr
		}
		return f.account(crm.StatusActive), nil
	})
	env.OnActivity(ActivityVerifyActive, mock.Anything, mock.Anything).Return(func(_ context.Context, req ActivateRequest) (crm.Account, error) {
		n := f.enter(ActivityVerifyActive)
		if f.activeAfter < 0 || n <= f.activeAfter {
			return f.account(crm.StatusPending), temporal.NewApplicationError("account "+req.AccountID+" is pending, not active yet", ErrTypeNotActive)
		}
		return f.account(crm.StatusActive), nil
	})
	env.OnActivity(ActivityAddNote, mock.Anything, mock.Anything).Return(func(_ context.Context, req NoteRequest) error {
		f.enter(ActivityAddNote)
		f.mu.Lock()
		f.notes = append(f.notes, req)
		f.mu.Unlock()
		return nil
	})
	env.OnActivity(ActivityEscalate, mock.Anything, mock.Anything).Return(func(_ context.Context, req EscalationRequest) ([]string, error) {
		f.enter(ActivityEscalate)
		f.mu.Lock()
		f.escalations = append(f.escalations, req)
		f.mu.Unlock()
		if f.escalateErr != nil {
			return nil, f.escalateErr
		}
		return []string{"fernanda"}, nil
	})
	// The child's type must be known to the test environment; the mock
	// answers for it.
	env.RegisterWorkflowWithOptions(func(workflow.Context, humantask.Input) (humantask.Result, error) {
		return humantask.Result{}, errors.New("not mocked")
	}, workflow.RegisterOptions{Name: humantask.Workflow})
	env.OnWorkflow(humantask.Workflow, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, in humantask.Input) (humantask.Result, error) {
		f.enter(humantask.Workflow)
		f.mu.Lock()
		f.tasks = append(f.tasks, in)
		f.taskIDs = append(f.taskIDs, workflow.GetInfo(ctx).WorkflowExecution.ID)
		f.taskAt = append(f.taskAt, workflow.Now(ctx))
		f.mu.Unlock()
		if f.taskWait > 0 {
			if err := workflow.Sleep(ctx, f.taskWait); err != nil {
				return humantask.Result{}, err
			}
		}
		if f.taskErr != nil {
			return humantask.Result{}, f.taskErr
		}
		return f.task, nil
	})
}

type outcome struct {
	env *testsuite.TestWorkflowEnvironment
	res Result
	err error
}

func runOnboarding(t *testing.T, f *fixture, in Input, setup func(env *testsuite.TestWorkflowEnvironment)) outcome {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(wfStart)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: WorkflowID(in.CustomerRef)})
	RegisterWorkflows(env, testConfig())
	f.mockAll(env)
	if setup != nil {
		setup(env)
	}
	env.ExecuteWorkflow(Workflow, in)
	require.True(t, env.IsWorkflowCompleted(), "workflow did not complete")
	o := outcome{env: env, err: env.GetWorkflowError()}
	if o.err == nil {
		require.NoError(t, env.GetWorkflowResult(&o.res))
	}
	return o
}

func queryStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) Status {
	t.Helper()
	v, err := env.QueryWorkflow(StatusQuery)
	require.NoError(t, err)
	var st Status
	require.NoError(t, v.Get(&st))
	return st
}

func verified(st Status) map[string]bool {
	out := map[string]bool{}
	for _, s := range st.Steps {
		out[s.Name] = s.Verified
	}
	return out
}

func TestOnboardingActive(t *testing.T) {
	f := newFixture()
	f.deliveredAfter, f.activeAfter = 2, 1 // the mail system and the CRM lag
	o := runOnboarding(t, f, validInput, nil)
	require.NoError(t, o.err)
	res := o.res
	assert.Equal(t, OutcomeActive, res.Outcome, res.Reason)
	assert.Empty(t, res.Reason)
	assert.Equal(t, StageDone, res.Stage)
	assert.Equal(t, testAccountID, res.AccountID)
	assert.Equal(t, TaskID(testAccountID), res.TaskID)
	assert.Equal(t, humantask.OutcomeCompleted, res.TaskOutcome)
	assert.Equal(t, "ana-field", res.TaskAssignee)
	assert.False(t, res.Escalated)
	require.NotNil(t, res.ActivatedAt)
	assert.Equal(t, map[string]bool{StepAccount: true, StepWelcomeEmail: true, StepIdentity: true, StepActivation: true, StepTimelineNote: false}, verified(res))
	for _, s := range res.Steps {
		assert.True(t, s.Done, s.Name)
		assert.NotNil(t, s.At, s.Name)
	}
	assert.Equal(t, res, queryStatus(t, o.env), "the query answers what the run returned")

	// (a) one account, keyed by the workflow id.
	require.Len(t, f.creates, 1)
	assert.Equal(t, "customer-onboarding-C-1001:account", f.creates[0].IdempotencyKey)
	assert.Equal(t, crm.AccountRequest{Name: validInput.Name, Email: validInput.Email, Phone: validInput.Phone, Address: validInput.Address,
		Lat: validInput.Lat, Lon: validInput.Lon, Plan: validInput.Plan}, f.creates[0].Account)
	// (b) the welcome under a stable Message-ID, its delivery polled until seen.
	require.Len(t, f.welcomes, 1)
	assert.Equal(t, "<customer-onboarding-C-1001.welcome@execution-orchestrator>", f.welcomes[0].MessageID)
	assert.Equal(t, 3, f.count(ActivityVerifyDelivery))
	// (c) the identity check as a HumanTask child.
	require.Len(t, f.tasks, 1)
	assert.Equal(t, []string{humantask.WorkflowID("idv-" + testAccountID)}, f.taskIDs)
	task := f.tasks[0]
	assert.Equal(t, "idv-"+testAccountID, task.TaskID)
	assert.Equal(t, []workforce.Skill{{Name: "id-verification", Level: 3}}, task.Skills)
	assert.Equal(t, evidence.GeoPoint{Lat: validInput.Lat, Lon: validInput.Lon}, task.Place)
	assert.Equal(t, validInput.Address, task.Address)
	// The window is now+1h .. now+25h, now being when the task started
	// (the delivery check waited 3s before).
	assert.True(t, f.taskAt[0].Equal(wfStart.Add(3*time.Second)), "task started %v", f.taskAt[0])
	assert.True(t, task.Start.Equal(f.taskAt[0].Add(time.Hour)), "start %v", task.Start)
	assert.True(t, task.End.Equal(f.taskAt[0].Add(25*time.Hour)), "end %v", task.End)
	assert.Equal(t, evidence.Spec{
		Photos:    []evidence.PhotoSpec{{Name: "id-document", Prompt: task.Evidence.Photos[0].Prompt, MaxDistanceM: 100, Required: true}},
		Signature: true, SignedBy: "Joana Silva",
		Questions: []evidence.Question{
			{ID: "document-number", Prompt: task.Evidence.Questions[0].Prompt, Type: "text", Required: true},
			{ID: "name-matches", Prompt: task.Evidence.Questions[1].Prompt, Type: "bool", Required: true},
		},
	}, task.Evidence)
	require.NoError(t, evidence.ValidateSpec(task.Evidence))
	assert.Equal(t, "field-coordinator", task.CoordinatorRole)
	assert.Equal(t, map[string]string{"customerName": "Joana Silva", "customerRef": "C-1001", "accountId": testAccountID,
		"email": validInput.Email, "plan": "standard", "phone": validInput.Phone}, task.Context)
	assert.Equal(t, "maria", task.RequestedBy)
	// (d) activation by the task, (e) verified twice (the CRM lagged once).
	assert.Equal(t, []ActivateRequest{{AccountID: testAccountID, VerifiedBy: "idv-" + testAccountID}}, f.activations)
	assert.Equal(t, 2, f.count(ActivityVerifyActive))
	// The timeline note.
	require.Len(t, f.notes, 1)
	note := f.notes[0]
	assert.Equal(t, testAccountID, note.AccountID)
	assert.True(t, strings.HasPrefix(note.IdempotencyKey, "customer-onboarding-C-1001:"), note.IdempotencyKey)
	for _, want := range []string{": active\n", "account: done, verified", "welcome_email: done, verified", "identity: done, verified [idv-" + testAccountID + "]",
		"activation: done, verified"} {
		assert.Contains(t, note.Text, want)
	}
	assert.Zero(t, f.count(ActivityEscalate))
}

// Each way the identity check, the email or the CRM can end the run: the
// account stays what it was, and the outcome says why.
func TestOnboardingOutcomes(t *testing.T) {
	nonRetryable := func(msg, typ string) error { return temporal.NewNonRetryableApplicationError(msg, typ, nil) }
	tests := []struct {
		name         string
		modify       func(f *fixture)
		wantOutcome  string
		wantReason   string // substring
		wantVerified []string
		wantTasks    int
		wantActivate int
		wantEscalate int
		wantNotes    int
		wantEscTo    []string
	}{
		{name: "evidence rejected", modify: func(f *fixture) {
			f.task = humantask.Result{Outcome: humantask.OutcomeEvidenceRejected, Reason: "photo taken 3 km away"}
		}, wantOutcome: OutcomeIdentityNotVerified, wantReason: "photo taken 3 km away",
			wantVerified: []string{StepAccount, StepWelcomeEmail}, wantTasks: 1, wantNotes: 1},
		{name: "no worker escalates to the coordinators", modify: func(f *fixture) {
			f.task = humantask.Result{Outcome: humantask.OutcomeNoWorker, Reason: "every offer was declined"}
		}, wantOutcome: OutcomeNoWorker, wantReason: "every offer was declined (escalated to fernanda)",
			wantVerified: []string{StepAccount, StepWelcomeEmail}, wantTasks: 1, wantEscalate: 1, wantNotes: 1, wantEscTo: []string{"fernanda"}},
		{name: "no worker and the escalation fails", modify: func(f *fixture) {
			f.task = humantask.Result{Outcome: humantask.OutcomeNoWorker, Reason: "nobody fits"}
			f.escalateErr = nonRetryable("nobody holds role field-coordinator", ErrTypeNotConfigured)
		}, wantOutcome: OutcomeNoWorker, wantReason: "(escalation failed: nobody holds role",
			wantVerified: []string{StepAccount, StepWelcomeEmail}, wantTasks: 1, wantEscalate: 1, wantNotes: 1},
		{name: "welcome never delivered", modify: func(f *fixture) { f.deliveredAfter = -1 },
			wantOutcome: OutcomeCustomerUnreachable, wantReason: "was not delivered", wantVerified: []string{StepAccount}, wantNotes: 1},
		{name: "welcome refused", modify: func(f *fixture) {
			f.sendErr = nonRetryable("welcome email to joana refused: SMTP 550", ErrTypeUndeliverable)
		}, wantOutcome: OutcomeCustomerUnreachable, wantReason: "SMTP 550", wantVerified: []string{StepAccount}, wantNotes: 1},
		{name: "welcome not sent for another reason", modify: func(f *fixture) {
			f.sendErr = nonRetryable("activities: Mail is not configured", ErrTypeNotConfigured)
		}, wantOutcome: OutcomeFailed, wantReason: "send welcome email: activities: Mail is not configured", wantVerified: []string{StepAccount}, wantNotes: 1},
		{name: "account key used for another customer", modify: func(f *fixture) {
			f.createErr = nonRetryable("create account: HTTP 409: Idempotency-Key was already used with a different request", ErrTypeIdempotencyConflict)
		}, wantOutcome: OutcomeFailed, wantReason: "create account: ", wantVerified: []string{}},
		{name: "task aborted", modify: func(f *fixture) {
			f.task = humantask.Result{Outcome: humantask.OutcomeAborted, Reason: "cancelled while offered"}
		}, wantOutcome: OutcomeFailed, wantReason: "ended aborted: cancelled while offered",
			wantVerified: []string{StepAccount, StepWelcomeEmail}, wantTasks: 1, wantNotes: 1},
		{name: "task fails", modify: func(f *fixture) {
			f.taskErr = nonRetryable("place: lat/lon of the place are required", humantask.ErrTypeInvalidInput)
		}, wantOutcome: OutcomeFailed, wantReason: "place: lat/lon of the place are required",
			wantVerified: []string{StepAccount, StepWelcomeEmail}, wantTasks: 1, wantNotes: 1},
		{name: "task completed without accepted evidence", modify: func(f *fixture) {
			f.task = humantask.Result{Outcome: humantask.OutcomeCompleted}
		}, wantOutcome: OutcomeFailed, wantReason: "without accepted evidence",
			wantVerified: []string{StepAccount, StepWelcomeEmail}, wantTasks: 1, wantNotes: 1},
		{name: "the name on the document does not match", modify: func(f *fixture) {
			f.task.Answers = map[string]any{"name-matches": false}
		}, wantOutcome: OutcomeIdentityNotVerified, wantReason: "does not match",
			wantVerified: []string{StepAccount, StepWelcomeEmail}, wantTasks: 1, wantNotes: 1},
		{name: "account closed before activation", modify: func(f *fixture) {
			f.activateErr = nonRetryable("CRM refuses to activate account: HTTP 409: account is closed", ErrTypeAccountClosed)
		}, wantOutcome: OutcomeFailed, wantReason: "activate account: CRM refuses",
			wantVerified: []string{StepAccount, StepWelcomeEmail, StepIdentity}, wantTasks: 1, wantActivate: 1, wantNotes: 1},
		{name: "CRM never shows it active", modify: func(f *fixture) { f.activeAfter = -1 },
			wantOutcome: OutcomeFailed, wantReason: "the CRM does not show account " + testAccountID + " active",
			wantVerified: []string{StepAccount, StepWelcomeEmail, StepIdentity}, wantTasks: 1, wantActivate: 1, wantNotes: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			tc.modify(f)
			o := runOnboarding(t, f, validInput, nil)
			require.NoError(t, o.err)
			assert.Equal(t, tc.wantOutcome, o.res.Outcome)
			assert.Contains(t, o.res.Reason, tc.wantReason)
			var got []string
			for _, s := range o.res.Steps {
				if s.Verified {
					got = append(got, s.Name)
				}
			}
			assert.ElementsMatch(t, tc.wantVerified, got)
			assert.Equal(t, tc.wantTasks, f.count(humantask.Workflow), "tasks")
			assert.Equal(t, tc.wantActivate, f.count(ActivityActivate), "activations")
			assert.Equal(t, tc.wantEscalate, f.count(ActivityEscalate), "escalations")
			assert.Equal(t, tc.wantEscalate > 0, o.res.Escalated)
			assert.Equal(t, tc.wantEscTo, o.res.EscalatedTo)
			require.Len(t, f.notes, tc.wantNotes, "CRM notes")
			if tc.wantNotes > 0 {
				assert.Contains(t, f.notes[0].Text, ": "+tc.wantOutcome+": ")
				assert.Contains(t, f.notes[0].Text, tc.wantReason)
				note, _ := o.res.Step(StepTimelineNote)
				assert.True(t, note.Done)
			}
			if tc.wantEscalate > 0 {
				e := f.escalations[0]
				assert.Equal(t, CoordinatorRole, e.Role)
				assert.Equal(t, testAccountID, e.AccountID)
				assert.Equal(t, TaskID(testAccountID), e.TaskID)
				assert.Contains(t, e.Body, validInput.Address)
			}
			assert.Equal(t, o.res, queryStatus(t, o.env))
		})
	}
}

func TestOnboardingInvalidInput(t *testing.T) {
	tests := []struct {
		name   string
		modify func(in *Input)
		field  string
	}{
		{"no customer ref", func(in *Input) { in.CustomerRef = "" }, "customerRef"},
		{"customer ref with a slash", func(in *Input) { in.CustomerRef = "C/1" }, "customerRef"},
		{"no name", func(in *Input) { in.Name = " " }, "name"},
		{"name on two lines", func(in *Input) { in.Name = "Joana\nSilva" }, "name"},
		{"no email", func(in *Input) { in.Email = "" }, "email"},
		{"bad email", func(in *Input) { in.Email = "Joana <joana@example.com>" }, "email"},
		{"bad phone", func(in *Input) { in.Phone = "ring ring" }, "phone"},
		{"no address", func(in *Input) { in.Address = "" }, "address"},
		{"lat out of range", func(in *Input) { in.Lat = 100 }, "lat"},
		{"lon out of range", func(in *Input) { in.Lon = 200 }, "lon"},
		{"no position", func(in *Input) { in.Lat, in.Lon = 0, 0 }, "lat"},
		{"unknown plan", func(in *Input) { in.Plan = "gold" }, "plan"},
		{"no requester", func(in *Input) { in.RequestedBy = "" }, "requestedBy"},
		{"requester with spaces", func(in *Input) { in.RequestedBy = "maria silva" }, "requestedBy"},
		{"oversized proof", func(in *Input) { in.RequesterProof = strings.Repeat("x", proof.MaxTokenLen+1) }, "requesterProof"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := validInput
			tc.modify(&in)
			f := newFixture()
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: WorkflowID(validInput.CustomerRef)})
			RegisterWorkflows(env, testConfig())
			f.mockAll(env)
			env.ExecuteWorkflow(Workflow, in)
			err := env.GetWorkflowError()
			require.Error(t, err)
			var appErr *temporal.ApplicationError
			require.ErrorAs(t, err, &appErr)
			assert.Equal(t, ErrTypeInvalidInput, appErr.Type())
			assert.True(t, appErr.NonRetryable())
			assert.True(t, strings.HasPrefix(appErr.Message(), tc.field+": "), appErr.Message())
			assert.Zero(t, f.count(ActivityCreateAccount), "nothing was done")
			st := queryStatus(t, env)
			assert.Equal(t, OutcomeFailed, st.Outcome)
			assert.Equal(t, StageDone, st.Stage)
		})
	}
}

// The workflow id is what keys the account: a start under another id than
// the customer's is refused.
func TestOnboardingRefusesForeignWorkflowID(t *testing.T) {
	f := newFixture()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "customer-onboarding-C-2002"})
	RegisterWorkflows(env, testConfig())
	f.mockAll(env)
	env.ExecuteWorkflow(Workflow, validInput)
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "customerRef: the workflow id must be customer-onboarding-C-1001")
	assert.Zero(t, f.count(ActivityCreateAccount))
}

func TestOnboardingRequesterProof(t *testing.T) {
	_, priv, err := proof.GenerateKey()
	require.NoError(t, err)
	signer := proof.NewSigner(priv)
	trusted, err := proof.NewTrustedKey(proof.IssuerPerson, proof.EncodePublicKey(signer.Public()), "maria")
	require.NoError(t, err)

	for _, tc := range []struct {
		name     string
		subject  string
		verified bool
	}{
		{"proof of the requester", "maria", true},
		{"proof of someone else", "mallory", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := validInput
			signed := in
			signed.RequestedBy = tc.subject
			in.RequesterProof, err = SignStart(signer, signed, proof.MethodKey, wfStart)
			require.NoError(t, err)
			f := newFixture()
			f.trust = proof.Trust{Keys: []proof.TrustedKey{trusted}}
			o := runOnboarding(t, f, in, nil)
			if !tc.verified {
				require.Error(t, o.err)
				assert.Contains(t, o.err.Error(), "requesterProof: ")
				assert.Zero(t, f.count(ActivityCreateAccount))
				return
			}
			require.NoError(t, o.err)
			assert.True(t, o.res.RequesterVerified)
			assert.Equal(t, OutcomeActive, o.res.Outcome)
		})
	}
}

// Cancelled while the field worker is on the way: the task is cancelled
// with the run, the account stays pending with a note, and the run ends
// Canceled with outcome cancelled.
func TestOnboardingCancelled(t *testing.T) {
	f := newFixture()
	f.taskWait = 6 * time.Hour
	o := runOnboarding(t, f, validInput, func(env *testsuite.TestWorkflowEnvironment) {
		env.RegisterDelayedCallback(env.CancelWorkflow, 2*time.Hour)
	})
	require.Error(t, o.err)
	assert.True(t, temporal.IsCanceledError(o.err), "%v", o.err)
	st := queryStatus(t, o.env)
	assert.Equal(t, OutcomeCancelled, st.Outcome)
	assert.Equal(t, "cancelled while "+StageVerifyingIdentity, st.Reason)
	assert.Equal(t, StageDone, st.Stage)
	assert.Zero(t, f.count(ActivityActivate))
	require.Len(t, f.notes, 1)
	assert.Contains(t, f.notes[0].Text, ": cancelled: cancelled while verifying_identity")
}

func TestConfigDefaults(t *testing.T) {
	cfg := Config{Delivery: workflowOpts(time.Minute)}.withDefaults()
	def := DefaultConfig()
	assert.Equal(t, time.Minute, cfg.Delivery.ScheduleToCloseTimeout, "given options are kept")
	assert.Equal(t, def.Read, cfg.Read)
	assert.Equal(t, def.Activation, cfg.Activation)
	assert.Equal(t, DefaultTaskStartAfter, cfg.TaskStartAfter)
	assert.Equal(t, DefaultTaskWindow, cfg.TaskWindow)
}

func workflowOpts(scheduleToClose time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{ScheduleToCloseTimeout: scheduleToClose}
}
