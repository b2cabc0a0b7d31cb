package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/configversion"
	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/identity"
	"github.com/runplane/runplane/internal/jobs"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/policy"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/state"
	"github.com/runplane/runplane/internal/trigger"
	"github.com/runplane/runplane/internal/validate"
	"github.com/runplane/runplane/internal/variable"
	"github.com/runplane/runplane/internal/workspace"
)

// maxBody bounds JSON request bodies.
const maxBody = 1 << 20

// Services are what the API calls into.
type Services struct {
	Orgs       *org.Service
	Workspaces *workspace.Service
	Runs       *run.Service
	State      *state.Service
	Configs    *configversion.Service
	Agents     *jobs.Service
	Triggers   *trigger.Service
	Policies   *policy.Service
	Events     *events.Dispatcher
	Variables  *variable.Service
	Audit      *audit.Service
	// Identity signs runs' workload identity tokens and publishes its keys.
	Identity *identity.Service
	// TFE serves the Terraform Cloud API (/api/v2, service discovery).
	TFE http.Handler
	// AgentToken is the secret agents present; empty turns the agent API off.
	AgentToken string
	// Health reports whether the database is reachable and migrated.
	Health func(context.Context) error
}

type api struct {
	Services
	agentHash [32]byte
}

// New returns the API as an http.Handler.
func New(s Services) http.Handler {
	a := &api{Services: s, agentHash: sha256.Sum256([]byte(s.AgentToken))}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.Handle("GET /.well-known/openid-configuration", a.public(a.openIDConfiguration))
	mux.Handle("GET /.well-known/jwks.json", a.public(a.jwks))
	if s.TFE != nil {
		mux.Handle("/api/v2/", s.TFE)
		mux.Handle("GET /.well-known/terraform.json", s.TFE)
	}
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request, org.Principal) error) {
		mux.Handle(pattern, a.authenticated(h))
	}
	handle("POST /api/v1/admin/signing-keys/actions/rotate", a.rotateSigningKey)
	handle("POST /api/v1/organizations", a.createOrganization)
	handle("GET /api/v1/organizations", a.listOrganizations)
	handle("GET /api/v1/organizations/{org}", a.getOrganization)
	handle("PATCH /api/v1/organizations/{org}", a.updateOrganization)
	handle("POST /api/v1/organizations/{org}/tokens", a.createToken)
	handle("GET /api/v1/organizations/{org}/tokens", a.listTokens)
	handle("GET /api/v1/organizations/{org}/audit", a.auditTrail)
	handle("GET /api/v1/organizations/{org}/audit/verify", a.auditVerify)
	handle("GET /api/v1/organizations/{org}/tokens/{id}", a.getToken)
	handle("DELETE /api/v1/organizations/{org}/tokens/{id}", a.revokeToken)
	handle("POST /api/v1/organizations/{org}/workspaces", a.createWorkspace)
	handle("GET /api/v1/organizations/{org}/workspaces", a.listWorkspaces)
	handle("GET /api/v1/organizations/{org}/workspaces/{name}", a.getWorkspaceByName)
	handle("GET /api/v1/workspaces/{id}", a.getWorkspace)
	handle("POST /api/v1/workspaces/{id}/actions/{action}", a.workspaceAction)
	handle("POST /api/v1/workspaces/{id}/runs", a.createRun)
	handle("GET /api/v1/workspaces/{id}/runs", a.listRuns)
	handle("GET /api/v1/runs/{id}", a.getRun)
	handle("POST /api/v1/runs/{id}/actions/{action}", a.runAction)
	handle("PATCH /api/v1/workspaces/{id}", a.updateWorkspace)
	handle("DELETE /api/v1/workspaces/{id}", a.deleteWorkspace)
	handle("GET /api/v1/organizations/{org}/deleted-workspaces", a.listDeletedWorkspaces)
	handle("POST /api/v1/organizations/{org}/agent-pools", a.createAgentPool)
	handle("GET /api/v1/organizations/{org}/agent-pools", a.listAgentPools)
	handle("DELETE /api/v1/organizations/{org}/agent-pools/{id}", a.deleteAgentPool)
	handle("POST /api/v1/organizations/{org}/deleted-workspaces/{id}/actions/restore", a.restoreWorkspace)
	handle("GET /api/v1/workspaces/{id}/state-versions", a.listStateVersions)
	handle("GET /api/v1/workspaces/{id}/current-state-version", a.currentStateVersion)
	handle("POST /api/v1/workspaces/{id}/state-versions/{sv}/rollback", a.rollbackState)
	handle("GET /api/v1/state-versions/{id}", a.getStateVersion)
	handle("GET /api/v1/state-versions/{id}/download", a.downloadStateVersion)
	handle("GET /api/v1/workspaces/{id}/outputs", a.outputs)
	handle("POST /api/v1/workspaces/{id}/configuration-versions", a.uploadConfiguration)
	handle("GET /api/v1/runs/{id}/logs", a.runLogs)
	handle("POST /api/v1/organizations/{org}/policies", a.createPolicy)
	handle("GET /api/v1/organizations/{org}/policies", a.listPolicies)
	handle("DELETE /api/v1/policies/{id}", a.deletePolicy)
	handle("GET /api/v1/runs/{id}/policy-checks", a.runPolicyChecks)
	handle("POST /api/v1/workspaces/{id}/triggers", a.createTrigger)
	handle("GET /api/v1/workspaces/{id}/triggers", a.listTriggers)
	handle("DELETE /api/v1/workspaces/{id}/triggers/{upstream}", a.deleteTrigger)
	handle("POST /api/v1/workspaces/{id}/vars", a.createVariable)
	handle("GET /api/v1/workspaces/{id}/vars", a.listVariables)
	handle("GET /api/v1/vars/{id}", a.getVariable)
	handle("PATCH /api/v1/vars/{id}", a.updateVariable)
	handle("DELETE /api/v1/vars/{id}", a.deleteVariable)
	handle("POST /api/v1/organizations/{org}/varsets", a.createVarset)
	handle("GET /api/v1/organizations/{org}/varsets", a.listVarsets)
	handle("GET /api/v1/varsets/{id}", a.getVarset)
	handle("PATCH /api/v1/varsets/{id}", a.updateVarset)
	handle("DELETE /api/v1/varsets/{id}", a.deleteVarset)
	handle("POST /api/v1/varsets/{id}/vars", a.createVarsetVariable)
	handle("GET /api/v1/varsets/{id}/vars", a.listVarsetVariables)
	handle("POST /api/v1/varsets/{id}/workspaces", a.attachVarset)
	handle("DELETE /api/v1/varsets/{id}/workspaces/{workspace}", a.detachVarset)
	handle("GET /api/v1/admin/events", a.listEvents)
	handle("POST /api/v1/admin/events/{id}/actions/retry", a.retryEvent)
	mux.Handle("POST /api/agent/v1/claim", a.agentAuth(a.agentClaim))
	mux.Handle("POST /api/agent/v1/jobs/{id}/heartbeat", a.agentAuth(a.agentHeartbeat))
	mux.Handle("PUT /api/agent/v1/jobs/{id}/logs", a.agentAuth(a.agentLogs))
	mux.Handle("PUT /api/agent/v1/jobs/{id}/artifacts/{name}", a.agentAuth(a.agentPutArtifact))
	mux.Handle("GET /api/agent/v1/jobs/{id}/artifacts/{name}", a.agentAuth(a.agentGetArtifact))
	mux.Handle("POST /api/agent/v1/jobs/{id}/artifacts/{name}/objects", a.agentAuth(a.agentGrantArtifactUpload))
	mux.Handle("PUT /api/agent/v1/jobs/{id}/artifacts/{name}/objects/{object}", a.agentAuth(a.agentCommitArtifact))
	mux.Handle("GET /api/agent/v1/jobs/{id}/configuration", a.agentAuth(a.agentConfiguration))
	mux.Handle("GET /api/agent/v1/jobs/{id}/variables", a.agentAuth(a.agentVariables))
	mux.Handle("POST /api/agent/v1/jobs/{id}/finish", a.agentAuth(a.agentFinish))
	mux.Handle("GET /api/v1/workspaces/{id}/state", a.backend(a.stateGet))
	mux.Handle("POST /api/v1/workspaces/{id}/state", a.backend(a.statePost))
	mux.Handle("LOCK /api/v1/workspaces/{id}/state", a.backend(a.stateLock))
	mux.Handle("UNLOCK /api/v1/workspaces/{id}/state", a.backend(a.stateUnlock))
	// The same with standard verbs, for clients behind proxies that pass
	// only those (API Gateway): TF_HTTP_LOCK_METHOD=POST and an address of
	// …/state/lock, TF_HTTP_UNLOCK_METHOD=POST and …/state/unlock.
	mux.Handle("POST /api/v1/workspaces/{id}/state/lock", a.backend(a.stateLock))
	mux.Handle("POST /api/v1/workspaces/{id}/state/unlock", a.backend(a.stateUnlock))
	// Large states straight to and from storage (agentapi.ObjectUpload).
	mux.Handle("POST /api/v1/workspaces/{id}/state/objects", a.backend(a.stateGrantUpload))
	mux.Handle("PUT /api/v1/workspaces/{id}/state/objects/{object}", a.backend(a.stateCommitObject))
	return recoverer(logRequests(unmatchedAsJSON(mux)))
}

// unmatchedAsJSON answers requests no route takes in the API's error shape:
// 405 with Allow when the path has routes for other methods, else 404.
func unmatchedAsJSON(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// h is the mux's own plain-text 404 or 405; only its verdict is kept.
		probe := &verdict{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if allow := probe.header.Get("Allow"); probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", allow)
			writeError(w, r, errorf(http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow)))
			return
		}
		writeError(w, r, errorf(http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path))
	})
}

// verdict is a ResponseWriter that keeps the status and headers, not the body.
type verdict struct {
	header http.Header
	status int
}

func (v *verdict) Header() http.Header         { return v.header }
func (v *verdict) Write(b []byte) (int, error) { return len(b), nil }
func (v *verdict) WriteHeader(code int)        { v.status = code }

func (a *api) healthz(w http.ResponseWriter, r *http.Request) {
	if err := a.Health(r.Context()); err != nil {
		slog.WarnContext(r.Context(), "health check failed", "err", err)
		writeError(w, r, errorf(http.StatusServiceUnavailable, "unavailable", "database not reachable or not migrated"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// bearer is the token of an `Authorization: Bearer <token>` header, or "".
func bearer(r *http.Request) string {
	secret, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return strings.TrimSpace(secret)
}

func (a *api) authenticated(h func(http.ResponseWriter, *http.Request, org.Principal) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Orgs.Authenticate(r.Context(), bearer(r))
		if err == nil && p.Scoped() {
			err = errorf(http.StatusForbidden, "forbidden", "a job credential reaches only the state backend and the agent API")
		}
		if err == nil {
			err = h(w, r.WithContext(audit.WithActor(r.Context(), p.Actor(r.RemoteAddr))), p)
		}
		if err != nil {
			writeError(w, r, err)
		}
	})
}

// decode reads a JSON body into v strictly and refuses text that cannot be
// stored (NUL, invalid UTF-8). An empty body is allowed only when optional.
func decode(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	if err := decodeJSON(w, r, v, optional); err != nil {
		return err
	}
	return validate.Text(v)
}

// decodeJSON is decode without the text check, for reports whose text comes
// from a program, not a person, and is cleaned where it is stored.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		if optional {
			return nil
		}
		return errorf(http.StatusBadRequest, "invalid_json", "request body is empty; send a JSON object")
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body is larger than %d bytes", maxBody))
	}
	if err != nil {
		return errorf(http.StatusBadRequest, "invalid_json", "malformed JSON body: "+describeJSONError(err))
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "invalid_json", "request body holds more than one JSON value")
	}
	return nil
}

// describeJSONError says what is wrong with a body in the API's terms, not
// the Go types it is decoded into.
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var mistyped *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("%v (at byte %d)", syntax, syntax.Offset)
	case errors.As(err, &mistyped) && mistyped.Field != "":
		return fmt.Sprintf("%q must be %s, not %s", mistyped.Field, jsonKind(mistyped.Type), mistyped.Value)
	case errors.As(err, &mistyped):
		return fmt.Sprintf("expected %s, got %s", jsonKind(mistyped.Type), mistyped.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends in the middle of a JSON value"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// jsonKind names the JSON value a Go type decodes from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		return "a string" // ids, times
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number in range"
	case reflect.Float32, reflect.Float64:
		return "a number in range"
	}
	return "a " + t.Kind().String()
}

func pathID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		// Not a valid id, so it names nothing.
		return uuid.Nil, errorf(http.StatusNotFound, "not_found", fmt.Sprintf("no object with id %q", r.PathValue(name)))
	}
	return id, nil
}

// page reads ?limit= and ?cursor=.
func page(r *http.Request) (limit int, cursor string, err error) {
	limit = 100
	if s := r.URL.Query().Get("limit"); s != "" {
		limit, err = strconv.Atoi(s)
		if err != nil || limit < 1 || limit > 1000 {
			return 0, "", errorf(http.StatusBadRequest, "invalid_request", "limit must be an integer from 1 to 1000")
		}
	}
	return limit, r.URL.Query().Get("cursor"), nil
}

// writePage answers a list fetched with limit+1 rows: {items, next_cursor}
// where the extra row only tells that there is more.
func writePage[T, J any](w http.ResponseWriter, list []T, limit int, cursor func(T) string, view func(T) J) {
	out := map[string]any{}
	if len(list) > limit {
		list = list[:limit]
		out["next_cursor"] = cursor(list[limit-1])
	}
	items := make([]J, 0, len(list))
	for _, v := range list {
		items = append(items, view(v))
	}
	out["items"] = items
	writeJSON(w, http.StatusOK, out)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		slog.DebugContext(r.Context(), "request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
	})
}

func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Timeouts bound how long a connection may hold the server's resources.
type Timeouts struct {
	// ReadHeader bounds the request line and headers.
	ReadHeader time.Duration
	// Read bounds the whole request, body included: a client that declares
	// a body and sends it slowly, or not at all, is cut off. 60 s carries a
	// 50 MB state at under 1 MB/s.
	Read time.Duration
	// Idle bounds a kept-alive connection between requests.
	Idle time.Duration
}

// DefaultTimeouts are the server's. There is no write timeout: a claim
// long-polls for up to 20 s and a 50 MB state download may take longer on
// a slow link; the handlers bound their own work.
var DefaultTimeouts = Timeouts{ReadHeader: 10 * time.Second, Read: 60 * time.Second, Idle: 2 * time.Minute}

// NewServer returns an http.Server for h with the timeouts t.
func NewServer(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{
		Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, IdleTimeout: t.Idle,
		MaxHeaderBytes: 64 << 10,
	}
}
