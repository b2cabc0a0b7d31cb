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
