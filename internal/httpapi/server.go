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
	// Web serves the pages (/, /signin, /signout, /app/, /static/).
	Web http.Handler
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
	if s.Web != nil {
		for _, pattern := range []string{"/{$}", "/signin", "/signout", "/app", "/app/", "/static/"} {
			mux.Handle(pattern, s.Web)
		}
	}
	for _, rt := range a.routes() {
		if rt.backend {
			mux.Handle(rt.pattern, a.backend(rt))
		} else {
			mux.Handle(rt.pattern, a.authenticated(rt))
		}
	}
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
	return recoverer(logRequests(unmatchedAsJSON(mux)))
}

// routes is every endpoint a token reaches, with what it needs: the one
// table the access check reads (docs/security.md lists it).
func (a *api) routes() []route {
	const (
		read  = org.LevelRead
		plan  = org.LevelPlan
		write = org.LevelWrite
		admin = org.LevelAdmin
	)
	ws := workspacePath("id")
	t := []route{
		siteAdmin(a.rotateSigningKey).at("POST /api/v1/admin/signing-keys/actions/rotate"),
		siteAdmin(a.listEvents).at("GET /api/v1/admin/events"),
		siteAdmin(a.retryEvent).at("POST /api/v1/admin/events/{id}/actions/retry"),
		siteAdmin(a.createOrganization).at("POST /api/v1/organizations"),
		siteAdmin(a.updateOrganization).at("PATCH /api/v1/organizations/{org}"),
		anyone(a.listOrganizations).at("GET /api/v1/organizations"),
		anyone(a.getOrganization).at("GET /api/v1/organizations/{org}"),
		anyone(a.account).at("GET /api/v1/account"),
		anyone(a.createOwnToken).at("POST /api/v1/account/tokens"),
		anyone(a.listOwnTokens).at("GET /api/v1/account/tokens"),
		anyone(a.revokeOwnToken).at("DELETE /api/v1/account/tokens/{id}"),

		ownerOrSite(a.createToken).at("POST /api/v1/organizations/{org}/tokens"),
		ownerOrSite(a.listTokens).at("GET /api/v1/organizations/{org}/tokens"),
		ownerOrSite(a.getToken).at("GET /api/v1/organizations/{org}/tokens/{id}"),
		ownerOrSite(a.revokeToken).at("DELETE /api/v1/organizations/{org}/tokens/{id}"),
		ownerOrSite(a.auditTrail).at("GET /api/v1/organizations/{org}/audit"),
		ownerOrSite(a.auditVerify).at("GET /api/v1/organizations/{org}/audit/verify"),
		ownerOrSite(a.inviteUser).at("POST /api/v1/organizations/{org}/users"),
		ownerOrSite(a.listUsers).at("GET /api/v1/organizations/{org}/users"),
		ownerOrSite(a.removeUser).at("DELETE /api/v1/organizations/{org}/users/{user}"),
		ownerOrSite(a.createUserToken).at("POST /api/v1/organizations/{org}/users/{user}/tokens"),
		ownerOrSite(a.createTeam).at("POST /api/v1/organizations/{org}/teams"),
		member(a.listTeams).at("GET /api/v1/organizations/{org}/teams"),
		member(a.getTeam).at("GET /api/v1/organizations/{org}/teams/{team}"),
		ownerOrSite(a.deleteTeam).at("DELETE /api/v1/organizations/{org}/teams/{team}"),
		ownerOrSite(a.addTeamMember).at("PUT /api/v1/organizations/{org}/teams/{team}/members/{user}"),
		ownerOrSite(a.removeTeamMember).at("DELETE /api/v1/organizations/{org}/teams/{team}/members/{user}"),
		ownerOrSite(a.createTeamToken).at("POST /api/v1/organizations/{org}/teams/{team}/tokens"),
		owner(a.createWorkspace).at("POST /api/v1/organizations/{org}/workspaces"),
		member(a.listWorkspaces).at("GET /api/v1/organizations/{org}/workspaces"),
		owner(a.listDeletedWorkspaces).at("GET /api/v1/organizations/{org}/deleted-workspaces"),
		owner(a.restoreWorkspace).at("POST /api/v1/organizations/{org}/deleted-workspaces/{id}/actions/restore"),
		owner(a.createAgentPool).at("POST /api/v1/organizations/{org}/agent-pools"),
		member(a.listAgentPools).at("GET /api/v1/organizations/{org}/agent-pools"),
		owner(a.deleteAgentPool).at("DELETE /api/v1/organizations/{org}/agent-pools/{id}"),
		owner(a.createPolicy).at("POST /api/v1/organizations/{org}/policies"),
		member(a.listPolicies).at("GET /api/v1/organizations/{org}/policies"),
		owner(a.deletePolicy).at("DELETE /api/v1/policies/{id}"),
		owner(a.createVarset).at("POST /api/v1/organizations/{org}/varsets"),
		member(a.listVarsets).at("GET /api/v1/organizations/{org}/varsets"),
		member(a.getVarset).at("GET /api/v1/varsets/{id}"),
		owner(a.updateVarset).at("PATCH /api/v1/varsets/{id}"),
		owner(a.deleteVarset).at("DELETE /api/v1/varsets/{id}"),
		owner(a.createVarsetVariable).at("POST /api/v1/varsets/{id}/vars"),
		member(a.listVarsetVariables).at("GET /api/v1/varsets/{id}/vars"),
		owner(a.attachVarset).at("POST /api/v1/varsets/{id}/workspaces"),
		owner(a.detachVarset).at("DELETE /api/v1/varsets/{id}/workspaces/{workspace}"),

		on(read, workspaceName, a.getWorkspaceByName).at("GET /api/v1/organizations/{org}/workspaces/{name}"),
		on(read, ws, a.getWorkspace).at("GET /api/v1/workspaces/{id}"),
		on(admin, ws, a.updateWorkspace).at("PATCH /api/v1/workspaces/{id}"),
		on(admin, ws, a.deleteWorkspace).at("DELETE /api/v1/workspaces/{id}"),
		on(write, ws, a.lockWorkspace).at("POST /api/v1/workspaces/{id}/actions/lock"),
		on(write, ws, a.unlockWorkspace(false)).at("POST /api/v1/workspaces/{id}/actions/unlock"),
		on(admin, ws, a.unlockWorkspace(true)).at("POST /api/v1/workspaces/{id}/actions/force-unlock"),
		on(read, ws, a.listTeamAccess).at("GET /api/v1/workspaces/{id}/team-access"),
		on(admin, ws, a.setTeamAccess).at("PUT /api/v1/workspaces/{id}/team-access/{team}"),
		on(admin, ws, a.removeTeamAccess).at("DELETE /api/v1/workspaces/{id}/team-access/{team}"),
		on(plan, ws, a.uploadConfiguration).at("POST /api/v1/workspaces/{id}/configuration-versions"),
		// A plan-only run needs plan; one that may apply needs write (createRun).
		on(plan, ws, a.createRun).at("POST /api/v1/workspaces/{id}/runs"),
		on(read, ws, a.listRuns).at("GET /api/v1/workspaces/{id}/runs"),
		on(read, runPath, a.getRun).at("GET /api/v1/runs/{id}"),
		on(read, runPath, a.runLogs).at("GET /api/v1/runs/{id}/logs"),
		on(read, runPath, a.runPolicyChecks).at("GET /api/v1/runs/{id}/policy-checks"),
		on(write, runPath, a.runAction(run.EventConfirm)).at("POST /api/v1/runs/{id}/actions/confirm"),
		on(write, runPath, a.runAction(run.EventDiscard)).at("POST /api/v1/runs/{id}/actions/discard"),
		on(write, runPath, a.runAction(run.EventCancel)).at("POST /api/v1/runs/{id}/actions/cancel"),
		on(write, runPath, a.runAction(run.EventForceCancel)).at("POST /api/v1/runs/{id}/actions/force-cancel"),
		on(admin, runPath, a.runAction(run.EventOverride)).at("POST /api/v1/runs/{id}/actions/override"),
		on(read, ws, a.listStateVersions).at("GET /api/v1/workspaces/{id}/state-versions"),
		on(read, ws, a.currentStateVersion).at("GET /api/v1/workspaces/{id}/current-state-version"),
		on(write, ws, a.rollbackState).at("POST /api/v1/workspaces/{id}/state-versions/{sv}/rollback"),
		on(read, stateVersionPath, a.getStateVersion).at("GET /api/v1/state-versions/{id}"),
		on(write, stateVersionPath, a.downloadStateVersion).at("GET /api/v1/state-versions/{id}/download"),
		on(read, ws, a.outputs).at("GET /api/v1/workspaces/{id}/outputs"),
		// Creating an edge also needs read on the upstream (createTrigger).
		on(admin, ws, a.createTrigger).at("POST /api/v1/workspaces/{id}/triggers"),
		on(read, ws, a.listTriggers).at("GET /api/v1/workspaces/{id}/triggers"),
		on(admin, ws, a.deleteTrigger).at("DELETE /api/v1/workspaces/{id}/triggers/{upstream}"),
		on(write, ws, a.createVariable).at("POST /api/v1/workspaces/{id}/vars"),
		on(read, ws, a.listVariables).at("GET /api/v1/workspaces/{id}/vars"),
		on(read, variablePath, a.getVariable).at("GET /api/v1/vars/{id}"),
		on(write, variablePath, a.updateVariable).at("PATCH /api/v1/vars/{id}"),
		on(write, variablePath, a.deleteVariable).at("DELETE /api/v1/vars/{id}"),
	}
	// Terraform's http backend: raw state, so write. A job credential is
	// checked by the state service instead (its own workspace, consumers).
	for _, b := range []struct {
		pattern string
		h       handler
	}{
		{"GET /api/v1/workspaces/{id}/state", a.stateGet},
		{"POST /api/v1/workspaces/{id}/state", a.statePost},
		{"LOCK /api/v1/workspaces/{id}/state", a.stateLock},
		{"UNLOCK /api/v1/workspaces/{id}/state", a.stateUnlock},
		// The same with standard verbs, for clients behind proxies that pass
		// only those (API Gateway): TF_HTTP_LOCK_METHOD=POST and an address of
		// …/state/lock, TF_HTTP_UNLOCK_METHOD=POST and …/state/unlock.
		{"POST /api/v1/workspaces/{id}/state/lock", a.stateLock},
		{"POST /api/v1/workspaces/{id}/state/unlock", a.stateUnlock},
		// Large states straight to and from storage (agentapi.ObjectUpload).
		{"POST /api/v1/workspaces/{id}/state/objects", a.stateGrantUpload},
		{"PUT /api/v1/workspaces/{id}/state/objects/{object}", a.stateCommitObject},
	} {
		rt := on(write, ws, b.h).at(b.pattern)
		rt.backend = true
		t = append(t, rt)
	}
	return t
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
// writeItems answers a whole list, each item as view shows it, or err.
func writeItems[T, J any](w http.ResponseWriter, list []T, err error, view func(T) J) error {
	if err != nil {
		return err
	}
	items := make([]J, 0, len(list))
	for _, v := range list {
		items = append(items, view(v))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

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

// Unwrap lets http.ResponseController reach the connection: the pages'
// live run stream flushes through it.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

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
