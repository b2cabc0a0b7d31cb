package trigger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/runplane/runplane/internal/org"
	"github.com/runplane/runplane/internal/testkit/pgtest"
	"github.com/runplane/runplane/internal/trigger"
	"github.com/runplane/runplane/internal/workspace"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type fixture struct {
	ctx      context.Context
	triggers *trigger.Service
	orgID    uuid.UUID
	ws       []uuid.UUID
	names    map[uuid.UUID]string
}

func setup(t *testing.T, n int) *fixture {
	t.Helper()
	pool := pgtest.New(t)
	ctx := context.Background()
	o, err := org.NewService(pool, "admin").Create(ctx, "acme", org.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{ctx: ctx, triggers: trigger.NewService(pool), orgID: o.ID, names: map[uuid.UUID]string{}}
	wss := workspace.NewService(pool)
	for i := range n {
		w, err := wss.Create(ctx, o.ID, workspace.CreateOptions{Name: fmt.Sprintf("w%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		f.ws = append(f.ws, w.ID)
		f.names[w.ID] = w.Name
	}
	return f
}

func TestCycleIsRefusedAndNamed(t *testing.T) {
	t.Parallel()
	f := setup(t, 3)
	a, b, c := f.ws[0], f.ws[1], f.ws[2]
	for _, e := range [][2]uuid.UUID{{a, b}, {b, c}, {a, c}} {
		edge, err := f.triggers.Create(f.ctx, f.orgID, e[1], e[0], trigger.OnApply)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(edge.Warning, "remote_state_consumers") {
			t.Fatalf("no warning about the state allow-list: %q", edge.Warning)
		}
	}
	_, err := f.triggers.Create(f.ctx, f.orgID, a, c, trigger.OnApply)
	if !errors.Is(err, trigger.ErrCycle) || !strings.Contains(err.Error(), "w0 → ") || !strings.Contains(err.Error(), "w2 → w0") {
		t.Fatalf("c → a: %v", err)
	}
	if _, err := f.triggers.Create(f.ctx, f.orgID, a, a, trigger.OnApply); !errors.Is(err, trigger.ErrCycle) {
		t.Fatalf("self edge: %v", err)
	}
	if _, err := f.triggers.Create(f.ctx, f.orgID, b, a, trigger.OnApply); !errors.Is(err, trigger.ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := f.triggers.Create(f.ctx, f.orgID, b, uuid.New(), trigger.OnApply); !errors.Is(err, trigger.ErrNotFound) {
		t.Fatalf("unknown upstream: %v", err)
	}
	list, err := f.triggers.List(f.ctx, f.orgID, c)
	if err != nil || len(list) != 2 {
		t.Fatalf("c's upstreams: %+v %v", list, err)
	}
	if err := f.triggers.Delete(f.ctx, f.orgID, c, b); err != nil {
		t.Fatal(err)
	}
	if err := f.triggers.Delete(f.ctx, f.orgID, c, b); !errors.Is(err, trigger.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

// Concurrent requests that together close cycles never all succeed: after
// many goroutines add random edges at once, the graph is still acyclic.
func TestConcurrentEdgesNeverCloseACycle(t *testing.T) {
	t.Parallel()
	f := setup(t, 8)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(g)))
			for range 15 {
				up, down := f.ws[r.IntN(len(f.ws))], f.ws[r.IntN(len(f.ws))]
				_, err := f.triggers.Create(f.ctx, f.orgID, down, up, trigger.OnApply)
				if err != nil && !errors.Is(err, trigger.ErrCycle) && !errors.Is(err, trigger.ErrExists) {
					t.Error(err)
					return
				}
			}
		}()
	}
	// The simplest race, many times: x → y and y → x at once.
	for range 20 {
		x, y := f.ws[0], f.ws[1]
		var both sync.WaitGroup
		errs := make([]error, 2)
		for i, e := range [][2]uuid.UUID{{x, y}, {y, x}} {
			both.Add(1)
			go func() { defer both.Done(); _, errs[i] = f.triggers.Create(f.ctx, f.orgID, e[1], e[0], trigger.OnApply) }()
		}
		both.Wait()
		if errs[0] == nil && errs[1] == nil {
			t.Fatal("x → y and y → x both succeeded")
		}
		_ = f.triggers.Delete(f.ctx, f.orgID, y, x)
		_ = f.triggers.Delete(f.ctx, f.orgID, x, y)
	}
	wg.Wait()
	// Check acyclicity of the final graph with a plain DFS.
	next := map[uuid.UUID][]uuid.UUID{}
	for _, d := range f.ws {
		list, err := f.triggers.List(f.ctx, f.orgID, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list {
			next[e.UpstreamID] = append(next[e.UpstreamID], d)
		}
	}
	state := map[uuid.UUID]int{}
	var visit func(uuid.UUID)
	visit = func(n uuid.UUID) {
		switch state[n] {
		case 1:
			t.Fatalf("cycle through %s", f.names[n])
		case 2:
			return
		}
		state[n] = 1
		for _, m := range next[n] {
			visit(m)
		}
		state[n] = 2
	}
	for _, n := range f.ws {
		visit(n)
	}
}
