package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/org"
)

type eventJSON struct {
	events.Event
	Status string `json:"status"`
}

func eventView(e events.Event) eventJSON { return eventJSON{Event: e, Status: e.Status()} }

var errSiteAdminOnly = errorf(http.StatusForbidden, "forbidden", "only the site-admin token reads the event log")

// listEvents pages through the event log, newest first: the dead letters
// an operator must look at (?status=dead), or one organization's or
// workspace's history.
func (a *api) listEvents(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if !p.SiteAdmin {
		return errSiteAdminOnly
	}
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := events.Filter{Kind: events.Kind(q.Get("kind")), Status: q.Get("status"), Limit: limit + 1}
	switch f.Status {
	case "", "pending", "delivered", "dead":
	default:
		return errorf(http.StatusBadRequest, "invalid_request", "status must be pending, delivered or dead")
	}
	if name := q.Get("organization"); name != "" {
		o, err := a.Orgs.Get(r.Context(), p, name)
		if err != nil {
			return err
		}
		f.OrganizationID = o.ID
	}
	if s := q.Get("workspace"); s != "" {
		if f.WorkspaceID, err = uuid.Parse(s); err != nil {
			return errorf(http.StatusBadRequest, "invalid_request", "workspace must be a workspace id")
		}
	}
	if cursor != "" {
		if f.Before, err = time.Parse(time.RFC3339Nano, cursor); err != nil {
			return errorf(http.StatusBadRequest, "invalid_request", "cursor is not one this API returned")
		}
	}
	list, err := a.Events.List(r.Context(), f)
	if err != nil {
		return err
	}
	writePage(w, list, limit, func(e events.Event) string { return e.CreatedAt.UTC().Format(time.RFC3339Nano) }, eventView)
	return nil
}

// retryEvent gives a dead-lettered event new attempts, once its cause is fixed.
func (a *api) retryEvent(w http.ResponseWriter, r *http.Request, p org.Principal) error {
	if !p.SiteAdmin {
		return errSiteAdminOnly
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	e, err := a.Events.Retry(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, eventView(e))
	return nil
}
