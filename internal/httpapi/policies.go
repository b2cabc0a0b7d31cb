package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/policy"
)

type policyJSON struct {
	ID          uuid.UUID          `json:"id"`
	Name        string             `json:"name"`
	Rego        string             `json:"rego"`
	Enforcement policy.Enforcement `json:"enforcement"`
	CreatedAt   time.Time          `json:"created_at"`
}

func policyView(p policy.Policy) policyJSON {
	return policyJSON{ID: p.ID, Name: p.Name, Rego: p.Rego, Enforcement: p.Enforcement, CreatedAt: p.CreatedAt}
}

func (a *api) createPolicy(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	var body struct {
		Name        string             `json:"name"`
		Rego        string             `json:"rego"`
		Enforcement policy.Enforcement `json:"enforcement"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	created, err := a.Policies.Create(r.Context(), o.ID, body.Name, body.Rego, body.Enforcement)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, policyView(created))
	return nil
}

func (a *api) listPolicies(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	list, err := a.Policies.List(r.Context(), o.ID)
	return writeItems(w, list, err, policyView)
}

func (a *api) deletePolicy(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.Policies.Delete(r.Context(), p.OrgID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type policyResultJSON struct {
	Policy      string             `json:"policy"`
	Enforcement policy.Enforcement `json:"enforcement"`
	Passed      bool               `json:"passed"`
	Messages    []string           `json:"messages"`
	Error       string             `json:"error,omitempty"`
}

func (a *api) runPolicyChecks(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	results, err := a.Policies.Results(r.Context(), p.OrgID, id)
	if err != nil {
		return err
	}
	items := make([]policyResultJSON, 0, len(results))
	for _, res := range results {
		items = append(items, policyResultJSON{Policy: res.Policy, Enforcement: res.Enforcement, Passed: res.Passed, Messages: res.Messages, Error: res.Error})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}
