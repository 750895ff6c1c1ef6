// Package browser runs the Playwright browser test of the approval web app
// (approval.test.mjs) with node's built-in test runner. Integration tests
// call RunApproval against a real stack; browser_test.go runs it against the
// web app in-process.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
