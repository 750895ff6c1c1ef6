// Package browser runs the Playwright browser test of the approval web app
// (approval.test.mjs) with node's built-in test runner. Integration tests
// call RunApproval against a real stack; browser_test.go runs it against the
// web app in-process. RunTemporalUISignal (temporal-ui.test.mjs) decides in
// the Temporal Web UI instead. RunTask (task.test.mjs) is a field worker
// doing a human task on a phone.
package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
)

// Chromium is the system browser the test drives; nothing is downloaded.
const Chromium = "/usr/bin/chromium"

// Dir returns the directory holding package.json and approval.test.mjs.
func Dir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("browser: cannot locate tests/browser")
	}
	return filepath.Dir(file), nil
}

// Unavailable returns why the browser test cannot run here ("" if it can):
// Chromium and node_modules are installed by `make` (npm ci), not at run time.
func Unavailable() string {
	if _, err := os.Stat(Chromium); err != nil {
		return Chromium + " is missing (install chromium, e.g. via the Makefile)"
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "node is not on PATH"
	}
	dir, err := Dir()
	if err != nil {
		return err.Error()
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		return "tests/browser/node_modules is missing (run `npm ci` in tests/browser, e.g. via the Makefile)"
	}
	return ""
}

// RunApproval signs in as approver at webURL, approves workflowID from the
// inbox and checks the page reports it; with a non-empty expectOutcome it
// then waits for the page to show that outcome. It returns node's output.
func RunApproval(ctx context.Context, webURL, workflowID, approver, expectOutcome string) ([]byte, error) {
	if why := Unavailable(); why != "" {
		return nil, fmt.Errorf("browser test unavailable: %s", why)
	}
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", "approval.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"WEB_URL="+webURL,
		"WORKFLOW_ID="+workflowID,
		"APPROVER="+approver,
		"CHROMIUM="+Chromium,
		"EXPECT_OUTCOME="+expectOutcome,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("browser test (node --test approval.test.mjs) for %s as %s: %w", workflowID, approver, err)
	}
	return out, nil
}

// TaskRun says what task.test.mjs does: as Worker (whose name is
// WorkerName), on a phone placed at Lat/Lon, accept WorkflowID's offer, send
// the photo file Photo for the spec's "id-document", a drawn signature and
// Answers (question id -> text, or bool for a checkbox), and expect the
// verdict ExpectVerdict ("" => accepted).
type TaskRun struct {
	WebURL, WorkflowID, Worker, WorkerName, Photo string
	Lat, Lon                                      float64
	Answers                                       map[string]any
	ExpectVerdict                                 string
}

// RunTask runs task.test.mjs and returns node's output.
func RunTask(ctx context.Context, in TaskRun) ([]byte, error) {
	if why := Unavailable(); why != "" {
		return nil, fmt.Errorf("browser test unavailable: %s", why)
	}
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	answers, err := json.Marshal(in.Answers)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", "task.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"WEB_URL="+in.WebURL,
		"WORKFLOW_ID="+in.WorkflowID,
		"WORKER="+in.Worker,
		"WORKER_NAME="+in.WorkerName,
		"PHOTO="+in.Photo,
		"LAT="+strconv.FormatFloat(in.Lat, 'f', -1, 64),
		"LON="+strconv.FormatFloat(in.Lon, 'f', -1, 64),
		"ANSWERS="+string(answers),
		"CHROMIUM="+Chromium,
		"EXPECT_VERDICT="+in.ExpectVerdict,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("browser test (node --test task.test.mjs) for %s as %s: %w", in.WorkflowID, in.Worker, err)
	}
	return out, nil
}

// RunTemporalUISignal drives the Temporal Web UI at uiURL (temporal-ui.test.mjs):
// the approver signs in to the web app at webURL, whose codec server the UI
// decodes and encodes payloads through (codec-ui.mjs), then it opens workflowID, reads the awaited action digest on the Queries tab
// (it must equal wantDigest), then sends the "approval" Signal through
// More Actions → Send a Signal (json/plain) as approver, with the one-time
// code from code in "proof". code is called only right before the browser
// types the data, as a person would read their authenticator app. With a
// non-empty expectOutcome the page is then reloaded until the workflow has
// completed with that outcome. It returns node's output.
func RunTemporalUISignal(ctx context.Context, uiURL, webURL, workflowID, approver, wantDigest string, code func() (string, error), expectOutcome string) ([]byte, error) {
	if why := Unavailable(); why != "" {
		return nil, fmt.Errorf("browser test unavailable: %s", why)
	}
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	// The code is handed over on 127.0.0.1 only, at the moment it is asked for.
	codes := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := code()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, c)
	}))
	defer codes.Close()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", "temporal-ui.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"UI_URL="+uiURL,
		"WEB_URL="+webURL,
		"WORKFLOW_ID="+workflowID,
		"APPROVER="+approver,
		"ACTION_DIGEST="+wantDigest,
		"CODE_URL="+codes.URL,
		"CHROMIUM="+Chromium,
		"EXPECT_OUTCOME="+expectOutcome,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("browser test (node --test temporal-ui.test.mjs) for %s as %s: %w", workflowID, approver, err)
	}
	return out, nil
}
