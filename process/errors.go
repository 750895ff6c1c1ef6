package process

import (
	"errors"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// FailureMessage extracts the readable cause of an activity failure,
// without the wrapping "activity error (type: ..., scheduledEventID: ...)".
func FailureMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return "timed out (" + strings.ToLower(strings.TrimPrefix(timeoutErr.TimeoutType().String(), "TIMEOUT_TYPE_")) + ")"
	}
	var canceledErr *temporal.CanceledError
	if errors.As(err, &canceledErr) {
		return "canceled"
	}
	return err.Error()
}

// HasErrorType reports whether err carries an ApplicationError of type typ.
func HasErrorType(err error, typ string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == typ
}
