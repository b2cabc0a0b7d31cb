package web

import (
	"cmp"
	"slices"

	"github.com/google/uuid"
)

// graphNode is a workspace on the trigger graph, with its latest run.
type graphNode struct {
	ID        uuid.UUID
	Name      string
	RunStatus string
	RunID     *uuid.UUID
	X, Y      int
}

// graphEdge is a trigger: an apply upstream queues a run downstream.
type graphEdge struct {
	Up, Down               uuid.UUID
	X1, Y1, X2, Y2, XM, YM int
}

// graph is a DAG laid out in columns: a workspace's column is the longest
// chain of triggers leading to it, so every edge points right.
type graph struct {
	Nodes         []graphNode
	Edges         []graphEdge
	Width, Height int
}

const (
	nodeW, nodeH = 180, 44
	colGap       = 90
	rowGap       = 24
	margin       = 12
)

// layout places nodes and edges; the edges form a DAG (triggers refuse
// cycles), and an edge to a node not given is left out.
func layout(nodes []graphNode, edges []graphEdge) graph {
	index := map[uuid.UUID]int{}
	for i, n := range nodes {
		index[n.ID] = i
	}
	edges = slices.DeleteFunc(slices.Clone(edges), func(e graphEdge) bool {
		_, up := index[e.Up]
		_, down := index[e.Down]
		return !up || !down
	})
	col := make([]int, len(nodes))
	// Longest path by relaxation: at most len(nodes) rounds in a DAG.
	for range nodes {
		changed := false
		for _, e := range edges {
			if c := col[index[e.Up]] + 1; c > col[index[e.Down]] {
				col[index[e.Down]], changed = c, true
			}
		}
		if !changed {
			break
		}
	}
	order := make([]int, len(nodes))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(col[a], col[b]), cmp.Compare(nodes[a].Name, nodes[b].Name))
	})
	rows := map[int]int{}
	g := graph{Nodes: slices.Clone(nodes)}
	for _, i := range order {
		n := &g.Nodes[i]
		n.X = margin + col[i]*(nodeW+colGap)
		n.Y = margin + rows[col[i]]*(nodeH+rowGap)
		rows[col[i]]++
		g.Width = max(g.Width, n.X+nodeW+margin)
		g.Height = max(g.Height, n.Y+nodeH+margin)
	}
	for _, e := range edges {
		up, down := g.Nodes[index[e.Up]], g.Nodes[index[e.Down]]
		e.X1, e.Y1 = up.X+nodeW, up.Y+nodeH/2
		e.X2, e.Y2 = down.X, down.Y+nodeH/2
		e.XM, e.YM = (e.X1+e.X2)/2, (e.Y1+e.Y2)/2
		g.Edges = append(g.Edges, e)
	}
	return g
}
