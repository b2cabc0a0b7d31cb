package tfeapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/policy"
	"github.com/runplane/runplane/internal/run"
)

// A run's policy check is all of its organization's OPA policies
// evaluated against its plan: one check per run, with the run's id.
type policyCheck struct {
	ID          string             `jsonapi:"primary,policy-checks"`
	Scope       string             `jsonapi:"attr,scope"`
	Status      string             `jsonapi:"attr,status"`
	Result      *policyCheckResult `jsonapi:"attr,result"`
	Actions     *policyActions     `jsonapi:"attr,actions"`
	Permissions *policyPermissions `jsonapi:"attr,permissions"`
}

type policyCheckResult struct {
	Result         bool `json:"result"`
	Passed         int  `json:"passed"`
	TotalFailed    int  `json:"total-failed"`
	HardFailed     int  `json:"hard-failed"`
	SoftFailed     int  `json:"soft-failed"`
	AdvisoryFailed int  `json:"advisory-failed"`
}

type policyActions struct {
	IsOverridable bool `json:"is-overridable"`
}

type policyPermissions struct {
	CanOverride bool `json:"can-override"`
}

// checked reports whether the run's plan went to the policies.
func checked(rn run.Run) bool {
	_, ok := rn.StatusTimestamps[run.StatusPolicyChecking]
	return ok
}

func (a *api) policyCheckView(rn run.Run, results []policy.Result, p org.Principal) *policyCheck {
	res := &policyCheckResult{}
	for _, r := range results {
		switch {
		case r.Passed:
			res.Passed++
		case r.Enforcement == policy.HardMandatory:
			res.HardFailed++
		case r.Enforcement == policy.SoftMandatory:
			res.SoftFailed++
		default:
			res.AdvisoryFailed++
		}
	}
	res.TotalFailed = res.HardFailed + res.SoftFailed + res.AdvisoryFailed
	res.Result = res.HardFailed+res.SoftFailed == 0
	status := "passed"
	_, overridden := rn.StatusTimestamps[run.StatusPolicyOverride]
	switch {
	case rn.Status == run.StatusPolicyChecking:
		status = "queued"
	case len(results) == 0 && rn.Status.Terminal():
		status = "unreachable"
	case res.HardFailed > 0:
		status = "hard_failed"
	case res.SoftFailed > 0 && overridden && rn.Status != run.StatusPolicyOverride && rn.Status != run.StatusDiscarded:
		status = "overridden"
	case res.SoftFailed > 0:
		status = "soft_failed"
	}
	return &policyCheck{
		ID: rn.ID.String(), Scope: "organization", Status: status, Result: res,
		Actions:     &policyActions{IsOverridable: a.Runs.Allows(rn, run.EventOverride)},
		Permissions: &policyPermissions{CanOverride: p.Level >= org.LevelAdmin},
	}
}

// runCheck reads the run of the path and its policy results.
func (a *api) runCheck(r *http.Request, p org.Principal) (run.Run, []policy.Result, error) {
	rn, err := a.phaseRun(r, p)
	if err != nil {
		return rn, nil, err
	}
	if !checked(rn) {
		return rn, nil, fmt.Errorf("%w: the run has no policy check", errNotFound)
	}
	results, err := a.Policies.Results(r.Context(), p.OrgID, rn.ID)
	return rn, results, err
}

func (a *api) listPolicyChecks(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	rn, err := a.phaseRun(r, p)
	if err != nil {
		return err
	}
	items := []any{}
	if checked(rn) {
		results, err := a.Policies.Results(r.Context(), p.OrgID, rn.ID)
		if err != nil {
			return err
		}
		items = append(items, a.policyCheckView(rn, results, p))
	}
	return writeMany(w, items, 1, 20, len(items))
}

func (a *api) getPolicyCheck(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	rn, results, err := a.runCheck(r, p)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, a.policyCheckView(rn, results, p))
}

// policyCheckOutput is the check's log: a line a policy, its messages
// under it.
func (a *api) policyCheckOutput(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	_, results, err := a.runCheck(r, p)
	if err != nil {
		return err
	}
	var out strings.Builder
	for _, res := range results {
		verdict := "passed"
		if !res.Passed {
			verdict = "failed"
		}
		fmt.Fprintf(&out, "%s (%s): %s\n", res.Policy, res.Enforcement, verdict)
		for _, m := range res.Messages {
			fmt.Fprintf(&out, "  %s\n", m)
		}
		if res.Error != "" {
			fmt.Fprintf(&out, "  error: %s\n", res.Error)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err = w.Write([]byte(out.String()))
	return err
}

// overridePolicyCheck lets a soft-failed run go on, as an organization
// admin may.
func (a *api) overridePolicyCheck(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	rn, _, err := a.runCheck(r, p)
	if err != nil {
		return err
	}
	if rn, err = a.Runs.Fire(r.Context(), p.OrgID, rn.ID, run.EventOverride, run.Input{}); err != nil {
		return err
	}
	results, err := a.Policies.Results(r.Context(), p.OrgID, rn.ID)
	if err != nil {
		return err
	}
	return write(w, http.StatusOK, a.policyCheckView(rn, results, p))
}
