package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/policy"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/testkit/pgtest"
	"github.com/runplane/runplane/internal/validate"
	"github.com/runplane/runplane/internal/workspace"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// plans stands in for the agent's uploaded plan JSON (the end-to-end tests
// in cmd/runplane check real plans of the real terraform).
type plans map[uuid.UUID][]byte

// errStorage marks a run whose plan cannot be read for now.
var errStorage = errors.New("storage unavailable")

func (p plans) PlanJSON(_ context.Context, _, _, runID uuid.UUID) ([]byte, error) {
	if string(p[runID]) == "unreadable" {
		return nil, errStorage
	}
	return p[runID], nil
}

type fixture struct {
	t        *testing.T
	ctx      context.Context
	pool     *pgxpool.Pool
	runs     *run.Service
	ws       *workspace.Service
	policies *policy.Service
	plans    plans
	orgID    uuid.UUID
}

func setup(t *testing.T) *fixture {
	t.Helper()
	pool := pgtest.New(t)
	ctx := context.Background()
	o, err := org.NewService(pool, "admin").Create(ctx, "acme", org.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runs := run.NewService(pool, run.DefaultConfig, nil)
	p := plans{}
	return &fixture{t: t, ctx: ctx, pool: pool, runs: runs, ws: workspace.NewService(pool), policies: policy.NewService(pool, runs, p), plans: p, orgID: o.ID}
}

// A plan that creates one terraform_data, as `terraform show -json` writes it.
const createsData = `{"format_version":"1.2","resource_changes":[{"address":"terraform_data.net","type":"terraform_data","change":{"actions":["create"],"after":{"input":"10.0.0.0/16"}}}]}`

// noCreates denies every resource creation.
const noCreates = `package terraform.nocreate

deny contains msg if {
	some rc in input.resource_changes
	"create" in rc.change.actions
	msg := sprintf("%s would be created", [rc.address])
}`

const allowAll = `package terraform.allow

deny contains msg if {
	false
	msg := "never"
}`

func (f *fixture) policy(name, text string, e policy.Enforcement) {
	f.t.Helper()
	if _, err := f.policies.Create(f.ctx, f.orgID, name, text, e); err != nil {
		f.t.Fatal(err)
	}
}

// planned returns a run of a new workspace whose plan, with changes, waits
// for its policy check.
func (f *fixture) planned(name string, autoApply bool, plan string) run.Run {
	f.t.Helper()
	w, err := f.ws.Create(f.ctx, f.orgID, workspace.CreateOptions{Name: name, AutoApply: autoApply})
	if err != nil {
		f.t.Fatal(err)
	}
	r, err := f.runs.Create(f.ctx, f.orgID, w.ID, run.CreateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.fire(r.ID, run.EventPlanClaimed)
	if r, err = f.runs.Fire(f.ctx, f.orgID, r.ID, run.EventPlanFinished, run.Input{HasChanges: true, PoliciesExist: true}); err != nil {
		f.t.Fatal(err)
	}
	if r.Status != run.StatusPolicyChecking || r.WaitReason != run.WaitPolicyCheck {
		f.t.Fatalf("finished plan is %s (%s), want policy_checking", r.Status, r.WaitReason)
	}
	if plan != "" {
		f.plans[r.ID] = []byte(plan)
	}
	return r
}

func (f *fixture) fire(id uuid.UUID, e run.Event) run.Run {
	f.t.Helper()
	r, err := f.runs.Fire(f.ctx, f.orgID, id, e, run.Input{})
	if err != nil {
		f.t.Fatalf("%s: %v", e, err)
	}
	return r
}

func (f *fixture) check(r run.Run) (run.Run, []policy.Result) {
	f.t.Helper()
	if err := f.policies.Check(f.ctx, f.orgID, r.ID); err != nil {
		f.t.Fatal(err)
	}
	got, err := f.runs.Get(f.ctx, f.orgID, r.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	results, err := f.policies.Results(f.ctx, f.orgID, r.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return got, results
}

func TestCreateRefusesWhatCannotBeChecked(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for name, c := range map[string]struct {
		rego string
		e    policy.Enforcement
		want string
	}{
		"syntax":      {"package p\ndeny contains msg if {", policy.Advisory, "does not parse"},
		"no-deny":     {"package p\nallow := true", policy.Advisory, "no deny rule"},
		"http":        {"package p\ndeny contains x if { x := http.send({\"method\":\"get\",\"url\":\"http://169.254.169.254/\"}).body }", policy.Advisory, "http.send"},
		"runtime":     {"package p\ndeny contains x if { x := opa.runtime().env.DATABASE_URL }", policy.Advisory, "opa.runtime"},
		"enforcement": {noCreates, "mandatory", "enforcement must be"},
		"bad name!":   {noCreates, policy.Advisory, "name"},
	} {
		_, err := f.policies.Create(f.ctx, f.orgID, name, c.rego, c.e)
		var bad *validate.Error
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a validation error saying %q", name, err, c.want)
		}
	}
	f.policy("no-creates", noCreates, policy.Advisory)
	if _, err := f.policies.Create(f.ctx, f.orgID, "no-creates", allowAll, policy.Advisory); !errors.Is(err, policy.ErrExists) {
		t.Errorf("duplicate name: %v", err)
	}
	if list, err := f.policies.List(f.ctx, f.orgID); err != nil || len(list) != 1 {
		t.Fatalf("policies after refusals: %v %v", list, err)
	}
}

// What each enforcement level does to a run whose plan it denies.
func TestEnforcementDecidesTheRun(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		enforcement policy.Enforcement
		want        run.Status
	}{
		{policy.Advisory, run.StatusPolicyChecked},
		{policy.SoftMandatory, run.StatusPolicyOverride},
		{policy.HardMandatory, run.StatusErrored},
	} {
		t.Run(string(c.enforcement), func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			f.policy("allow-all", allowAll, policy.HardMandatory)
			f.policy("no-creates", noCreates, c.enforcement)
			got, results := f.check(f.planned("net", false, createsData))
			if got.Status != c.want {
				t.Fatalf("run is %s, want %s", got.Status, c.want)
			}
			if len(results) != 2 || !results[0].Passed || results[1].Passed ||
				len(results[1].Messages) != 1 || results[1].Messages[0] != "terraform_data.net would be created" {
				t.Fatalf("results: %+v", results)
			}
			switch c.want {
			case run.StatusErrored:
				if !strings.Contains(got.Error, "no-creates") {
					t.Errorf("errored run says %q, want the failed policy named", got.Error)
				}
			case run.StatusPolicyOverride:
				if got.WaitReason != run.WaitPolicyOverride {
					t.Errorf("wait reason %q", got.WaitReason)
				}
				if got = f.fire(got.ID, run.EventOverride); got.Status != run.StatusPolicyChecked {
					t.Fatalf("after override: %s", got.Status)
				}
				fallthrough
			case run.StatusPolicyChecked:
				if got = f.fire(got.ID, run.EventConfirm); got.Status != run.StatusApplyQueued {
					t.Fatalf("after confirm: %s", got.Status)
				}
			}
		})
	}
}

// A hard failure ends the run and hands the workspace to the next one.
func TestHardFailureReleasesTheWorkspace(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.policy("no-creates", noCreates, policy.HardMandatory)
	first := f.planned("net", false, createsData)
	next, err := f.runs.Create(f.ctx, f.orgID, first.WorkspaceID, run.CreateOptions{})
	if err != nil || next.Status != run.StatusPending {
		t.Fatalf("second run: %+v %v", next, err)
	}
	if got, _ := f.check(first); got.Status != run.StatusErrored {
		t.Fatalf("first run: %s", got.Status)
	}
	if got, _ := f.runs.Get(f.ctx, f.orgID, next.ID); got.Status != run.StatusPlanQueued {
		t.Fatalf("next run after the hard failure: %s", got.Status)
	}
}

// Passing policies let an auto-apply run go straight to its apply.
func TestPassedCheckAutoApplies(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.policy("allow-all", allowAll, policy.HardMandatory)
	if got, results := f.check(f.planned("net", true, createsData)); got.Status != run.StatusApplyQueued || len(results) != 1 || !results[0].Passed {
		t.Fatalf("run %s, results %+v", got.Status, results)
	}
}

// A policy that cannot be evaluated fails, as does every policy of a run
// whose plan JSON is missing: a check never passes by accident.
func TestChecksFailClosed(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.policy("broken", `package terraform.broken

deny contains msg if {
	some rc in input.resource_changes
	to_number(rc.address) > 0
	msg := "unreachable"
}`, policy.SoftMandatory)
	got, results := f.check(f.planned("broken", false, createsData))
	if got.Status != run.StatusPolicyOverride || len(results) != 1 || results[0].Passed || !strings.Contains(results[0].Error, "to_number") {
		t.Fatalf("run %s, results %+v", got.Status, results)
	}
	f2 := setup(t)
	f2.policy("allow-all", allowAll, policy.HardMandatory)
	got, results = f2.check(f2.planned("no-plan", false, ""))
	if got.Status != run.StatusErrored || len(results) != 1 || results[0].Passed || !strings.Contains(results[0].Error, "no plan JSON") {
		t.Fatalf("run %s, results %+v", got.Status, results)
	}
	// A plan that cannot be read for now is no verdict: the run keeps
	// waiting for the check, which the tick tries again.
	r := f2.planned("later", false, "unreadable")
	if err := f2.policies.Check(f2.ctx, f2.orgID, r.ID); !errors.Is(err, errStorage) {
		t.Fatalf("check with storage down: %v", err)
	}
	if got, _ := f2.runs.Get(f2.ctx, f2.orgID, r.ID); got.Status != run.StatusPolicyChecking {
		t.Fatalf("run after a failed read: %s", got.Status)
	}
	f2.plans[r.ID] = []byte(createsData)
	if got, _ := f2.check(r); got.Status != run.StatusPolicyChecked {
		t.Fatalf("run after the retry: %s", got.Status)
	}
}

// The finish hook and the tick may check the same run at the same moment:
// one check counts, the run moves once, its results are written once.
func TestConcurrentChecksCountOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.policy("no-creates", noCreates, policy.SoftMandatory)
	r := f.planned("net", false, createsData)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f.policies.Check(f.ctx, f.orgID, r.ID)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.runs.Get(f.ctx, f.orgID, r.ID)
	if err != nil || got.Status != run.StatusPolicyOverride {
		t.Fatalf("run %s %v", got.Status, err)
	}
	if results, _ := f.policies.Results(f.ctx, f.orgID, r.ID); len(results) != 1 {
		t.Fatalf("%d results, want 1", len(results))
	}
	if n := strings.Count(string(mustJSON(t, got.StatusTimestamps)), "policy_override"); n != 1 {
		t.Fatalf("policy_override stamped %d times", n)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A plan whose check no process did (it stopped between the plan's
// finish and handing the event on) is checked by the event sweep the
// scheduler tick runs, once.
func TestAMissedCheckIsDoneByTheSweep(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.policy("no-creates", noCreates, policy.SoftMandatory)
	r := f.planned("net", false, createsData)
	dispatch := events.NewDispatcher(f.pool, events.DefaultConfig, nil)
	dispatch.Handle(events.RunNeedsPolicyCheck, f.policies.HandleNeedsCheck)
	if res, err := dispatch.DeliverDue(f.ctx, 10); err != nil || res.Delivered != 1 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	if got, _ := f.runs.Get(f.ctx, f.orgID, r.ID); got.Status != run.StatusPolicyOverride {
		t.Fatalf("run after the sweep: %s", got.Status)
	}
	if res, err := dispatch.DeliverDue(f.ctx, 10); err != nil || res.Delivered != 0 {
		t.Fatalf("checked again: %+v %v", res, err)
	}
	if results, _ := f.policies.Results(f.ctx, f.orgID, r.ID); len(results) != 1 {
		t.Fatalf("%d results, want 1", len(results))
	}
}

// A run whose check cannot read its plan may be discarded meanwhile; the
// check that comes after finds it gone and records nothing.
func TestDiscardDuringACheck(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.policy("no-creates", noCreates, policy.HardMandatory)
	r := f.planned("net", false, "unreadable")
	if err := f.policies.Check(f.ctx, f.orgID, r.ID); !errors.Is(err, errStorage) {
		t.Fatalf("check with storage down: %v", err)
	}
	if got := f.fire(r.ID, run.EventDiscard); got.Status != run.StatusDiscarded {
		t.Fatalf("discard: %s", got.Status)
	}
	f.plans[r.ID] = []byte(createsData)
	got, results := f.check(r)
	if got.Status != run.StatusDiscarded || len(results) != 0 {
		t.Fatalf("after the late check: %s, %d results", got.Status, len(results))
	}
}

// A deny message holding a NUL is stored readably and decides the run; it
// used to fail the check's write and leave the run in policy_checking.
func TestNULInADenyMessageIsStored(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.policy("nul", `package terraform.nul

deny contains "bad\u0000message" if { true }`, policy.HardMandatory)
	r, results := f.check(f.planned("net", false, createsData))
	if r.Status != run.StatusErrored || len(results) != 1 || len(results[0].Messages) != 1 || results[0].Messages[0] != "bad\uFFFDmessage" {
		t.Fatalf("run %s, results %+v", r.Status, results)
	}
}
