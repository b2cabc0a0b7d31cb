package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/runplane/runplane/internal/agentapi"
	"github.com/runplane/runplane/internal/identity"
	"github.com/runplane/runplane/internal/jobs"
	"github.com/runplane/runplane/internal/org"
)

// public serves a handler anyone may call, its errors as JSON.
func (a *api) public(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, err)
		}
	})
}

// openIDConfiguration is the workload identity issuer's discovery document.
func (a *api) openIDConfiguration(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, identity.Discovery(identity.BaseURL(r)))
	return nil
}

// jwks publishes the keys workload identity tokens are signed with.
func (a *api) jwks(w http.ResponseWriter, r *http.Request) error {
	set, err := a.Identity.JWKS(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "max-age=300")
	writeJSON(w, http.StatusOK, set)
	return nil
}

// rotateSigningKey makes a new signing key (site admin); the ones before
// stay published until the tokens they signed have expired.
func (a *api) rotateSigningKey(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if !p.SiteAdmin {
		return org.ErrForbidden
	}
	if err := a.Identity.Rotate(r.Context()); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "rotated"})
	return nil
}

// workloadIdentity signs the claimed job's token. The job is claimed
// already: without a token it still runs (terraform then has no federated
// cloud credentials), so a failure is logged, not answered.
func (a *api) workloadIdentity(r *http.Request, j jobs.Job, out *agentapi.Job) {
	token, err := a.Identity.Token(r.Context(), identity.BaseURL(r), identity.Job{
		OrganizationID: j.OrganizationID, WorkspaceID: j.WorkspaceID, RunID: j.RunID, Phase: string(j.Phase),
	})
	if err != nil {
		slog.ErrorContext(r.Context(), "no workload identity token for the job", "job", j.ID, "err", err)
		return
	}
	out.WorkloadIdentityToken = token
}
