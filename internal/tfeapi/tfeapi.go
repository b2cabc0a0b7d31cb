package tfeapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/jsonapi"

	"github.com/runplane/runplane/internal/configversion"
	"github.com/runplane/runplane/internal/fault"
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

// Services are what the API calls into.
type Services struct {
	Orgs       *org.Service
	Workspaces *workspace.Service
	Variables  *variable.Service
	Triggers   *trigger.Service
	Configs    *configversion.Service
	Runs       *run.Service
	Jobs       *jobs.Service
	State      *state.Service
	Policies   *policy.Service
	// URLKey signs the capability URLs (URLKey derives one).
	URLKey []byte
}

// APIVersion is the TFE API version announced to clients.
const APIVersion = "2.5"

type api struct {
	Services
	urls signer
}

// New returns the Terraform Cloud API: /.well-known/terraform.json and
// everything under /api/v2/.
func New(s Services) http.Handler {
	a := &api{Services: s, urls: signer{key: s.URLKey, now: time.Now}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/terraform.json", discovery)
	mux.HandleFunc("GET /api/v2/ping", func(w http.ResponseWriter, r *http.Request) {
		headers(w)
		w.WriteHeader(http.StatusNoContent)
	})
	for _, rt := range a.routes() {
		mux.Handle(rt.pattern, a.authenticated(rt))
	}
	// Capability URLs: the signature in the path is the credential.
	signed := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			headers(w)
			if err := h(w, r); err != nil {
				writeError(w, r, err)
			}
		})
	}
	signed("PUT /api/v2/uploads/{org}/{id}/{token}", a.uploadConfiguration)
	signed("GET /api/v2/logs/{phase}/{org}/{run}/{token}", a.readLog)
	signed("PUT /api/v2/state-uploads/{kind}/{org}/{ws}/{by}/{id}/{md5}/{token}", a.uploadState)
	mux.HandleFunc("/api/v2/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, fmt.Errorf("%w: %s %s is not served (docs/tfe-compatibility.md)", errNotServed, r.Method, r.URL.Path))
	})
	return mux
}

// routes is every endpoint a token reaches, with what it needs: the one
// table the access check reads, level for level the native API's.
func (a *api) routes() []route {
	const (
		read  = org.LevelRead
		plan  = org.LevelPlan
		write = org.LevelWrite
		admin = org.LevelAdmin
	)
	ws := workspacePath
	return []route{
		anyone(a.accountDetails).at("GET /api/v2/account/details"),
		siteAdmin(a.createOrganization).at("POST /api/v2/organizations"),
		anyone(a.getOrganization).at("GET /api/v2/organizations/{org}"),
		ownerOrSite(a.createOrganizationToken).at("POST /api/v2/organizations/{org}/authentication-token"),
		ownerOrSite(a.deleteOrganizationToken).at("DELETE /api/v2/organizations/{org}/authentication-token"),
		owner(a.createWorkspace).at("POST /api/v2/organizations/{org}/workspaces"),
		member(a.listWorkspaces).at("GET /api/v2/organizations/{org}/workspaces"),
		member(a.entitlements).at("GET /api/v2/organizations/{org}/entitlement-set"),
		member(a.runQueue).at("GET /api/v2/organizations/{org}/runs/queue"),
		member(a.capacity).at("GET /api/v2/organizations/{org}/capacity"),
		owner(a.createVarset).at("POST /api/v2/organizations/{org}/varsets"),
		member(a.listVarsets).at("GET /api/v2/organizations/{org}/varsets"),
		member(a.getVarset).at("GET /api/v2/varsets/{id}"),
		owner(a.updateVarset).at("PATCH /api/v2/varsets/{id}"),
		owner(a.deleteVarset).at("DELETE /api/v2/varsets/{id}"),
		owner(a.varsetWorkspaces).at("POST /api/v2/varsets/{id}/relationships/workspaces"),
		owner(a.varsetWorkspaces).at("DELETE /api/v2/varsets/{id}/relationships/workspaces"),
		owner(a.createVarsetVariable).at("POST /api/v2/varsets/{id}/relationships/vars"),
		member(a.listVarsetVariables).at("GET /api/v2/varsets/{id}/relationships/vars"),
		member(a.getVarsetVariable).at("GET /api/v2/varsets/{id}/relationships/vars/{var}"),
		owner(a.updateVarsetVariable).at("PATCH /api/v2/varsets/{id}/relationships/vars/{var}"),
		owner(a.deleteVarsetVariable).at("DELETE /api/v2/varsets/{id}/relationships/vars/{var}"),
		// A plan-only run needs plan, one that may apply write (createRun).
		on(plan, bodyWorkspace, a.createRun).at("POST /api/v2/runs"),
		member(a.listTeams).at("GET /api/v2/organizations/{org}/teams"),
		ownerOrSite(a.createTeam).at("POST /api/v2/organizations/{org}/teams"),
		member(a.getTeam).at("GET /api/v2/teams/{id}"),
		owner(a.deleteTeam).at("DELETE /api/v2/teams/{id}"),
		on(read, teamAccessFilter, a.listTeamAccess).at("GET /api/v2/team-workspaces"),
		on(admin, bodyWorkspace, a.addTeamAccess).at("POST /api/v2/team-workspaces"),
		on(read, teamAccessPath, a.getTeamAccess).at("GET /api/v2/team-workspaces/{id}"),
		on(admin, teamAccessPath, a.updateTeamAccess).at("PATCH /api/v2/team-workspaces/{id}"),
		on(admin, teamAccessPath, a.removeTeamAccess).at("DELETE /api/v2/team-workspaces/{id}"),

		on(read, ws, a.getWorkspaceByName).at("GET /api/v2/organizations/{org}/workspaces/{name}"),
		on(read, ws, a.getWorkspace).at("GET /api/v2/workspaces/{id}"),
		on(admin, ws, a.updateWorkspace).at("PATCH /api/v2/workspaces/{id}"),
		on(admin, ws, a.updateWorkspace).at("PATCH /api/v2/organizations/{org}/workspaces/{name}"),
		on(admin, ws, a.deleteWorkspace).at("DELETE /api/v2/workspaces/{id}"),
		on(admin, ws, a.deleteWorkspace).at("DELETE /api/v2/organizations/{org}/workspaces/{name}"),
		on(write, ws, a.lockWorkspace).at("POST /api/v2/workspaces/{id}/actions/lock"),
		on(write, ws, a.unlockWorkspace(false)).at("POST /api/v2/workspaces/{id}/actions/unlock"),
		on(admin, ws, a.unlockWorkspace(true)).at("POST /api/v2/workspaces/{id}/actions/force-unlock"),
		on(write, ws, a.createVariable).at("POST /api/v2/workspaces/{id}/vars"),
		on(read, ws, a.listVariables).at("GET /api/v2/workspaces/{id}/vars"),
		on(read, ws, a.getVariable).at("GET /api/v2/workspaces/{id}/vars/{var}"),
		on(write, ws, a.updateVariable).at("PATCH /api/v2/workspaces/{id}/vars/{var}"),
		on(write, ws, a.deleteVariable).at("DELETE /api/v2/workspaces/{id}/vars/{var}"),
		on(read, ws, a.listWorkspaceVarsets).at("GET /api/v2/workspaces/{id}/varsets"),
		// Creating an edge also needs read on the upstream (createRunTrigger).
		on(admin, ws, a.createRunTrigger).at("POST /api/v2/workspaces/{id}/run-triggers"),
		on(read, ws, a.listRunTriggers).at("GET /api/v2/workspaces/{id}/run-triggers"),
		on(read, runTriggerPath, a.getRunTrigger).at("GET /api/v2/run-triggers/{id}"),
		on(admin, runTriggerPath, a.deleteRunTrigger).at("DELETE /api/v2/run-triggers/{id}"),
		on(plan, ws, a.createConfigurationVersion).at("POST /api/v2/workspaces/{id}/configuration-versions"),
		on(read, ws, a.listConfigurationVersions).at("GET /api/v2/workspaces/{id}/configuration-versions"),
		on(read, configurationPath, a.getConfigurationVersion).at("GET /api/v2/configuration-versions/{id}"),
		on(plan, configurationPath, a.downloadConfigurationVersion).at("GET /api/v2/configuration-versions/{id}/download"),
		on(read, runPath, a.getRun).at("GET /api/v2/runs/{id}"),
		on(read, ws, a.listRuns).at("GET /api/v2/workspaces/{id}/runs"),
		on(write, runPath, a.runAction(run.EventConfirm)).at("POST /api/v2/runs/{id}/actions/apply"),
		on(write, runPath, a.runAction(run.EventDiscard)).at("POST /api/v2/runs/{id}/actions/discard"),
		on(write, runPath, a.runAction(run.EventCancel)).at("POST /api/v2/runs/{id}/actions/cancel"),
		on(write, runPath, a.runAction(run.EventForceCancel)).at("POST /api/v2/runs/{id}/actions/force-cancel"),
		on(read, runPath, a.runEventsList).at("GET /api/v2/runs/{id}/run-events"),
		on(read, runPath, a.getPlan).at("GET /api/v2/plans/{id}"),
		// The plan's JSON holds sensitive values in clear, before and after.
		on(admin, runPath, a.planJSON).at("GET /api/v2/plans/{id}/json-output"),
		on(read, runPath, a.getApply).at("GET /api/v2/applies/{id}"),
		on(read, runPath, a.listPolicyChecks).at("GET /api/v2/runs/{id}/policy-checks"),
		on(read, runPath, a.getPolicyCheck).at("GET /api/v2/policy-checks/{id}"),
		on(read, runPath, a.policyCheckOutput).at("GET /api/v2/policy-checks/{id}/output"),
		on(admin, runPath, a.overridePolicyCheck).at("POST /api/v2/policy-checks/{id}/actions/override"),
		on(write, ws, a.createStateVersion).at("POST /api/v2/workspaces/{id}/state-versions"),
		on(read, ws, a.currentStateVersion).at("GET /api/v2/workspaces/{id}/current-state-version"),
		on(read, ws, a.currentStateVersionOutputs).at("GET /api/v2/workspaces/{id}/current-state-version-outputs"),
		on(read, stateVersionFilter, a.listStateVersions).at("GET /api/v2/state-versions"),
		on(read, stateVersionPath, a.getStateVersion).at("GET /api/v2/state-versions/{id}"),
		on(write, stateVersionPath, a.downloadStateVersion).at("GET /api/v2/state-versions/{id}/download"),
		on(read, stateVersionPath, a.stateVersionOutputs).at("GET /api/v2/state-versions/{id}/outputs"),
		on(read, stateOutputPath, a.getStateVersionOutput).at("GET /api/v2/state-version-outputs/{id}"),
	}
}

var (
	errCategory  = fault.New(fault.Invalid, "invalid", "a variable's category cannot change; delete it and create a new one")
	errNotServed = fault.New(fault.NotFound, "not_found", "not served")
	errNotFound  = fault.New(fault.NotFound, "not_found", "not found")
)

// discovery is terraform's service discovery: where the API lives.
func discovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"tfe.v2":"/api/v2/","tfe.v2.1":"/api/v2/","tfe.v2.2":"/api/v2/","state.v2":"/api/v2/"}`))
}

func headers(w http.ResponseWriter) {
	w.Header().Set("TFP-API-Version", APIVersion)
	w.Header().Set("TFP-AppName", "Runplane")
}

// statuses is what each kind of domain error answers.
var statuses = map[fault.Kind]int{
	fault.Invalid: http.StatusUnprocessableEntity, fault.Unauthorized: http.StatusUnauthorized,
	fault.Forbidden: http.StatusForbidden, fault.NotFound: http.StatusNotFound, fault.Conflict: http.StatusConflict,
	fault.TooLarge: http.StatusRequestEntityTooLarge, fault.Locked: http.StatusConflict,
	fault.Corrupt: http.StatusInternalServerError, fault.Unavailable: http.StatusServiceUnavailable,
}

// writeError answers in JSON:API's error shape; go-tfe maps 401 and 404
// to its own sentinel errors.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, title, detail := http.StatusInternalServerError, "internal", "internal error; see the server log"
	if locked := (*state.LockedError)(nil); errors.As(err, &locked) {
		err = fmt.Errorf("%w: %s", state.ErrLocked, locked.Info)
	}
	var ve *validate.Error
	if f, ok := fault.Of(err); ok {
		status, title, detail = statuses[f.Kind], f.Code, err.Error()
	} else if errors.As(err, &ve) {
		status, title, detail = http.StatusUnprocessableEntity, "invalid", ve.Msg
	} else {
		slog.ErrorContext(r.Context(), "tfe request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", jsonapi.MediaType)
	w.WriteHeader(status)
	_ = jsonapi.MarshalErrors(w, []*jsonapi.ErrorObject{{Status: strconv.Itoa(status), Title: title, Detail: detail}})
}

func write(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", jsonapi.MediaType)
	w.WriteHeader(status)
	return jsonapi.MarshalPayload(w, v)
}

// decode reads a JSON:API document of at most 1 MiB into v; a malformed
// one is a 422.
func decode(r *http.Request, v any) error { return decodeLimit(r, v, 1<<20) }

func decodeLimit(r *http.Request, v any, limit int64) error {
	doc, err := readBody(r, limit, fmt.Errorf("%w: the document is larger than %d bytes", errTooLarge, limit), "the document")
	if err != nil {
		return err
	}
	if err := jsonapi.UnmarshalPayload(bytes.NewReader(doc), v); err != nil {
		return validate.Errorf("the body is not a JSON:API document of the expected type: %v", err)
	}
	return nil
}

// readBody reads a request body of at most limit bytes: one that declares
// more is refused with tooLarge before a byte is read, one that sends more
// once it passes the limit.
func readBody(r *http.Request, limit int64, tooLarge error, what string) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge
	}
	if err != nil {
		return nil, validate.Errorf("reading %s: %v", what, err)
	}
	return data, nil
}

type user struct {
	ID       string `jsonapi:"primary,users"`
	Username string `jsonapi:"attr,username"`
	Email    string `jsonapi:"attr,email"`
}

// accountDetails describes the token's holder: tokens belong to
// organizations until users exist (issue 18).
// accountDetails is who the token is: a user by name, a team as its
// service account (api-team-<name>, as HCP Terraform names it), or an
// organization's token.
func (a *api) accountDetails(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	who := holder(p)
	if p.UserID != nil || p.TeamID != nil {
		name, err := a.Orgs.HolderName(r.Context(), p.OrgID, p.TokenID)
		if err != nil {
			return err
		}
		if who.Username = name; p.UserID != nil {
			who.ID = p.UserID.String()
		} else {
			who.ID, who.Username = p.TeamID.String(), "api-"+strings.ReplaceAll(name, " ", "-")
		}
	}
	return write(w, http.StatusOK, who)
}

// holder is the user a token stands for.
func holder(p org.Principal) *user {
	if p.SiteAdmin {
		return &user{ID: "site-admin", Username: "site-admin"}
	}
	return &user{ID: p.TokenID.String(), Username: "token-of-" + p.OrgName}
}

type organization struct {
	Name        string       `jsonapi:"primary,organizations"`
	ExternalID  string       `jsonapi:"attr,external-id"`
	Email       string       `jsonapi:"attr,email"`
	CreatedAt   time.Time    `jsonapi:"attr,created-at,iso8601"`
	Permissions *permissions `jsonapi:"attr,permissions"`
}

type permissions struct {
	CanUpdate          bool `json:"can-update"`
	CanDestroy         bool `json:"can-destroy"`
	CanCreateWorkspace bool `json:"can-create-workspace"`
}

func organizationView(o org.Organization, p org.Principal) *organization {
	admin := p.SiteAdmin || p.Owner
	return &organization{Name: o.Name, ExternalID: o.ID.String(), CreatedAt: o.CreatedAt,
		Permissions: &permissions{CanUpdate: admin, CanDestroy: false, CanCreateWorkspace: admin}}
}

func (a *api) createOrganization(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if !p.SiteAdmin {
		return fault.New(fault.Forbidden, "forbidden", "only the site-admin token creates organizations")
	}
	var in struct {
		ID    string `jsonapi:"primary,organizations"`
		Name  string `jsonapi:"attr,name"`
		Email string `jsonapi:"attr,email"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	o, err := a.Orgs.Create(r.Context(), in.Name, org.CreateOptions{})
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, organizationView(o, p))
}

func (a *api) getOrganization(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Get(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, organizationView(o, p))
}

// entitlements say what the organization may do: remote operations and
// state storage, not Terraform Cloud's paid extras.
func (a *api) entitlements(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, &struct {
		ID               string `jsonapi:"primary,entitlement-sets"`
		Operations       bool   `jsonapi:"attr,operations"`
		StateStorage     bool   `jsonapi:"attr,state-storage"`
		Agents           bool   `jsonapi:"attr,agents"`
		Teams            bool   `jsonapi:"attr,teams"`
		VCSIntegrations  bool   `jsonapi:"attr,vcs-integrations"`
		Sentinel         bool   `jsonapi:"attr,sentinel"`
		PrivateRegistry  bool   `jsonapi:"attr,private-module-registry"`
		CostEstimation   bool   `jsonapi:"attr,cost-estimation"`
		ConfigurationDes bool   `jsonapi:"attr,configuration-designer"`
	}{ID: o.ID.String(), Operations: true, StateStorage: true, Agents: true})
}

// runQueue is the organization's queue as the CLI polls it while its run
// waits. Admission and fair share order runs (docs/architecture.md), so
// no run has a place in a single queue: the list is empty and the CLI
// says it waits for its run to start.
func (a *api) runQueue(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if _, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org")); err != nil {
		return err
	}
	return writeMany(w, []any{}, 1, 20, 0)
}

func (a *api) capacity(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, &struct {
		ID      string `jsonapi:"primary,organization-capacity"`
		Pending int    `jsonapi:"attr,pending"`
		Running int    `jsonapi:"attr,running"`
	}{ID: o.Name})
}

// runEventsList: the CLI reads a run's events for policy warnings;
// Runplane records none of those kinds.
func (a *api) runEventsList(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if _, err := a.phaseRun(r, p); err != nil {
		return err
	}
	return writeMany(w, []any{}, 1, 20, 0)
}

type token struct {
	ID          string    `jsonapi:"primary,authentication-tokens"`
	CreatedAt   time.Time `jsonapi:"attr,created-at,iso8601"`
	Description string    `jsonapi:"attr,description"`
	Token       string    `jsonapi:"attr,token"`
	CreatedBy   *user     `jsonapi:"relation,created-by"`
}

// organizationToken describes the organization's one Terraform Cloud
// organization token among its tokens.
const organizationToken = "organization token (tfe api)"

// createOrganizationToken issues the organization token: an admin token of
// the organization, shown once. As in Terraform Cloud there is one: a new
// one revokes the one before.
func (a *api) createOrganizationToken(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	t, err := a.Orgs.CreateToken(r.Context(), o.ID, organizationToken, org.RoleAdmin)
	if err != nil {
		return err
	}
	if err := a.Orgs.RevokeOtherTokens(r.Context(), o.ID, organizationToken, t.ID); err != nil {
		return err
	}
	return write(w, http.StatusCreated, &token{ID: t.ID.String(), CreatedAt: t.CreatedAt, Description: t.Description, Token: t.Secret, CreatedBy: holder(p)})
}

// deleteOrganizationToken revokes the organization token.
func (a *api) deleteOrganizationToken(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	if err := a.Orgs.RevokeOtherTokens(r.Context(), o.ID, organizationToken, uuid.Nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func pathUUID(r *http.Request, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		return id, fmt.Errorf("%w: no object with id %q", errNotFound, r.PathValue(name))
	}
	return id, nil
}

func jsonEncode(w http.ResponseWriter, v any) error { return json.NewEncoder(w).Encode(v) }

// jsonDecode reads a plain JSON body (the lock action's is not JSON:API).
func jsonDecode(r *http.Request, v any) error {
	return json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(v)
}

// maxPageOffset bounds how deep page numbers reach: lists read from their
// start, and the native API's cursors serve deeper reads.
const maxPageOffset = 10_000

// pageParams reads page[number] and page[size] (default 20, at most 100).
func pageParams(r *http.Request) (number, size int, err error) {
	number, size = 1, 20
	for _, q := range []struct {
		name string
		dst  *int
		max  int
	}{{"page[number]", &number, 1 << 20}, {"page[size]", &size, 100}} {
		if s := r.URL.Query().Get(q.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > q.max {
				return 0, 0, validate.Errorf("%s must be a whole number from 1 to %d", q.name, q.max)
			}
			*q.dst = n
		}
	}
	if (number-1)*size > maxPageOffset {
		return 0, 0, validate.Errorf("pages start at most %d items in; the native API (/api/v1) pages further with cursors", maxPageOffset)
	}
	return number, size, nil
}

// pageOf is page number of a list read from its start.
func pageOf[T any](all []T, number, size int) []T {
	start := min((number-1)*size, len(all))
	return all[start:min(start+size, len(all))]
}

// writeMany answers a page of resources with the pagination meta go-tfe
// reads.
func writeMany(w http.ResponseWriter, items []any, number, size, total int) error {
	payload, err := jsonapi.Marshal(items)
	if err != nil {
		return err
	}
	many := payload.(*jsonapi.ManyPayload)
	pages := max(1, (total+size-1)/size)
	next := 0
	if number < pages {
		next = number + 1
	}
	many.Meta = &jsonapi.Meta{"pagination": map[string]int{
		"current-page": number, "prev-page": number - 1, "next-page": next, "total-count": total, "total-pages": pages,
	}}
	w.Header().Set("Content-Type", jsonapi.MediaType)
	w.WriteHeader(http.StatusOK)
	return jsonEncode(w, many)
}
