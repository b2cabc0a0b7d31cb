package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
)

type organizationJSON struct {
	ID                    uuid.UUID `json:"id"`
	Name                  string    `json:"name"`
	MaxConcurrency        int       `json:"max_concurrency"`
	Weight                int       `json:"weight"`
	BucketBurst           float64   `json:"bucket_burst"`
	BucketRefillPerSecond float64   `json:"bucket_refill_per_second"`
	CreatedAt             time.Time `json:"created_at"`
	Usage                 usageJSON `json:"usage"`
}

// usageJSON is the organization's current share of the agent pool.
type usageJSON struct {
	Running int     `json:"running"`
	Queued  int     `json:"queued"`
	Tokens  float64 `json:"tokens"`
}

func organizationView(o org.Organization) organizationJSON {
	return organizationJSON{
		ID: o.ID, Name: o.Name, MaxConcurrency: o.MaxConcurrency, Weight: o.Weight,
		BucketBurst: o.Bucket.Burst, BucketRefillPerSecond: o.Bucket.Refill, CreatedAt: o.CreatedAt,
		Usage: usageJSON{Running: o.Running, Queued: o.Queued, Tokens: o.Bucket.Refilled(time.Now()).Tokens},
	}
}

func (a *api) getOrganization(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Get(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, organizationView(o))
	return nil
}

// listOrganizations pages organizations by name: all of them for the site
// admin, its own for an organization's token.
func (a *api) listOrganizations(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	list, err := a.Orgs.List(r.Context(), p, cursor, limit+1)
	if err != nil {
		return err
	}
	writePage(w, list, limit, func(o org.Organization) string { return o.Name }, organizationView)
	return nil
}

// updateOrganization sets an organization's share of the agent pool.
func (a *api) updateOrganization(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if !p.SiteAdmin {
		return errorf(http.StatusForbidden, "forbidden", "only the site-admin token sets an organization's limits")
	}
	var body struct {
		MaxConcurrency        *int     `json:"max_concurrency"`
		Weight                *int     `json:"weight"`
		BucketBurst           *int     `json:"bucket_burst"`
		BucketRefillPerSecond *float64 `json:"bucket_refill_per_second"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	o, err := a.Orgs.SetLimits(r.Context(), r.PathValue("org"), org.Limits{
		MaxConcurrency: body.MaxConcurrency, Weight: body.Weight, BucketBurst: body.BucketBurst, BucketRefill: body.BucketRefillPerSecond,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, organizationView(o))
	return nil
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
	writeJSON(w, http.StatusCreated, organizationView(o))
	return nil
}

type tokenJSON struct {
	ID          uuid.UUID  `json:"id"`
	Token       string     `json:"token,omitempty"`
	Description string     `json:"description"`
	Role        org.Role   `json:"role,omitempty"`
	UserID      *uuid.UUID `json:"user_id,omitempty"`
	TeamID      *uuid.UUID `json:"team_id,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	CreatedBy   *uuid.UUID `json:"created_by"`
}

func tokenView(t org.Token) tokenJSON {
	return tokenJSON{ID: t.ID, Token: t.Secret, Description: t.Description, Role: t.Role, UserID: t.UserID, TeamID: t.TeamID,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, CreatedBy: t.CreatedBy}
}

func (a *api) createToken(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	var body struct {
		Description string     `json:"description"`
		Role        org.Role   `json:"role"`
		ExpiresAt   *time.Time `json:"expires_at"`
	}
	if err := decode(w, r, &body, false); err != nil {
		return err
	}
	if body.ExpiresAt != nil && !body.ExpiresAt.After(time.Now()) {
		return errorf(http.StatusBadRequest, "invalid_request", "expires_at must be in the future")
	}
	scope := org.TokenScope{ExpiresAt: body.ExpiresAt}
	if !p.SiteAdmin {
		scope.CreatedBy = &p.TokenID
	}
	t, err := a.Orgs.CreateScopedToken(r.Context(), o.ID, body.Description, body.Role, scope)
	if err != nil {
		return err
	}
	t.CreatedBy = scope.CreatedBy
	view := tokenView(t)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, struct {
		tokenJSON
		Organization string `json:"organization"`
	}{view, o.Name})
	return nil
}

func (a *api) listTokens(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	list, err := a.Orgs.Tokens(r.Context(), o.ID)
	return writeItems(w, list, err, tokenView)
}

func (a *api) getToken(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t, err := a.Orgs.Token(r.Context(), o.ID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tokenView(t))
	return nil
}

// revokeToken stops a token at once; the caller's own token too.
func (a *api) revokeToken(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.Orgs.RevokeToken(r.Context(), o.ID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
