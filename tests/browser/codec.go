package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// CodecUIRun says what codec.test.mjs checks: in the Temporal UI at UIURL,
// WorkflowID's input and result show decoded (containing InputText and
// "outcome": ResultText) once Person signed in to the web app at WebURL,
// whose codec server the UI calls; and not without that session.
type CodecUIRun struct {
	UIURL, WebURL, WorkflowID, Person string
	InputText, ResultText             string
}

// RunCodecUI runs codec.test.mjs and returns node's output.
func RunCodecUI(ctx context.Context, in CodecUIRun) ([]byte, error) {
	if why := Unavailable(); why != "" {
		return nil, fmt.Errorf("browser test unavailable: %s", why)
	}
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", "codec.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"UI_URL="+in.UIURL,
		"WEB_URL="+in.WebURL,
		"WORKFLOW_ID="+in.WorkflowID,
		"PERSON="+in.Person,
		"INPUT_TEXT="+in.InputText,
		"RESULT_TEXT="+in.ResultText,
		"CHROMIUM="+Chromium,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("browser test (node --test codec.test.mjs) for %s: %w", in.WorkflowID, err)
	}
	return out, nil
}
