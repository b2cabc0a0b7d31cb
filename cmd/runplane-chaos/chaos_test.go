package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// A short drill: real runs through every kind of fault, and no promise
// broken. `make chaos` runs the long one.
func TestShortDrillBreaksNothing(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "runplane")
	if out, err := exec.Command("go", "build", "-o", bin, "../runplane").CombinedOutput(); err != nil {
		t.Fatalf("building runplane: %v\n%s", err, out)
	}
	log, err := os.CreateTemp(t.TempDir(), "chaos-*.log")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), Config{Duration: 40 * time.Second, Workspaces: 4, Binary: bin, Seed: time.Now().UnixNano()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.String())
	if rep.Violations() > 0 {
		t.Fatalf("the drill broke promises (server log: %s)", log.Name())
	}
	faults := 0
	for _, n := range rep.Faults {
		faults += n
	}
	if faults < 3 || rep.ByStatus["applied"] == 0 {
		t.Fatalf("the drill did too little: %d faults, %d applied", faults, rep.ByStatus["applied"])
	}
}
