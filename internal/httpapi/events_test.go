package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/dbsqlc"
	"github.com/runplane/runplane/internal/dbtx"
	"github.com/runplane/runplane/internal/events"
	"github.com/runplane/runplane/internal/platform"
	"github.com/runplane/runplane/internal/testkit/pgtest"
)

// An operator finds a dead-lettered event with its reason in the log and,
// once the cause is fixed, retries it; only the site admin reads the log,
// and a malformed filter or an event that is not dead is a clear error.
func TestOperatorsSeeAndRetryDeadEvents(t *testing.T) {
	t.Parallel()
	c, p := setupWith(t, "acme", platform.Storage{DataDir: t.TempDir()})
	wsID := uuid.MustParse(c.workspace("acme", "net"))
	orgID := uuid.MustParse(c.do("GET", "/api/v1/organizations/acme", "", 200)["id"].(string))
	ctx := context.Background()
	q := dbsqlc.New(p.Pool)
	// An event whose handler kept failing: emitted, attempted, dead.
	if err := dbtx.Run(ctx, p.Pool, func(q *dbsqlc.Queries) error {
		return events.Emit(ctx, q, "test.unhandled", orgID, wsID, nil, nil, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	ids, err := q.EventListDue(ctx, dbsqlc.EventListDueParams{Now: time.Now(), MaxRows: 10})
	if err != nil || len(ids) != 1 {
		t.Fatalf("due events: %v %v", ids, err)
	}
	now := time.Now()
	if _, err := q.EventClaim(ctx, dbsqlc.EventClaimParams{ID: ids[0], Now: now, VisibleAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := q.EventMarkFailed(ctx, dbsqlc.EventMarkFailedParams{ID: ids[0], Attempts: 10, LastError: "kms: AccessDenied", NextAttemptAt: now, DeadAt: &now}); err != nil {
		t.Fatal(err)
	}

	admin := c.as(adminToken)
	dead := admin.do("GET", "/api/v1/admin/events?status=dead&organization=acme", "", 200)["items"].([]any)
	if len(dead) != 1 {
		t.Fatalf("dead letters: %v", dead)
	}
	e := dead[0].(map[string]any)
	if e["id"] != ids[0].String() || e["status"] != "dead" || e["last_error"] != "kms: AccessDenied" || e["workspace_id"] != wsID.String() {
		t.Fatalf("dead letter %v", e)
	}
	if got := admin.do("GET", "/api/v1/admin/events?status=pending", "", 200)["items"].([]any); len(got) != 0 {
		t.Fatalf("pending: %v", got)
	}

	c.do("GET", "/api/v1/admin/events", "", 403)
	c.do("POST", "/api/v1/admin/events/"+ids[0].String()+"/actions/retry", "", 403)
	admin.do("GET", "/api/v1/admin/events?status=lost", "", 400)
	admin.do("GET", "/api/v1/admin/events?workspace=net", "", 400)
	admin.do("GET", "/api/v1/admin/events?cursor=yesterday", "", 400)
	admin.do("GET", "/api/v1/admin/events?organization=nobody", "", 404)
	admin.do("POST", "/api/v1/admin/events/not-an-id/actions/retry", "", 404)

	retried := admin.do("POST", "/api/v1/admin/events/"+ids[0].String()+"/actions/retry", "", 200)
	if retried["status"] != "delivered" || retried["attempts"] != 1.0 {
		t.Fatalf("retried: %v", retried)
	}
	admin.do("POST", "/api/v1/admin/events/"+ids[0].String()+"/actions/retry", "", 404)
	admin.do("POST", "/api/v1/admin/events/"+uuid.NewString()+"/actions/retry", "", 404)
}

// The log pages newest first through the cursor it returns.
func TestTheEventLogPages(t *testing.T) {
	t.Parallel()
	p, base := serve(t, platform.Config{DatabaseURL: pgtest.URL(t), AdminToken: adminToken, Storage: platform.Storage{DataDir: t.TempDir()}})
	admin := client{t: t, base: base, token: adminToken}
	c := admin.newOrg("acme")
	wsID := uuid.MustParse(c.workspace("acme", "net"))
	orgID := uuid.MustParse(c.do("GET", "/api/v1/organizations/acme", "", 200)["id"].(string))
	ctx := context.Background()
	for range 3 {
		if err := dbtx.Run(ctx, p.Pool, func(q *dbsqlc.Queries) error {
			return events.Emit(ctx, q, "test.unhandled", orgID, wsID, nil, nil, time.Now())
		}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	path := "/api/v1/admin/events?limit=2&workspace=" + wsID.String()
	for pages := 0; path != ""; pages++ {
		if pages > 2 {
			t.Fatal("the cursor does not advance")
		}
		page := admin.do("GET", path, "", 200)
		for _, it := range page["items"].([]any) {
			seen[it.(map[string]any)["id"].(string)] = true
		}
		path = ""
		if next, ok := page["next_cursor"].(string); ok {
			path = "/api/v1/admin/events?limit=2&workspace=" + wsID.String() + "&cursor=" + next
		}
	}
	if len(seen) != 3 {
		t.Fatalf("paged through %d events, want 3", len(seen))
	}
}
