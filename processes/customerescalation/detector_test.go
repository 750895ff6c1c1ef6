package customerescalation

import (
	"context"
	"errors"
	"slices"
	"testing"

	"go.temporal.io/sdk/activity"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/execution-orchestrator/orchestrator/connectors/crm"
	"github.com/execution-orchestrator/orchestrator/connectors/ticketing"
)

type fakeIssues struct{ got ticketing.Filter }

func (f *fakeIssues) ListIssues(_ context.Context, flt ticketing.Filter) ([]ticketing.Issue, error) {
	f.got = flt
	return []ticketing.Issue{{ID: "TCK-SUP-1", AccountID: "ACC-GLOBEX", Title: "Checkout down", Priority: "P1", Status: "open"}}, nil
}

type fakeAccounts struct{ got crm.AccountFilter }

func (f *fakeAccounts) ListAccounts(_ context.Context, flt crm.AccountFilter) ([]crm.Account, error) {
	f.got = flt
	low, ok := 41, 75
	return []crm.Account{{ID: "ACC-HOOLI", Name: "Hooli", HealthScore: &low}, {ID: "ACC-OK", HealthScore: &ok}, {ID: "ACC-NEVER"}}, nil
}

func TestEscalationDetectorStartsOnePerIssueAndAccount(t *testing.T) {
	tests := []struct {
		name         string
		issues       []P1Issue
		accounts     []UnhealthyAccount
		finished     map[string]bool
		badRef       string
		wantStarted  []string
		wantFinished []string
		wantSkipped  []string
	}{
		{name: "nothing to escalate"},
		{name: "a P1 issue and an unhealthy account",
			issues:      []P1Issue{{ID: "TCK-SUP-1", AccountID: "ACC-GLOBEX", Title: "Checkout down"}},
			accounts:    []UnhealthyAccount{{ID: "ACC-HOOLI", Health: 41, Threshold: 60}},
			wantStarted: []string{"escalation-ESC-TCK-SUP-1", "escalation-ESC-HEALTH-ACC-HOOLI"}},
		{name: "completed escalations are not started again",
			issues:   []P1Issue{{ID: "TCK-SUP-1", AccountID: "ACC-GLOBEX"}, {ID: "TCK-SUP-2", AccountID: "ACC-GLOBEX"}},
			finished: map[string]bool{"ESC-TCK-SUP-1": true}, wantStarted: []string{"escalation-ESC-TCK-SUP-2"}, wantFinished: []string{"ESC-TCK-SUP-1"}},
		{name: "a bad one is skipped once and does not stop the others",
			issues: []P1Issue{{ID: "TCK-SUP-1", AccountID: "bad account"}, {ID: "TCK-SUP-2", AccountID: "ACC-GLOBEX"}},
			badRef: "ESC-TCK-SUP-1", wantStarted: []string{"escalation-ESC-TCK-SUP-2"}, wantSkipped: []string{"ESC-TCK-SUP-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			starts := map[string]int{}
			env.RegisterActivityWithOptions(func(context.Context) ([]P1Issue, error) { return tt.issues, nil },
				activity.RegisterOptions{Name: ListP1IssuesActivity})
			env.RegisterActivityWithOptions(func(context.Context) ([]UnhealthyAccount, error) { return tt.accounts, nil },
				activity.RegisterOptions{Name: ListUnhealthyActivity})
			env.RegisterActivityWithOptions(func(_ context.Context, in Input) (StartOutcome, error) {
				starts[in.Ref]++
				if in.RequestedBy != DetectorRequester {
					return StartOutcome{}, errors.New("wrong requester " + in.RequestedBy)
				}
				switch in.Trigger {
				case TriggerTicket:
					if in.Severity != Sev1 || in.TicketID == "" || in.Ref != TicketEscalationRef(in.TicketID) {
						return StartOutcome{}, errors.New("bad ticket start")
					}
				case TriggerHealth:
					if in.Severity != Sev2 || in.Ref != HealthEscalationRef(in.AccountID) {
						return StartOutcome{}, errors.New("bad health start")
					}
				}
				if err := validateInput(in); err != nil {
					return StartOutcome{}, err
				}
				return StartOutcome{WorkflowID: WorkflowID(in.Ref), AlreadyCompleted: tt.finished[in.Ref]}, nil
			}, activity.RegisterOptions{Name: StartEscalationActivity})
			env.ExecuteWorkflow(EscalationDetector)
			if !env.IsWorkflowCompleted() {
				t.Fatal("detector did not complete")
			}
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if tt.badRef != "" && starts[tt.badRef] != 1 {
				t.Errorf("bad one started %d times, want 1 (non-retryable)", starts[tt.badRef])
			}
			var res DetectorResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Started, tt.wantStarted) || !slices.Equal(res.Finished, tt.wantFinished) {
				t.Errorf("started %v finished %v, want %v %v", res.Started, res.Finished, tt.wantStarted, tt.wantFinished)
			}
			var skipped []string
			for _, sk := range res.Skipped {
				if sk.Reason == "" {
					t.Errorf("skipped %s without a reason", sk.Ref)
				}
				skipped = append(skipped, sk.Ref)
			}
			if !slices.Equal(skipped, tt.wantSkipped) {
				t.Errorf("skipped %v, want %v", skipped, tt.wantSkipped)
			}
		})
	}
}

func TestEscalationDetectorListActivities(t *testing.T) {
	issues, accounts := &fakeIssues{}, &fakeAccounts{}
	det := &Detector{Ticketing: issues, CRM: accounts}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(tclient.StartWorkflowOptions{ID: DetectorScheduleID + "-2026-03-10T09:00:00Z"})
	env.RegisterActivityWithOptions(det.EscalationListP1Issues, activity.RegisterOptions{Name: ListP1IssuesActivity})
	env.RegisterActivityWithOptions(det.EscalationListUnhealthyAccounts, activity.RegisterOptions{Name: ListUnhealthyActivity})
	var got []Input
	env.RegisterActivityWithOptions(func(_ context.Context, in Input) (StartOutcome, error) {
		got = append(got, in)
		return StartOutcome{WorkflowID: WorkflowID(in.Ref)}, nil
	}, activity.RegisterOptions{Name: StartEscalationActivity})
	env.ExecuteWorkflow(EscalationDetector)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(issues.got.Statuses, []string{ticketing.StatusOpen, ticketing.StatusInProgress}) || issues.got.Priority != "P1" || issues.got.Project != "SUP" {
		t.Errorf("ticketing filter %+v", issues.got)
	}
	if accounts.got.HealthBelow != DefaultHealthThreshold || accounts.got.Tier != crm.TierEnterprise {
		t.Errorf("crm filter %+v", accounts.got)
	}
	if len(got) != 2 {
		t.Fatalf("started %+v, want the P1 issue and ACC-HOOLI only", got)
	}
	want0 := Input{Ref: "ESC-TCK-SUP-1", AccountID: "ACC-GLOBEX", Severity: Sev1, Trigger: TriggerTicket, TicketID: "TCK-SUP-1",
		Summary: "P1 support issue TCK-SUP-1: Checkout down", RequestedBy: DetectorRequester}
	if got[0] != want0 {
		t.Errorf("ticket start %+v, want %+v", got[0], want0)
	}
	if got[1].Ref != "ESC-HEALTH-ACC-HOOLI" || got[1].Severity != Sev2 || got[1].Trigger != TriggerHealth || got[1].AccountID != "ACC-HOOLI" {
		t.Errorf("health start %+v", got[1])
	}
}

func TestEscalationDetectorActivitiesRefuseOtherCallers(t *testing.T) {
	det := &Detector{Ticketing: &fakeIssues{}, CRM: &fakeAccounts{}}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(det.EscalationListP1Issues, activity.RegisterOptions{Name: ListP1IssuesActivity})
	_, err := env.ExecuteActivity(ListP1IssuesActivity)
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != "NotOurs" || !ae.NonRetryable() {
		t.Fatalf("err = %v, want a non-retryable NotOurs", err)
	}
}
