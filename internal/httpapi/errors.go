package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/validate"
)

// apiError is an error with the status and code the API answers with.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

// statuses is what each kind of domain error answers.
var statuses = map[fault.Kind]int{
	fault.Invalid:      http.StatusBadRequest,
	fault.Unauthorized: http.StatusUnauthorized,
	fault.Forbidden:    http.StatusForbidden,
	fault.NotFound:     http.StatusNotFound,
	fault.Conflict:     http.StatusConflict,
	fault.TooLarge:     http.StatusRequestEntityTooLarge,
	fault.Locked:       http.StatusLocked,
	fault.Corrupt:      http.StatusInternalServerError,
	fault.Unavailable:  http.StatusServiceUnavailable,
}

// classify maps errors to API errors: the API's own, a validation error, a
// domain error by its kind, or a database that is unreachable. Anything
// else is an internal error (nil).
func classify(err error) *apiError {
	var ae *apiError
	var ve *validate.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ve):
		return errorf(http.StatusBadRequest, "invalid_request", ve.Msg)
	case errors.Is(err, org.ErrUnauthorized), errors.Is(err, dbtx.ErrTooManyRetries):
		// Their own words, not the detail they were wrapped with.
		f, _ := fault.Of(err)
		return errorf(statuses[f.Kind], f.Code, f.Error())
	case dbtx.Unavailable(err):
		return errorf(http.StatusServiceUnavailable, "unavailable", "the database is unreachable for the moment; retry")
	}
	if f, ok := fault.Of(err); ok {
		return errorf(statuses[f.Kind], f.Code, err.Error())
	}
	return nil
}

func writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := classify(err)
	if ae == nil {
		slog.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errorf(http.StatusInternalServerError, "internal", "internal error; see the server log")
	}
	if ae.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, ae.status, map[string]any{"error": map[string]string{"code": ae.code, "message": ae.message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
