package tfeapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/identity"
	"github.com/runplane/runplane/internal/jobs"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/validate"
)

type runResource struct {
	ID               string                `jsonapi:"primary,runs"`
	Status           string                `jsonapi:"attr,status"`
	Message          string                `jsonapi:"attr,message"`
	Source           string                `jsonapi:"attr,source"`
	CreatedAt        time.Time             `jsonapi:"attr,created-at,iso8601"`
	HasChanges       bool                  `jsonapi:"attr,has-changes"`
	IsDestroy        bool                  `jsonapi:"attr,is-destroy"`
	PlanOnly         bool                  `jsonapi:"attr,plan-only"`
	AutoApply        bool                  `jsonapi:"attr,auto-apply"`
	Refresh          bool                  `jsonapi:"attr,refresh"`
	RefreshOnly      bool                  `jsonapi:"attr,refresh-only"`
	TargetAddrs      []string              `jsonapi:"attr,target-addrs,omitempty"`
	ReplaceAddrs     []string              `jsonapi:"attr,replace-addrs,omitempty"`
	TriggerReason    string                `jsonapi:"attr,trigger-reason"`
	StatusTimestamps map[string]string     `jsonapi:"attr,status-timestamps"`
	Actions          *runActions           `jsonapi:"attr,actions"`
	Permissions      *runPermissions       `jsonapi:"attr,permissions"`
	Workspace        *workspaceResource    `jsonapi:"relation,workspace"`
	Configuration    *configurationVersion `jsonapi:"relation,configuration-version,omitempty"`
	Plan             *planResource         `jsonapi:"relation,plan"`
	Apply            *applyResource        `jsonapi:"relation,apply"`
	PolicyChecks     []*policyCheck        `jsonapi:"relation,policy-checks"`
	TaskStages       []*struct {
		ID string `jsonapi:"primary,task-stages"`
	} `jsonapi:"relation,task-stages"`
}

type runActions struct {
	IsCancelable      bool `json:"is-cancelable"`
	IsConfirmable     bool `json:"is-confirmable"`
	IsDiscardable     bool `json:"is-discardable"`
	IsForceCancelable bool `json:"is-force-cancelable"`
}

type runPermissions struct {
	CanApply       bool `json:"can-apply"`
	CanCancel      bool `json:"can-cancel"`
	CanDiscard     bool `json:"can-discard"`
	CanForceCancel bool `json:"can-force-cancel"`
}

// A run's plan and apply have the run's id: they are its phases, not
// objects of their own.
type planResource struct {
	ID                   string            `jsonapi:"primary,plans"`
	Status               string            `jsonapi:"attr,status"`
	HasChanges           bool              `jsonapi:"attr,has-changes"`
	ResourceAdditions    int               `jsonapi:"attr,resource-additions"`
	ResourceChanges      int               `jsonapi:"attr,resource-changes"`
	ResourceDestructions int               `jsonapi:"attr,resource-destructions"`
	LogReadURL           string            `jsonapi:"attr,log-read-url"`
	StatusTimestamps     map[string]string `jsonapi:"attr,status-timestamps"`
}

type applyResource struct {
	ID                   string            `jsonapi:"primary,applies"`
	Status               string            `jsonapi:"attr,status"`
	ResourceAdditions    int               `jsonapi:"attr,resource-additions"`
	ResourceChanges      int               `jsonapi:"attr,resource-changes"`
	ResourceDestructions int               `jsonapi:"attr,resource-destructions"`
	LogReadURL           string            `jsonapi:"attr,log-read-url"`
	StatusTimestamps     map[string]string `jsonapi:"attr,status-timestamps"`
}

// logTTL bounds how long a log URL works: the CLI polls one URL for as
// long as the phase runs.
const logTTL = 24 * time.Hour

// The phases' statuses, as go-tfe names them.
const (
	phasePending     = "pending"
	phaseQueued      = "queued"
	phaseRunning     = "running"
	phaseFinished    = "finished"
	phaseErrored     = "errored"
	phaseCanceled    = "canceled"
	phaseUnreachable = "unreachable"
)

func planStatus(r run.Run) string {
	switch r.Status {
	case run.StatusPending:
		return phasePending
	case run.StatusPlanQueued:
		return phaseQueued
	case run.StatusPlanning:
		return phaseRunning
	}
	if r.Plan != nil {
		return phaseFinished
	}
	switch r.Status {
	case run.StatusErrored:
		return phaseErrored
	case run.StatusCanceled, run.StatusForceCanceled:
		return phaseCanceled
	case run.StatusDiscarded:
		return phaseUnreachable
	}
	return phaseFinished
}

func applyStatus(r run.Run) string {
	switch r.Status {
	case run.StatusApplyQueued:
		return phaseQueued
	case run.StatusApplying:
		return phaseRunning
	case run.StatusApplied:
		return phaseFinished
	}
	if !r.Status.Terminal() {
		return phasePending
	}
	if _, started := r.StatusTimestamps[run.StatusApplying]; !started {
		return phaseUnreachable
	}
	if r.Status == run.StatusErrored {
		return phaseErrored
	}
	return phaseCanceled
}

// phaseDone reports whether a phase's log is complete.
func phaseDone(status string) bool {
	switch status {
	case phaseFinished, phaseErrored, phaseCanceled, phaseUnreachable:
		return true
	}
	return false
}

// timestamps names a run's status times as Terraform Cloud does.
func timestamps(r run.Run) map[string]string {
	out := map[string]string{}
	for s, t := range r.StatusTimestamps {
		out[strings.ReplaceAll(string(s), "_", "-")+"-at"] = t.UTC().Format(time.RFC3339)
	}
	return out
}

func (a *api) logURL(r *http.Request, phase jobs.Phase, rn run.Run) string {
	subject := fmt.Sprintf("%s/%s/%s", phase, rn.OrganizationID, rn.ID)
	return fmt.Sprintf("%s/api/v2/logs/%s/%s", identity.BaseURL(r), subject, a.urls.sign("log", subject, logTTL))
}

func (a *api) planView(r *http.Request, rn run.Run) *planResource {
	p := &planResource{ID: rn.ID.String(), Status: planStatus(rn), LogReadURL: a.logURL(r, jobs.PhasePlan, rn), StatusTimestamps: map[string]string{}}
	if rn.Plan != nil {
		p.HasChanges, p.ResourceAdditions, p.ResourceChanges, p.ResourceDestructions = rn.Plan.HasChanges, rn.Plan.Add, rn.Plan.Change, rn.Plan.Destroy
	}
	return p
}

func (a *api) applyView(r *http.Request, rn run.Run) *applyResource {
	ap := &applyResource{ID: rn.ID.String(), Status: applyStatus(rn), LogReadURL: a.logURL(r, jobs.PhaseApply, rn), StatusTimestamps: map[string]string{}}
	if rn.Plan != nil && ap.Status == phaseFinished {
		ap.ResourceAdditions, ap.ResourceChanges, ap.ResourceDestructions = rn.Plan.Add, rn.Plan.Change, rn.Plan.Destroy
	}
	return ap
}

func (a *api) runView(r *http.Request, rn run.Run, ws *workspaceResource, p org.Principal) *runResource {
	write := p.Level >= org.LevelWrite
	out := &runResource{
		ID: rn.ID.String(), Status: string(rn.Status), Message: rn.Message, Source: "tfe-api", CreatedAt: rn.CreatedAt,
		IsDestroy: rn.IsDestroy, PlanOnly: rn.PlanOnly, AutoApply: rn.AutoApply,
		Refresh: !rn.SkipRefresh, RefreshOnly: rn.RefreshOnly, TargetAddrs: rn.TargetAddrs, ReplaceAddrs: rn.ReplaceAddrs,
		StatusTimestamps: timestamps(rn),
		Actions: &runActions{
			IsCancelable: a.Runs.Allows(rn, run.EventCancel), IsConfirmable: a.Runs.Allows(rn, run.EventConfirm),
			IsDiscardable: a.Runs.Allows(rn, run.EventDiscard), IsForceCancelable: a.Runs.Allows(rn, run.EventForceCancel),
		},
		Permissions: &runPermissions{CanApply: write, CanCancel: write, CanDiscard: write, CanForceCancel: write},
		Workspace:   ws,
		Plan:        a.planView(r, rn),
		Apply:       a.applyView(r, rn),
		// Linked, not included: the CLI reads a check when it renders it.
		PolicyChecks: []*policyCheck{},
	}
	if checked(rn) {
		out.PolicyChecks = append(out.PolicyChecks, &policyCheck{ID: rn.ID.String()})
	}
	if rn.Triggered {
		out.TriggerReason = "run trigger"
	}
	if rn.Plan != nil {
		out.HasChanges = rn.Plan.HasChanges
	}
	if rn.ConfigurationVersionID != nil {
		out.Configuration = &configurationVersion{ID: rn.ConfigurationVersionID.String(), Status: "uploaded", Source: "tfe-api", StatusTimestamps: map[string]string{}}
	}
	return out
}

// readRun loads a run with its workspace, for a run answer.
func (a *api) readRun(r *http.Request, p org.Principal, id uuid.UUID) (*runResource, error) {
	rn, err := a.Runs.Get(r.Context(), p.OrgID, id)
	if err != nil {
		return nil, err
	}
	ws, err := a.Workspaces.Get(r.Context(), p.OrgID, rn.WorkspaceID)
	if err != nil {
		return nil, err
	}
	return a.runView(r, rn, workspaceView(ws, p.OrgName, p), p), nil
}

func (a *api) createRun(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	var in struct {
		ID               string   `jsonapi:"primary,runs"`
		Message          *string  `jsonapi:"attr,message"`
		IsDestroy        bool     `jsonapi:"attr,is-destroy"`
		PlanOnly         bool     `jsonapi:"attr,plan-only"`
		AutoApply        *bool    `jsonapi:"attr,auto-apply"`
		Refresh          *bool    `jsonapi:"attr,refresh"`
		RefreshOnly      bool     `jsonapi:"attr,refresh-only"`
		SavePlan         bool     `jsonapi:"attr,save-plan"`
		TerraformVersion string   `jsonapi:"attr,terraform-version"`
		TargetAddrs      []string `jsonapi:"attr,target-addrs"`
		ReplaceAddrs     []string `jsonapi:"attr,replace-addrs"`
		Variables        []*struct {
			Key string `json:"key"`
		} `jsonapi:"attr,variables"`
		Workspace *struct {
			ID string `jsonapi:"primary,workspaces"`
		} `jsonapi:"relation,workspace"`
		Configuration *struct {
			ID string `jsonapi:"primary,configuration-versions"`
		} `jsonapi:"relation,configuration-version"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	switch {
	case in.Workspace == nil:
		return validate.Errorf("a run needs its workspace relationship")
	case len(in.Variables) > 0:
		return validate.Errorf("run variables (-var on the command line) are not supported; set them as workspace variables")
	case in.SavePlan:
		return validate.Errorf("saved plans (terraform plan -out) are not supported; run terraform apply")
	case in.TerraformVersion != "":
		return validate.Errorf("a run uses the agents' terraform; terraform-version cannot be chosen per run")
	}
	wsID, err := uuid.Parse(in.Workspace.ID)
	if err != nil {
		return fmt.Errorf("%w: no workspace %q", errNotFound, in.Workspace.ID)
	}
	if err := p.MayQueue(in.PlanOnly); err != nil {
		return err
	}
	opts := run.CreateOptions{
		PlanOnly: in.PlanOnly, IsDestroy: in.IsDestroy, AutoApply: in.AutoApply, RequireConfiguration: true,
		Plan: run.PlanOptions{
			RefreshOnly: in.RefreshOnly, SkipRefresh: in.Refresh != nil && !*in.Refresh, TargetAddrs: in.TargetAddrs, ReplaceAddrs: in.ReplaceAddrs,
		},
	}
	if in.Message != nil {
		opts.Message = *in.Message
	}
	if len(opts.Message) > 4000 {
		return validate.Errorf("message is longer than 4000 characters")
	}
	if in.Configuration != nil {
		cv, err := uuid.Parse(in.Configuration.ID)
		if err != nil {
			return fmt.Errorf("%w: no configuration version %q", errNotFound, in.Configuration.ID)
		}
		opts.ConfigurationVersionID = &cv
	}
	created, err := a.Runs.Create(r.Context(), p.OrgID, wsID, opts)
	if err != nil {
		return err
	}
	out, err := a.readRun(r, p, created.ID)
	if err != nil {
		return err
	}
	return write(w, http.StatusCreated, out)
}

func (a *api) getRun(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	out, err := a.readRun(r, p, id)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, out)
}

func (a *api) listRuns(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	wsID, err := pathUUID(r, "id")
	if err != nil {
		return err
	}
	number, size, err := pageParams(r)
	if err != nil {
		return err
	}
	ws, err := a.Workspaces.Get(r.Context(), p.OrgID, wsID)
	if err != nil {
		return err
	}
	// A workspace's runs are numbered 1, 2, … with no gap: the newest
	// one's number is their count, and a page starts at a number. The
	// first page (what the CLI reads) starts at the newest run itself.
	list, err := a.Runs.List(r.Context(), p.OrgID, wsID, 1<<62, size)
	if err != nil {
		return err
	}
	total := int64(0)
	if len(list) > 0 {
		total = list[0].Number
	}
	if number > 1 {
		if list, err = a.Runs.List(r.Context(), p.OrgID, wsID, total-int64((number-1)*size)+1, size); err != nil {
			return err
		}
	}
	wsView := workspaceView(ws, p.OrgName, p)
	items := []any{}
	for _, rn := range list {
		items = append(items, a.runView(r, rn, wsView, p))
	}
	return writeMany(w, items, number, size, int(total))
}

// runEvents maps go-tfe's run actions onto the lifecycle's events.
// runAction fires a user's lifecycle event at the run; the route table
// says who may.
func (a *api) runAction(e run.Event) handler {
	return func(w http.ResponseWriter, r *http.Request, p org.Principal) error {
		id, err := pathUUID(r, "id")
		if err != nil {
			return err
		}
		if _, err := a.Runs.Fire(r.Context(), p.OrgID, id, e, run.Input{}); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
}

func (a *api) getPlan(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	rn, err := a.phaseRun(r, p)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, a.planView(r, rn))
}

func (a *api) getApply(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	rn, err := a.phaseRun(r, p)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, a.applyView(r, rn))
}

func (a *api) phaseRun(r *http.Request, p org.Principal) (run.Run, error) {
	id, err := pathUUID(r, "id")
	if err != nil {
		return run.Run{}, err
	}
	return a.Runs.Get(r.Context(), p.OrgID, id)
}

// planJSON is the plan as terraform show -json renders it. It holds
// sensitive values in clear, so, as in Terraform Cloud, only an
// organization admin reads it.
func (a *api) planJSON(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	rn, err := a.phaseRun(r, p)
	if err != nil {
		return err
	}
	data, err := a.Jobs.PlanJSON(r.Context(), p.OrgID, rn.WorkspaceID, rn.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(data)
	return err
}

// The log text's framing: go-tfe's log reader stops at ETX once it saw STX.
const (
	stx = 0x02
	etx = 0x03
)

// maxLogRead bounds one log read.
const maxLogRead = 1 << 20

// readLog answers a slice of a phase's log at the URL a plan or apply
// named, framed as Terraform Cloud frames it: STX, the log, and ETX once
// the phase ended.
func (a *api) readLog(w http.ResponseWriter, r *http.Request) error {
	phase := jobs.Phase(r.PathValue("phase"))
	orgID, err1 := uuid.Parse(r.PathValue("org"))
	runID, err2 := uuid.Parse(r.PathValue("run"))
	if (phase != jobs.PhasePlan && phase != jobs.PhaseApply) || err1 != nil || err2 != nil {
		return fmt.Errorf("%w: no such log", errNotFound)
	}
	if err := a.urls.verify("log", fmt.Sprintf("%s/%s/%s", phase, orgID, runID), r.PathValue("token")); err != nil {
		return err
	}
	offset, limit := 0, maxLogRead
	for _, q := range []struct {
		name string
		dst  *int
	}{{"offset", &offset}, {"limit", &limit}} {
		if s := r.URL.Query().Get(q.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return validate.Errorf("%s must be a whole number", q.name)
			}
			*q.dst = n
		}
	}
	// The status first: a phase that had ended before its log is read has
	// all of its log.
	rn, err := a.Runs.Get(r.Context(), orgID, runID)
	if err != nil {
		return err
	}
	status := planStatus(rn)
	if phase == jobs.PhaseApply {
		status = applyStatus(rn)
	}
	text := bytes.NewBuffer([]byte{stx})
	if err := a.Jobs.Logs(r.Context(), orgID, runID, phase, text); err != nil {
		return err
	}
	if text.Len() == 1 && !phaseDone(status) {
		text.Reset() // not started: no text yet
	} else if phaseDone(status) {
		text.WriteByte(etx)
	}
	data := text.Bytes()
	start := min(offset, len(data))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err = w.Write(data[start:min(start+min(limit, maxLogRead), len(data))])
	return err
}
