package httpapi

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/jobs"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/run"
)

type runJSON struct {
	ID                uuid.UUID                `json:"id"`
	WorkspaceID       uuid.UUID                `json:"workspace_id"`
	Number            int64                    `json:"number"`
	Status            run.Status               `json:"status"`
	WaitReason        *run.WaitReason          `json:"wait_reason"`
	PlanOnly          bool                     `json:"plan_only"`
	IsDestroy         bool                     `json:"is_destroy"`
	AutoApply         bool                     `json:"auto_apply"`
	Message           string                   `json:"message"`
	CancelRequestedAt *time.Time               `json:"cancel_requested_at,omitempty"`
	StatusTimestamps  map[run.Status]time.Time `json:"status_timestamps"`
	// Timeline is the same in the order the run went through it.
	Timeline  []timelineJSON `json:"timeline"`
	CreatedAt time.Time      `json:"created_at"`
	// Configuration is the uploaded Terraform configuration the run plans.
	ConfigurationVersionID *uuid.UUID `json:"configuration_version_id"`
	Plan                   *planJSON  `json:"plan"`
	Error                  string     `json:"error,omitempty"`
	Triggered              bool       `json:"triggered"`
	// Attempts, on a single run only: its jobs as agents ran them.
	Attempts []attemptJSON `json:"attempts,omitempty"`
}

type timelineJSON struct {
	Status run.Status `json:"status"`
	At     time.Time  `json:"at"`
}

// timeline orders a run's status times: by time, and by the lifecycle's
// order where two share a moment.
func timeline(stamps map[run.Status]time.Time) []timelineJSON {
	out := make([]timelineJSON, 0, len(stamps))
	for s, at := range stamps {
		out = append(out, timelineJSON{Status: s, At: at})
	}
	slices.SortFunc(out, func(a, b timelineJSON) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmp.Compare(slices.Index(run.AllStatuses, a.Status), slices.Index(run.AllStatuses, b.Status))
	})
	return out
}

type attemptJSON struct {
	Phase       jobs.Phase `json:"phase"`
	Agent       string     `json:"agent"`
	Status      string     `json:"status"`
	ClaimedAt   time.Time  `json:"claimed_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	TerraformMs int64      `json:"terraform_ms"`
}

type planJSON struct {
	Add        int  `json:"add"`
	Change     int  `json:"change"`
	Destroy    int  `json:"destroy"`
	HasChanges bool `json:"has_changes"`
}

func runView(r run.Run) runJSON {
	out := runJSON{
		ID: r.ID, WorkspaceID: r.WorkspaceID, Number: r.Number, Status: r.Status,
		PlanOnly: r.PlanOnly, IsDestroy: r.IsDestroy, AutoApply: r.AutoApply, Message: r.Message,
		CancelRequestedAt: r.CancelRequestedAt, StatusTimestamps: r.StatusTimestamps, Timeline: timeline(r.StatusTimestamps), CreatedAt: r.CreatedAt,
		ConfigurationVersionID: r.ConfigurationVersionID, Error: r.Error, Triggered: r.Triggered,
	}
	if r.Plan != nil {
		out.Plan = &planJSON{Add: r.Plan.Add, Change: r.Plan.Change, Destroy: r.Plan.Destroy, HasChanges: r.Plan.HasChanges}
	}
	if r.WaitReason != run.WaitNone {
		out.WaitReason = &r.WaitReason
	}
	return out
}

func (a *api) createRun(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var body struct {
		PlanOnly               bool       `json:"plan_only"`
		IsDestroy              bool       `json:"is_destroy"`
		Message                string     `json:"message"`
		ConfigurationVersionID *uuid.UUID `json:"configuration_version_id"`
	}
	if err := decode(w, r, &body, true); err != nil {
		return err
	}
	if err := p.MayQueue(body.PlanOnly); err != nil {
		return err
	}
	if len(body.Message) > 4000 {
		return errorf(http.StatusBadRequest, "invalid_request", "message is longer than 4000 characters")
	}
	created, err := a.Runs.Create(r.Context(), p.OrgID, id, run.CreateOptions{
		PlanOnly: body.PlanOnly, IsDestroy: body.IsDestroy, Message: body.Message, ConfigurationVersionID: body.ConfigurationVersionID,
		RequireConfiguration: true,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, runView(created))
	return nil
}

func (a *api) listRuns(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	before := int64(1 << 62)
	if cursor != "" {
		if before, err = strconv.ParseInt(cursor, 10, 64); err != nil {
			return errorf(http.StatusBadRequest, "invalid_request", "cursor is not one this API returned")
		}
	}
	list, err := a.Runs.List(r.Context(), p.OrgID, id, before, limit+1)
	if err != nil {
		return err
	}
	writePage(w, list, limit, func(rn run.Run) string { return strconv.FormatInt(rn.Number, 10) }, runView)
	return nil
}

func (a *api) getRun(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	want, wait, err := awaitParams(r)
	if err != nil {
		return err
	}
	got, err := a.Runs.Await(r.Context(), p.OrgID, id, want, wait)
	if err != nil {
		return err
	}
	attempts, err := a.Agents.Attempts(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	view := runView(got)
	view.Attempts = make([]attemptJSON, len(attempts))
	for i, at := range attempts {
		view.Attempts[i] = attemptJSON{Phase: at.Phase, Agent: at.Agent, Status: at.Status, ClaimedAt: at.ClaimedAt, FinishedAt: at.FinishedAt, TerraformMs: at.TerraformTime.Milliseconds()}
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

// maxWait bounds a long-polling run read (API Gateway cuts requests at 29 s).
const maxWait = 25 * time.Second

// awaitParams reads ?wait=<status>[,<status>…]&timeout=<duration>: answer
// once the run is in one of the statuses (or terminal), or after timeout
// (default and at most 25 s). Without wait, the run is answered at once.
func awaitParams(r *http.Request) ([]run.Status, time.Duration, error) {
	q := r.URL.Query()
	if q.Get("wait") == "" {
		return nil, 0, nil
	}
	var want []run.Status
	for _, s := range strings.Split(q.Get("wait"), ",") {
		if !slices.Contains(run.AllStatuses, run.Status(s)) {
			return nil, 0, errorf(http.StatusBadRequest, "invalid_request", fmt.Sprintf("wait: %q is not a run status", s))
		}
		want = append(want, run.Status(s))
	}
	wait := maxWait
	if t := q.Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 || d > maxWait {
			return nil, 0, errorf(http.StatusBadRequest, "invalid_request", "timeout must be a duration up to 25s, e.g. 10s")
		}
		wait = d
	}
	return want, wait, nil
}

// runAction fires a user's lifecycle event at the run; the route table
// says who may.
func (a *api) runAction(event run.Event) handler {
	return func(w http.ResponseWriter, r *http.Request, p org.Principal) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		return a.fire(w, r, p, id, event)
	}
}

func (a *api) fire(w http.ResponseWriter, r *http.Request, p org.Principal, id uuid.UUID, event run.Event) error {
	var body struct {
		Comment string `json:"comment"`
	}
	if err := decode(w, r, &body, true); err != nil {
		return err
	}
	got, err := a.Runs.Fire(r.Context(), p.OrgID, id, event, run.Input{})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, runView(got))
	return nil
}
