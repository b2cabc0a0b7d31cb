package web

import (
	"testing"

	"github.com/google/uuid"
)

// A diamond and a chain: every edge points right, no two nodes overlap.
func TestLayoutPointsEveryEdgeRight(t *testing.T) {
	t.Parallel()
	ids := map[string]uuid.UUID{}
	var nodes []graphNode
	for _, n := range []string{"network", "db", "app", "web", "dns", "solo"} {
		ids[n] = uuid.New()
		nodes = append(nodes, graphNode{ID: ids[n], Name: n})
	}
	var edges []graphEdge
	for _, e := range [][2]string{{"network", "db"}, {"network", "app"}, {"db", "web"}, {"app", "web"}, {"web", "dns"}} {
		edges = append(edges, graphEdge{Up: ids[e[0]], Down: ids[e[1]]})
	}
	edges = append(edges, graphEdge{Up: ids["web"], Down: uuid.New()}) // a workspace not shown
	g := layout(nodes, edges)
	if len(g.Edges) != 5 {
		t.Fatalf("edges: %d, want 5", len(g.Edges))
	}
	for _, e := range g.Edges {
		if e.X2 <= e.X1 {
			t.Errorf("edge %v points left", e)
		}
	}
	at := map[[2]int]string{}
	for _, n := range g.Nodes {
		if other, ok := at[[2]int{n.X, n.Y}]; ok {
			t.Errorf("%s and %s overlap", n.Name, other)
		}
		at[[2]int{n.X, n.Y}] = n.Name
		if n.X+nodeW > g.Width || n.Y+nodeH > g.Height {
			t.Errorf("%s is outside the drawing", n.Name)
		}
	}
	if x := func(name string) int {
		for _, n := range g.Nodes {
			if n.Name == name {
				return n.X
			}
		}
		return -1
	}; x("dns") <= x("web") || x("web") <= x("db") || x("db") != x("app") {
		t.Errorf("columns: %+v", g.Nodes)
	}
}

// A plan's changes are listed by address and action; no-ops and reads
// are left out, and a document that is not a plan lists nothing.
func TestPlanChanges(t *testing.T) {
	t.Parallel()
	got := planChanges([]byte(`{"resource_changes":[
		{"address":"terraform_data.a","change":{"actions":["create"],"after":{"secret":"x"}}},
		{"address":"terraform_data.b","change":{"actions":["no-op"]}},
		{"address":"data.x.y","change":{"actions":["read"]}},
		{"address":"terraform_data.c","change":{"actions":["delete","create"]}}]}`))
	if len(got) != 2 || got[0] != (resourceChange{"terraform_data.a", "create"}) || got[1] != (resourceChange{"terraform_data.c", "delete, create"}) {
		t.Fatalf("changes: %+v", got)
	}
	if planChanges([]byte("not json")) != nil || planChanges(nil) != nil {
		t.Fatal("changes from no plan")
	}
}
