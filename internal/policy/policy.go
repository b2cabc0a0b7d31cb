package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/fault"
	"github.com/runplane/runplane/internal/run"
	"github.com/runplane/runplane/internal/validate"
)

var (
	// ErrNotFound: no such policy in the organization.
	ErrNotFound = fault.New(fault.NotFound, "not_found", "policy not found")
	// ErrExists: the organization has a policy of that name.
	ErrExists = fault.New(fault.Conflict, "already_exists", "policy already exists")
)

// Enforcement says what a failed policy does to the run.
type Enforcement string

const (
	Advisory      Enforcement = "advisory"
	SoftMandatory Enforcement = "soft-mandatory"
	HardMandatory Enforcement = "hard-mandatory"
)

// Policy is an organization's policy.
type Policy struct {
	ID          uuid.UUID
	Name        string
	Rego        string
	Enforcement Enforcement
	CreatedAt   time.Time
}

// Result is one policy's verdict on one run.
type Result struct {
	Policy      string
	Enforcement Enforcement
	Passed      bool
	// Messages are the policy's deny messages.
	Messages []string
	// Error says why the policy could not be evaluated (it then failed).
	Error string
}

// Plans gives the platform a run's plan as `terraform show -json`: nil
// when the run has none, an error when it could not be read (storage or
// KMS unavailable), which leaves the check to be tried again.
type Plans interface {
	PlanJSON(ctx context.Context, orgID, workspaceID, runID uuid.UUID) ([]byte, error)
}

// DB is what the service needs of the database; *pgxpool.Pool satisfies it.
type DB interface {
	dbtx.Beginner
	dbsqlc.DBTX
}

// Service manages policies and checks runs against them.
type Service struct {
	db    DB
	runs  *run.Service
	plans Plans
}

// NewService returns a Service.
func NewService(db DB, runs *run.Service, plans Plans) *Service {
	return &Service{db: db, runs: runs, plans: plans}
}

// Create adds a policy after checking that its Rego compiles.
func (s *Service) Create(ctx context.Context, orgID uuid.UUID, name, text string, e Enforcement) (Policy, error) {
	if err := validate.Name(name); err != nil {
		return Policy{}, err
	}
	if e != Advisory && e != SoftMandatory && e != HardMandatory {
		return Policy{}, validate.Errorf("enforcement must be advisory, soft-mandatory or hard-mandatory")
	}
	if len(text) > 256<<10 {
		return Policy{}, validate.Errorf("rego is larger than 256 KiB")
	}
	if _, err := compile(name, text); err != nil {
		return Policy{}, err
	}
	p, err := dbsqlc.New(s.db).PolicyCreate(ctx, dbsqlc.PolicyCreateParams{OrganizationID: orgID, Name: name, Rego: text, Enforcement: string(e)})
	if dbtx.IsUniqueViolation(err) {
		return Policy{}, fmt.Errorf("%w: %s", ErrExists, name)
	}
	return view(p), err
}

// List returns the organization's policies by name.
func (s *Service) List(ctx context.Context, orgID uuid.UUID) ([]Policy, error) {
	rows, err := dbsqlc.New(s.db).PolicyList(ctx, orgID)
	out := make([]Policy, 0, len(rows))
	for _, p := range rows {
		out = append(out, view(p))
	}
	return out, err
}

// Delete removes a policy; runs already checked keep their results.
func (s *Service) Delete(ctx context.Context, orgID, id uuid.UUID) error {
	n, err := dbsqlc.New(s.db).PolicyDelete(ctx, dbsqlc.PolicyDeleteParams{ID: id, OrganizationID: orgID})
	if err == nil && n == 0 {
		return ErrNotFound
	}
	return err
}

// Results returns a run's policy results by policy name.
func (s *Service) Results(ctx context.Context, orgID, runID uuid.UUID) ([]Result, error) {
	if _, err := s.runs.Get(ctx, orgID, runID); err != nil {
		return nil, err
	}
	rows, err := dbsqlc.New(s.db).PolicyResultList(ctx, dbsqlc.PolicyResultListParams{RunID: runID, OrganizationID: orgID})
	out := make([]Result, 0, len(rows))
	for _, r := range rows {
		res := Result{Policy: r.PolicyName, Enforcement: Enforcement(r.Enforcement), Passed: r.Passed, Error: r.Error}
		_ = json.Unmarshal(r.Messages, &res.Messages)
		out = append(out, res)
	}
	return out, err
}

// Check evaluates a run in policy_checking against its organization's
// policies and moves it on: policy_checked, policy_override (a
// soft-mandatory policy failed) or errored (a hard-mandatory one did). A
// run in any other status is left alone, so checking twice is harmless.
func (s *Service) Check(ctx context.Context, orgID, runID uuid.UUID) error {
	return s.check(ctx, orgID, runID, func(ctx context.Context, fn func(q *dbsqlc.Queries) error) error {
		return dbtx.Run(ctx, s.db, fn)
	})
}

// HandleNeedsCheck is the handler of run.needs_policy_check events: Check,
// recording the run's verdict and the event's delivery in one transaction.
func (s *Service) HandleNeedsCheck(ctx context.Context, d *events.Delivery) error {
	if d.RunID == nil {
		return fmt.Errorf("%s %s names no run", d.Kind, d.ID)
	}
	return s.check(ctx, d.OrganizationID, *d.RunID, d.Commit)
}

func (s *Service) check(ctx context.Context, orgID, runID uuid.UUID, commit func(context.Context, func(*dbsqlc.Queries) error) error) error {
	r, err := s.runs.Get(ctx, orgID, runID)
	if err != nil || r.Status != run.StatusPolicyChecking {
		return err
	}
	policies, err := dbsqlc.New(s.db).PolicyList(ctx, orgID)
	if err != nil {
		return err
	}
	plan, err := s.plans.PlanJSON(ctx, orgID, r.WorkspaceID, runID)
	if err != nil {
		return fmt.Errorf("reading the plan JSON: %w", err)
	}
	var input ast.Value
	inputErr := errors.New("the plan job uploaded no plan JSON to check")
	if plan != nil {
		input, inputErr = planInput(plan)
	}
	evalCtx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	results := make([]Result, 0, len(policies))
	for _, p := range policies {
		res := Result{Policy: p.Name, Enforcement: Enforcement(p.Enforcement), Messages: []string{}}
		if inputErr != nil {
			res.Error = inputErr.Error()
		} else if mod, err := compile(p.Name, p.Rego); err != nil {
			res.Error = err.Error()
		} else if msgs, err := evaluate(evalCtx, mod, input); err != nil {
			res.Error = describeError(err)
		} else if msgs != nil {
			res.Messages = msgs
		}
		// A policy's text is the tenant's: whatever it holds is stored, readably.
		for i, m := range res.Messages {
			res.Messages[i] = validate.Clean(m)
		}
		res.Error = validate.Clean(res.Error)
		res.Passed = res.Error == "" && len(res.Messages) == 0
		results = append(results, res)
	}
	event, why := verdict(results)
	err = commit(ctx, func(q *dbsqlc.Queries) error {
		if err := s.runs.FireTx(ctx, q, orgID, r.WorkspaceID, runID, event, run.Input{Error: why}); err != nil {
			return err
		}
		for _, res := range results {
			msgs, _ := json.Marshal(res.Messages)
			if err := q.PolicyResultAdd(ctx, dbsqlc.PolicyResultAddParams{
				RunID: runID, OrganizationID: orgID, PolicyName: res.Policy, Enforcement: string(res.Enforcement),
				Passed: res.Passed, Messages: msgs, Error: res.Error,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, run.ErrTransition) {
		return nil // another process checked it first
	}
	if err == nil {
		s.runs.Queued() // a passed check of an auto-apply run queued its apply
	}
	return err
}

// verdict is what the results do to the run, and why it errors if it does.
func verdict(results []Result) (run.Event, string) {
	var hard, soft []string
	for _, r := range results {
		switch {
		case r.Passed:
		case r.Enforcement == HardMandatory:
			hard = append(hard, r.Policy)
		case r.Enforcement == SoftMandatory:
			soft = append(soft, r.Policy)
		}
	}
	switch {
	case len(hard) > 0:
		return run.EventPolicyHardFailed, "hard-mandatory policy failed: " + strings.Join(hard, ", ")
	case len(soft) > 0:
		return run.EventPolicySoftFailed, ""
	}
	return run.EventPolicyPassed, ""
}

func view(p dbsqlc.Policy) Policy {
	return Policy{ID: p.ID, Name: p.Name, Rego: p.Rego, Enforcement: Enforcement(p.Enforcement), CreatedAt: p.CreatedAt}
}
