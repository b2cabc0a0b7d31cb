package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/audit"
	"github.com/runplane/runplane/internal/org"
)

// auditFilter reads ?after=, ?action=, ?object_id= and ?limit=.
func auditFilter(r *http.Request) (audit.Filter, error) {
	q := r.URL.Query()
	f := audit.Filter{Action: q.Get("action"), Limit: 100}
	bad := errorf(http.StatusBadRequest, "invalid_request", "after and limit are whole numbers (limit 1 to 1000), object_id an id")
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return f, bad
		}
		f.After = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return f, bad
		}
		f.Limit = n
	}
	if v := q.Get("object_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return f, bad
		}
		f.ObjectID = &id
	}
	return f, nil
}

// auditTrail answers a page of the organization's audit trail, oldest
// first, to its admins; next_after continues it. With
// Accept: application/x-ndjson it streams every entry after ?after= as
// JSON lines instead: the export.
func (a *api) auditTrail(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	if r.Header.Get("Accept") != "application/x-ndjson" {
		items, err := a.Audit.List(r.Context(), o.ID, f)
		if err != nil {
			return err
		}
		next := f.After
		if len(items) > 0 {
			next = items[len(items)-1].Seq
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_after": next})
		return nil
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	for f.Limit = 1000; ; {
		items, err := a.Audit.List(r.Context(), o.ID, f)
		if err != nil {
			return err
		}
		for _, e := range items {
			if err := enc.Encode(e); err != nil {
				return nil // the client went away
			}
		}
		if len(items) < f.Limit {
			return nil
		}
		f.After = items[len(items)-1].Seq
	}
}

// auditVerify recomputes the organization's hash chain.
func (a *api) auditVerify(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	o, err := a.Orgs.Resolve(r.Context(), p, r.PathValue("org"))
	if err != nil {
		return err
	}
	v, err := a.Audit.Verify(r.Context(), o.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
