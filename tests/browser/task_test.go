package browser

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/execution-orchestrator/orchestrator/evidence"
	"github.com/execution-orchestrator/orchestrator/evidence/evidencetest"
	"github.com/execution-orchestrator/orchestrator/processes/humantask"
	"github.com/execution-orchestrator/orchestrator/tests/stack"
	"github.com/execution-orchestrator/orchestrator/workforce"
)

// Lisbon centre, where the task happens.
const taskLat, taskLon = 38.7223, -9.1393

// TestTaskInBrowser: an identity check in Lisbon is routed to ana-field,
// the nearest idle worker of the demo workforce; on a phone-sized Chromium
// placed at the site she signs in, accepts, checks in, photographs the ID
// document (a JPEG whose EXIF says here and now), signs, types her name,
// answers and sends; the page shows the evidence accepted and the task
// ends completed — on the real dev server, worker and stores.
func TestTaskInBrowser(t *testing.T) {
	if why := Unavailable(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatal("browser test cannot run in CI: " + why)
		}
		t.Skip("browser test skipped: " + why + " (make test installs it)")
	}
	s := stack.Start(t, stack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	now := time.Now().UTC()
	in := humantask.Input{
		TaskID:       "idv-ACC-1001-" + now.Format("150405"),
		Title:        "Verify the identity of customer ACC-1001",
		Instructions: "Meet the customer at the address, check their ID document against them and photograph it.",
		Context:      map[string]string{"customer": "Rui Sousa", "phone": "+351 912 345 678"},
		Skills:       []workforce.Skill{{Name: "id-verification", Level: 3}},
		Place:        evidence.GeoPoint{Lat: taskLat, Lon: taskLon},
		Address:      "Praça do Comércio, 1100-148 Lisboa",
		Start:        now.Add(-time.Hour),
		End:          now.Add(3 * time.Hour),
		Evidence: evidence.Spec{
			Photos:    []evidence.PhotoSpec{{Name: "id-document", Prompt: "The customer's ID document, front side", MaxDistanceM: 200, Required: true}},
			Signature: true,
			Questions: []evidence.Question{{ID: "document-number", Prompt: "Document number", Type: evidence.QuestionText, Required: true}},
		},
		RequestedBy: "agent:kyc-bot",
	}
	run, err := s.Temporal.ExecuteWorkflow(ctx, humantask.StartOptions(in), humantask.Workflow, in)
	if err != nil {
		t.Fatal(err)
	}
	photo := filepath.Join(t.TempDir(), "id-document.jpg")
	if err := os.WriteFile(photo, evidencetest.JPEG(taskLat, taskLon, time.Now()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := RunTask(ctx, TaskRun{
		WebURL: s.WebURL, WorkflowID: run.GetID(), Worker: "ana-field", WorkerName: "Ana Ferreira", Photo: photo,
		Lat: taskLat, Lon: taskLon, Answers: map[string]any{"document-number": "CC-12345678"},
	})
	t.Logf("node output:\n%s", out)
	if err != nil {
		if st, qerr := humantask.QueryStatus(ctx, s.Temporal, run.GetID()); qerr == nil {
			t.Logf("task status: stage %s, open %s for %s, offers %+v, submissions %+v, refused %+v", st.Stage, st.OpenStep, st.OpenFor, st.Offers, st.Submissions, st.Refused)
		}
		t.Fatal(err)
	}
	var res humantask.Result
	if err := run.Get(ctx, &res); err != nil || res.Outcome != humantask.OutcomeCompleted {
		t.Fatalf("result %+v, %v; want outcome %s", res, err, humantask.OutcomeCompleted)
	}
	if res.Accepted == nil || res.Accepted.Overall != evidence.Accepted {
		t.Fatalf("accepted verdict %+v", res.Accepted)
	}
	ups, err := s.Evidence.ForTask(ctx, in.TaskID)
	if err != nil || len(ups) != 2 {
		t.Fatalf("uploads %+v, %v; want the photo and the signature", ups, err)
	}
	for _, u := range ups {
		if u.UploadedBy != "ana-field" {
			t.Errorf("upload %s by %q, want ana-field", u.Item, u.UploadedBy)
		}
	}
}
