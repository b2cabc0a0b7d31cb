package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/runplane/runplane/internal/agent"
	"github.com/runplane/runplane/internal/configversion"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/policy"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/state"
	"github.com/runplane/runplane/internal/trigger"
	"github.com/runplane/runplane/internal/validate"
	"github.com/runplane/runplane/internal/workspace"
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

var errForbidden = errorf(http.StatusForbidden, "forbidden", "your token's role does not allow this")

// classify maps domain errors to API errors.
func classify(err error) *apiError {
	var ae *apiError
	var ve *validate.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ve):
		return errorf(http.StatusBadRequest, "invalid_request", ve.Msg)
	case errors.Is(err, org.ErrUnauthorized):
		return errorf(http.StatusUnauthorized, "unauthorized", "send a valid token as 'Authorization: Bearer <token>'")
	case errors.Is(err, org.ErrNotFound), errors.Is(err, workspace.ErrNotFound),
		errors.Is(err, run.ErrNotFound), errors.Is(err, run.ErrWorkspaceNotFound),
		errors.Is(err, run.ErrConfigurationVersionNotFound):
		return errorf(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, org.ErrExists), errors.Is(err, workspace.ErrExists):
		return errorf(http.StatusConflict, "already_exists", err.Error())
	case errors.Is(err, run.ErrNoConfiguration):
		return errorf(http.StatusConflict, "no_configuration", err.Error())
	case errors.Is(err, run.ErrTransition):
		return errorf(http.StatusConflict, "invalid_transition", err.Error())
	case errors.Is(err, workspace.ErrLocked):
		return errorf(http.StatusConflict, "workspace_locked", err.Error())
	case errors.Is(err, workspace.ErrNotLocked):
		return errorf(http.StatusConflict, "workspace_not_locked", err.Error())
	case errors.Is(err, workspace.ErrLockedByOther):
		return errorf(http.StatusConflict, "locked_by_other", err.Error())
	case errors.Is(err, state.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "no such workspace or state version")
	case errors.Is(err, state.ErrNoState):
		return errorf(http.StatusNotFound, "no_state", err.Error())
	case errors.Is(err, state.ErrLocked):
		return errorf(http.StatusLocked, "state_locked", err.Error())
	case errors.Is(err, state.ErrLockRequired):
		return errorf(http.StatusConflict, "lock_required", err.Error()+"; lock first (Terraform: set TF_HTTP_LOCK_ADDRESS and TF_HTTP_UNLOCK_ADDRESS)")
	case errors.Is(err, state.ErrNotLocked):
		return errorf(http.StatusConflict, "state_not_locked", err.Error())
	case errors.Is(err, state.ErrStaleSerial):
		return errorf(http.StatusConflict, "stale_serial", err.Error())
	case errors.Is(err, state.ErrLineage):
		return errorf(http.StatusConflict, "lineage_mismatch", err.Error())
	case errors.Is(err, state.ErrTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "state_too_large", err.Error())
	case errors.Is(err, state.ErrInvalid):
		return errorf(http.StatusBadRequest, "invalid_state", err.Error())
	case errors.Is(err, state.ErrReadOnly):
		return errorf(http.StatusForbidden, "read_only", err.Error())
	case errors.Is(err, state.ErrCorrupt):
		return errorf(http.StatusInternalServerError, "state_corrupt", err.Error()+"; the stored bytes do not match what was written, nothing was served")
	case errors.Is(err, agent.ErrLeaseLost):
		return errorf(http.StatusConflict, "lease_lost", err.Error())
	case errors.Is(err, agent.ErrLogGap):
		return errorf(http.StatusConflict, "log_gap", err.Error())
	case errors.Is(err, agent.ErrNotFound), errors.Is(err, configversion.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, agent.ErrInvalid):
		return errorf(http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, policy.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, policy.ErrExists):
		return errorf(http.StatusConflict, "already_exists", err.Error())
	case errors.Is(err, events.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, trigger.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, trigger.ErrCycle):
		return errorf(http.StatusConflict, "cycle", err.Error())
	case errors.Is(err, trigger.ErrExists):
		return errorf(http.StatusConflict, "already_exists", err.Error())
	case errors.Is(err, dbtx.ErrTooManyRetries):
		return errorf(http.StatusServiceUnavailable, "contention", "too much concurrent activity on this object; retry")
	case dbtx.Unavailable(err):
		return errorf(http.StatusServiceUnavailable, "unavailable", "the database is unreachable for the moment; retry")
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
