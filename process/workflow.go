package process

import (
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Exec runs activity name with opts from workflow code and decodes its
// result into out (nil: the result is not read).
func Exec(ctx workflow.Context, opts workflow.ActivityOptions, name string, arg, out any) error {
	actx := workflow.WithActivityOptions(ctx, opts)
	f := workflow.ExecuteActivity(actx, name, arg)
	if out == nil {
		return f.Get(actx, nil)
	}
	return f.Get(actx, out)
}

// Upsert sets search attributes. Only malformed updates fail, and
// visibility must not stop the work, so a failure is logged.
func Upsert(ctx workflow.Context, logger log.Logger, updates ...temporal.SearchAttributeUpdate) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		logger.Warn("Upsert search attributes failed", "error", err)
	}
}
