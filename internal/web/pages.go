package web

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/configversion"
	"github.com/runplane/runplane/internal/jobs"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/policy"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/state"
	"github.com/runplane/runplane/internal/validate"
	"github.com/runplane/runplane/internal/workspace"
)

// maxListed bounds the workspaces and runs a page lists.
const maxListed = 200

// poolRow is an organization in the pool view: what it runs against its
// fair share of the agents.
type poolRow struct {
	org.Organization
	// FairShare is the pool divided among the organizations with work, by
	// weight; 0 when the pool has no cap.
	FairShare float64
}

// organizations is the site admin's view of the agent pool, refreshed
// live; an organization's member goes to its workspaces.
func (u *ui) organizations(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if !p.SiteAdmin {
		http.Redirect(w, r, "/app/orgs/"+p.OrgName, http.StatusSeeOther)
		return nil
	}
	list, err := u.Orgs.List(r.Context(), p, "", maxListed)
	if err != nil {
		return err
	}
	rows := make([]poolRow, len(list))
	weights := 0
	for i, o := range list {
		if o, err = u.Orgs.Get(r.Context(), p, o.Name); err != nil {
			return err
		}
		rows[i] = poolRow{Organization: o}
		if o.Running+o.Queued > 0 {
			weights += o.Weight
		}
	}
	for i := range rows {
		if u.PoolSize > 0 && weights > 0 && rows[i].Running+rows[i].Queued > 0 {
			rows[i].FairShare = float64(u.PoolSize*rows[i].Weight) / float64(weights)
		}
	}
	name := "organizations"
	if r.URL.Query().Get("part") == "pool" {
		name = "organizations-pool"
	}
	u.render(w, r, http.StatusOK, name, page{Principal: p, Title: "Organizations and the agent pool", Data: struct {
		Rows     []poolRow
		PoolSize int
	}{rows, u.PoolSize}})
	return nil
}

// workspaceRow is a workspace as the organization page lists it.
type workspaceRow struct {
	workspace.Workspace
	Level   org.Level
	Current *run.Run
	// Holder names who took the workspace's lock.
	Holder string
}

// visibleWorkspaces is the organization of the path and the workspaces in
// it that p may see, with p's level on each.
func (u *ui) visibleWorkspaces(r *http.Request, p org.Principal) (org.Organization, []workspaceRow, error) {
	o, err := u.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return o, nil, err
	}
	list, err := u.Workspaces.List(r.Context(), o.ID, "", maxListed)
	if err != nil {
		return o, nil, err
	}
	var rows []workspaceRow
	for _, ws := range list {
		level, err := u.Orgs.Access(r.Context(), p, ws.ID)
		if err != nil {
			return o, nil, err
		}
		if level > org.LevelNone {
			rows = append(rows, workspaceRow{Workspace: ws, Level: level})
		}
	}
	return o, rows, nil
}

func (u *ui) organization(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, rows, err := u.visibleWorkspaces(r, p)
	if err != nil {
		return err
	}
	for i := range rows {
		row, ws := &rows[i], rows[i].Workspace
		if row.Holder, err = u.holder(r, ws); err != nil {
			return err
		}
		if ws.CurrentRunID != nil {
			if rn, err := u.Runs.Get(r.Context(), o.ID, *ws.CurrentRunID); err == nil {
				row.Current = &rn
			}
		}
	}
	u.render(w, r, http.StatusOK, "organization", page{Principal: p, Title: o.Name, Org: o.Name, Data: rows})
	return nil
}

func (u *ui) createWorkspace(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := u.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	ws, err := u.Workspaces.Create(r.Context(), o.ID, workspace.CreateOptions{
		Name: r.PostFormValue("name"), AutoApply: r.PostFormValue("auto_apply") == "on",
	})
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/app/workspaces/"+ws.ID.String(), http.StatusSeeOther)
	return nil
}

// workspaceView is what the workspace page shows.
type workspaceView struct {
	Workspace workspace.Workspace
	Holder    string
	Runs      []run.Run
	Outputs   []state.NamedOutput
}

func (u *ui) workspace(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	ws, err := u.pathWorkspace(r, p)
	if err != nil {
		return err
	}
	runs, err := u.Runs.List(r.Context(), p.OrgID, ws.ID, 1<<62, 50)
	if err != nil {
		return err
	}
	outputs, err := u.State.Outputs(r.Context(), p, ws.ID)
	if err != nil {
		return err
	}
	holder, err := u.holder(r, ws)
	if err != nil {
		return err
	}
	u.render(w, r, http.StatusOK, "workspace", page{Principal: p, Title: ws.Name, Data: workspaceView{ws, holder, runs, outputs}})
	return nil
}

// holder names who holds a workspace's lock, if someone does.
func (u *ui) holder(r *http.Request, ws workspace.Workspace) (string, error) {
	switch {
	case ws.LockedForRunID != nil:
		return "the run whose apply was interrupted", nil
	case ws.LockedBy == nil:
		return "", nil
	}
	return u.Orgs.HolderName(r.Context(), ws.OrganizationID, *ws.LockedBy)
}

func (u *ui) pathWorkspace(r *http.Request, p org.Principal) (workspace.Workspace, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return workspace.Workspace{}, workspace.ErrNotFound
	}
	return u.Workspaces.Get(r.Context(), p.OrgID, id)
}

// uploadConfiguration takes a .tar.gz of Terraform files from a form.
func (u *ui) uploadConfiguration(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	ws, err := u.pathWorkspace(r, p)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, configversion.MaxSize+1<<20)
	f, _, err := r.FormFile("archive")
	if err != nil {
		return validate.Errorf("choose a .tar.gz of your Terraform files")
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return validate.Errorf("the upload did not arrive whole: %v", err)
	}
	if _, err := u.Configs.Upload(r.Context(), p.OrgID, ws.ID, &p.TokenID, data); err != nil {
		return err
	}
	http.Redirect(w, r, "/app/workspaces/"+ws.ID.String(), http.StatusSeeOther)
	return nil
}

func (u *ui) createRun(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	ws, err := u.pathWorkspace(r, p)
	if err != nil {
		return err
	}
	planOnly := r.PostFormValue("plan_only") == "on"
	if err := p.MayQueue(planOnly); err != nil {
		return err
	}
	rn, err := u.Runs.Create(r.Context(), p.OrgID, ws.ID, run.CreateOptions{
		PlanOnly: planOnly, Message: r.PostFormValue("message"), RequireConfiguration: true,
	})
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/app/runs/"+rn.ID.String(), http.StatusSeeOther)
	return nil
}

// runView is what the run page shows.
type runView struct {
	Run       run.Run
	Workspace workspace.Workspace
	Timeline  []stamp
	Policies  []policy.Result
	// Logs are the plan's and the apply's, as far as they were written.
	PlanLog, ApplyLog string
	// Changes are the plan's resource changes: addresses and actions only,
	// which the plan log shows anyway (values, sensitive ones among them,
	// stay in the plan's JSON, for admins).
	Changes []resourceChange
	// Actions are the buttons the caller may press now.
	Actions []string
	// Live: the run may still change, so the page listens for it.
	Live bool
}

type resourceChange struct {
	Address, Action string
}

// planChanges reads the resource changes of a plan's JSON.
func planChanges(planJSON []byte) []resourceChange {
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if json.Unmarshal(planJSON, &plan) != nil {
		return nil
	}
	var out []resourceChange
	for _, c := range plan.ResourceChanges {
		action := strings.Join(c.Change.Actions, ", ")
		if action != "no-op" && action != "read" {
			out = append(out, resourceChange{c.Address, action})
		}
	}
	return out
}

type stamp struct {
	Status run.Status
	At     time.Time
}

func (u *ui) run(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	v, err := u.runView(r, p)
	if err != nil {
		return err
	}
	name := "run"
	if r.URL.Query().Get("part") == "summary" {
		name = "run-summary" // the part the page refreshes as the run moves
	}
	u.render(w, r, http.StatusOK, name, page{Principal: p, Title: fmt.Sprintf("%s run #%d", v.Workspace.Name, v.Run.Number), Data: v})
	return nil
}

func (u *ui) runView(r *http.Request, p org.Principal) (runView, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return runView{}, run.ErrNotFound
	}
	rn, err := u.Runs.Get(r.Context(), p.OrgID, id)
	if err != nil {
		return runView{}, err
	}
	ws, err := u.Workspaces.Get(r.Context(), p.OrgID, rn.WorkspaceID)
	if err != nil {
		return runView{}, err
	}
	v := runView{Run: rn, Workspace: ws, Live: !rn.Status.Terminal()}
	for s, at := range rn.StatusTimestamps {
		v.Timeline = append(v.Timeline, stamp{s, at})
	}
	// Statuses stamped in one instant keep their lifecycle order.
	slices.SortFunc(v.Timeline, func(a, b stamp) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(slices.Index(run.AllStatuses, a.Status), slices.Index(run.AllStatuses, b.Status)))
	})
	if v.Policies, err = u.Policies.Results(r.Context(), p.OrgID, rn.ID); err != nil {
		return v, err
	}
	if rn.Plan != nil {
		planJSON, err := u.Jobs.PlanJSON(r.Context(), p.OrgID, rn.WorkspaceID, rn.ID)
		if err != nil {
			return v, err
		}
		v.Changes = planChanges(planJSON)
	}
	if v.PlanLog, err = u.log(r, p, rn.ID, jobs.PhasePlan); err != nil {
		return v, err
	}
	if v.ApplyLog, err = u.log(r, p, rn.ID, jobs.PhaseApply); err != nil {
		return v, err
	}
	for _, a := range []struct {
		name  string
		event run.Event
		need  org.Level
	}{
		{"confirm", run.EventConfirm, org.LevelWrite}, {"discard", run.EventDiscard, org.LevelWrite},
		{"cancel", run.EventCancel, org.LevelWrite}, {"override", run.EventOverride, org.LevelAdmin},
	} {
		if p.Level >= a.need && u.Runs.Allows(rn, a.event) {
			v.Actions = append(v.Actions, a.name)
		}
	}
	return v, nil
}

func (u *ui) log(r *http.Request, p org.Principal, runID uuid.UUID, phase jobs.Phase) (string, error) {
	var b bytes.Buffer
	err := u.Jobs.Logs(r.Context(), p.OrgID, runID, phase, &b)
	return b.String(), err
}

// fire presses a run's button.
func (u *ui) fire(e run.Event) handler {
	return func(w http.ResponseWriter, r *http.Request, p org.Principal) error {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			return run.ErrNotFound
		}
		if _, err := u.Runs.Fire(r.Context(), p.OrgID, id, e, run.Input{}); err != nil {
			return err
		}
		http.Redirect(w, r, "/app/runs/"+id.String(), http.StatusSeeOther)
		return nil
	}
}

// maxStream bounds one stream: API Gateway cuts a response at 29 s, and
// behind it a Lambda's answer arrives whole, so the browser reconnects
// (EventSource does by itself) and goes on from the last event's id.
const maxStream = 25 * time.Second

// stream sends the run's log as it is written, whole lines at a time, and
// a status event when the run moves, until the run ends, the reader leaves
// or maxStream passes (Server-Sent Events). Each log event's id is the
// offsets sent so far, "plan,apply", so a reconnect resumes after them.
func (u *ui) stream(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return run.ErrNotFound
	}
	phases := []jobs.Phase{jobs.PhasePlan, jobs.PhaseApply}
	sent := map[jobs.Phase]int{}
	// The page holds what it rendered: the first stream starts after it.
	for _, ph := range phases {
		sent[ph], _ = strconv.Atoi(r.URL.Query().Get(string(ph)))
	}
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		var plan, apply int
		if _, err := fmt.Sscanf(last, "%d,%d", &plan, &apply); err == nil {
			sent[jobs.PhasePlan], sent[jobs.PhaseApply] = plan, apply
		}
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\n")
	var last run.Status
	tick := time.NewTicker(400 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(maxStream)
	for {
		rn, err := u.Runs.Get(r.Context(), p.OrgID, id)
		if err != nil {
			return nil // the reader left or the run is gone: nothing to answer
		}
		for _, ph := range phases {
			text, err := u.log(r, p, id, ph)
			if err != nil || len(text) <= sent[ph] {
				continue
			}
			chunk := text[sent[ph]:]
			// Whole lines only, so no escape or character is cut in two,
			// but all of it once the run has ended.
			if end := strings.LastIndexByte(chunk, '\n'); !rn.Status.Terminal() {
				if end < 0 {
					continue
				}
				chunk = chunk[:end+1]
			}
			sent[ph] += len(chunk)
			data, _ := json.Marshal(map[string]string{"phase": string(ph), "html": ansiHTML(chunk)})
			fmt.Fprintf(w, "id: %d,%d\nevent: log\ndata: %s\n\n", sent[jobs.PhasePlan], sent[jobs.PhaseApply], data)
		}
		if rn.Status != last {
			fmt.Fprintf(w, "event: status\ndata: %q\n\n", rn.Status)
			last = rn.Status
		}
		if rn.Status.Terminal() {
			fmt.Fprint(w, "event: end\ndata: {}\n\n")
			_ = rc.Flush()
			return nil
		}
		if err := rc.Flush(); err != nil || time.Now().After(deadline) {
			return nil // the reader left, or it is time to reconnect
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-tick.C:
		}
	}
}

// versionView is a state version and how its outputs differ from the one
// before it.
type versionView struct {
	state.Version
	Changes []outputChange
	Current bool
}

type outputChange struct {
	Name, Change, Value string
}

func (u *ui) stateVersions(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	ws, err := u.pathWorkspace(r, p)
	if err != nil {
		return err
	}
	list, err := u.State.List(r.Context(), p.OrgID, ws.ID, 1<<62, 51)
	if err != nil {
		return err
	}
	var views []versionView
	var newer map[string]state.NamedOutput
	for i := len(list) - 1; i >= 0; i-- { // oldest first, to diff each against the one before
		_, outs, err := u.State.VersionOutputs(r.Context(), p.OrgID, list[i].ID, false)
		if err != nil {
			return err
		}
		now := map[string]state.NamedOutput{}
		for _, o := range outs {
			now[o.Name] = o
		}
		v := versionView{Version: list[i], Current: ws.CurrentStateVersionID != nil && *ws.CurrentStateVersionID == list[i].ID}
		if i < len(list)-1 || len(list) < 51 {
			v.Changes = diffOutputs(newer, now)
		}
		views = append(views, v)
		newer = now
	}
	slices.Reverse(views)
	if len(views) > 50 {
		views = views[:50]
	}
	u.render(w, r, http.StatusOK, "state", page{Principal: p, Title: ws.Name + " state", Data: struct {
		Workspace workspace.Workspace
		Versions  []versionView
	}{ws, views}})
	return nil
}

// diffOutputs says which outputs a version added, changed or removed;
// sensitive values are never shown.
func diffOutputs(before, after map[string]state.NamedOutput) []outputChange {
	var out []outputChange
	show := func(o state.NamedOutput) string {
		if o.Sensitive || o.Value == nil {
			return "(sensitive)"
		}
		return string(o.Value)
	}
	for name, o := range after {
		old, had := before[name]
		switch {
		case !had:
			out = append(out, outputChange{name, "added", show(o)})
		case !bytes.Equal(old.Value, o.Value) || old.Sensitive != o.Sensitive:
			out = append(out, outputChange{name, "changed", show(old) + " → " + show(o)})
		}
	}
	for name, o := range before {
		if _, ok := after[name]; !ok {
			out = append(out, outputChange{name, "removed", show(o)})
		}
	}
	slices.SortFunc(out, func(a, b outputChange) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (u *ui) rollback(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	ws, err := u.pathWorkspace(r, p)
	if err != nil {
		return err
	}
	sv, err := uuid.Parse(r.PathValue("sv"))
	if err != nil {
		return state.ErrNotFound
	}
	if _, err := u.State.Rollback(r.Context(), p, ws.ID, sv); err != nil {
		return err
	}
	http.Redirect(w, r, "/app/workspaces/"+ws.ID.String()+"/state", http.StatusSeeOther)
	return nil
}

func (u *ui) triggerGraph(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, rows, err := u.visibleWorkspaces(r, p)
	if err != nil {
		return err
	}
	var nodes []graphNode
	var edges []graphEdge
	for _, row := range rows {
		ws := row.Workspace
		n := graphNode{ID: ws.ID, Name: ws.Name}
		if runs, err := u.Runs.List(r.Context(), o.ID, ws.ID, 1<<62, 1); err == nil && len(runs) == 1 {
			n.RunStatus, n.RunID = string(runs[0].Status), &runs[0].ID
		}
		nodes = append(nodes, n)
		ups, err := u.Triggers.List(r.Context(), o.ID, ws.ID)
		if err != nil {
			return err
		}
		for _, e := range ups {
			edges = append(edges, graphEdge{Up: e.UpstreamID, Down: e.DownstreamID})
		}
	}
	u.render(w, r, http.StatusOK, "graph", page{Principal: p, Title: o.Name + " triggers", Org: o.Name, Data: layout(nodes, edges)})
	return nil
}

func (u *ui) settings(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := u.Orgs.Get(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	name := "settings"
	if r.URL.Query().Get("part") == "usage" {
		name = "settings-usage"
	}
	u.render(w, r, http.StatusOK, name, page{Principal: p, Title: o.Name + " settings", Org: o.Name, Data: struct {
		Org    org.Organization
		Tokens float64
		Share  float64
	}{o, o.Bucket.Refilled(time.Now()).Tokens, float64(o.Running) / float64(o.Weight)}})
	return nil
}
