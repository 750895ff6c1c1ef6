package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// RunOperations runs ops.test.mjs at webURL: opsPerson (who holds an
// operations role) signs in on the picker, opens /ops, finds waitingID in
// the exceptions queue and checks every KPI chart was drawn by the
// vendored Chart.js, with no console error, no CSP violation and no
// request off the app's origin; otherPerson (no operations role) gets the
// 403 page. It returns node's output.
func RunOperations(ctx context.Context, webURL, waitingID, opsPerson, otherPerson string) ([]byte, error) {
	if why := Unavailable(); why != "" {
		return nil, fmt.Errorf("browser test unavailable: %s", why)
	}
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", "ops.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"WEB_URL="+webURL,
		"WAITING_ID="+waitingID,
		"OPS_PERSON="+opsPerson,
		"OTHER_PERSON="+otherPerson,
		"CHROMIUM="+Chromium,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("browser test (node --test ops.test.mjs) for /ops as %s and %s: %w", opsPerson, otherPerson, err)
	}
	return out, nil
}
