package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
)

type organizationJSON struct {
	ID             uuid.UUID `json:"id"`
	Name           string    `json:"name"`
	MaxConcurrency int       `json:"max_concurrency"`
	Weight         int       `json:"weight"`
	CreatedAt      time.Time `json:"created_at"`
}

func (a *api) createOrganization(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if !p.SiteAdmin {
		return errorf(http.StatusForbidden, "forbidden", "only the site-admin token creates organizations")
	}
	var body struct {
		Name           string `json:"name"`
		MaxConcurrency int    `json:"max_concurrency"`
		Weight         int    `json:"weight"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	o, err := a.Orgs.Create(r.Context(), body.Name, org.CreateOptions{MaxConcurrency: body.MaxConcurrency, Weight: body.Weight})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, organizationJSON{o.ID, o.Name, o.MaxConcurrency, o.Weight, o.CreatedAt})
	return nil
}

func (a *api) createToken(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	if !p.SiteAdmin && !p.Can(org.RoleAdmin) {
		return errForbidden
	}
	var body struct {
		Description string   `json:"description"`
		Role        org.Role `json:"role"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	t, err := a.Orgs.CreateToken(r.Context(), o.ID, body.Description, body.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": t.ID, "token": t.Secret, "description": t.Description, "role": t.Role,
		"organization": o.Name, "created_at": t.CreatedAt,
	})
	return nil
}
