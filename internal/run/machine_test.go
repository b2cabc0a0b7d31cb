package run

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// table is docs/run-lifecycle.md written out independently of Next, as (from, event, to).
var table = map[[2]string][]Status{}

func init() {
	add := func(e Event, to Status, from ...Status) {
		for _, f := range from {
			k := [2]string{string(f), string(e)}
			table[k] = append(table[k], to)
		}
	}
	add(EventAdmit, StatusPlanQueued, StatusPending)
	add(EventPlanClaimed, StatusPlanning, StatusPlanQueued)
	add(EventPlanFinished, StatusPlannedAndFinished, StatusPlanning)
	add(EventPlanFinished, StatusPolicyChecking, StatusPlanning)
	add(EventPlanFinished, StatusPlanned, StatusPlanning)
	add(EventPolicyPassed, StatusPolicyChecked, StatusPolicyChecking)
	add(EventPolicySoftFailed, StatusPolicyOverride, StatusPolicyChecking)
	add(EventPolicyHardFailed, StatusErrored, StatusPolicyChecking)
	add(EventOverride, StatusPolicyChecked, StatusPolicyOverride)
	add(EventConfirm, StatusConfirmed, StatusPlanned, StatusPolicyChecked)
	add(EventApplyQueue, StatusApplyQueued, StatusConfirmed)
	add(EventApplyClaimed, StatusApplying, StatusApplyQueued)
	add(EventApplyFinished, StatusApplied, StatusApplying)
	add(EventFail, StatusErrored, StatusPlanning, StatusApplying, StatusPolicyChecking)
	add(EventPlanLeaseExpired, StatusPlanQueued, StatusPlanning)
	add(EventPlanLeaseExpired, StatusErrored, StatusPlanning)
	add(EventApplyLeaseExpired, StatusErrored, StatusApplying)
	add(EventCancel, StatusCanceled, StatusPending, StatusPlanQueued, StatusApplyQueued)
	add(EventCancel, StatusPlanning, StatusPlanning) // cancel requested, agent interrupts
	add(EventCancel, StatusApplying, StatusApplying)
	add(EventAgentCanceled, StatusCanceled, StatusPlanning, StatusApplying)
	add(EventForceCancel, StatusForceCanceled, StatusPlanning, StatusApplying)
	add(EventDiscard, StatusDiscarded, StatusPending, StatusPlanned, StatusPolicyChecking, StatusPolicyChecked, StatusPolicyOverride)
}

func inTable(from Status, e Event, to Status) bool {
	for _, s := range table[[2]string{string(from), string(e)}] {
		if s == to {
			return true
		}
	}
	return false
}

func randomFacts(r *rand.Rand, now time.Time) Facts {
	f := Facts{
		PlanOnly:           r.IntN(4) == 0,
		HasChanges:         r.IntN(2) == 0,
		PoliciesExist:      r.IntN(2) == 0,
		PlanAttempts:       r.IntN(5),
		MaxPlanAttempts:    3,
		ForceCancelCoolOff: 10 * time.Second,
		Now:                now,
	}
	if r.IntN(2) == 0 {
		at := now.Add(-time.Duration(r.IntN(20)) * time.Second)
		f.CancelRequestedAt = &at
	}
	return f
}

// checkStep asserts the properties of one Next call and returns the new status.
func checkStep(t *testing.T, s Status, e Event, f Facts) Status {
	t.Helper()
	tr, err := Next(s, e, f)
	if err != nil {
		if !errors.Is(err, ErrTransition) {
			t.Fatalf("%s from %s: error does not wrap ErrTransition: %v", e, s, err)
		}
		return s
	}
	if s.Terminal() {
		t.Fatalf("terminal %s moved to %s on %s", s, tr.To, e)
	}
	if !inTable(s, e, tr.To) {
		t.Fatalf("%s from %s went to %s, not in the table", e, s, tr.To)
	}
	if tr.To.Holds(true) {
		t.Fatalf("plan-only run holds the workspace in %s", tr.To)
	}
	if f.PlanOnly && (tr.To == StatusPlanned || tr.To == StatusPolicyChecking) {
		t.Fatalf("plan-only run reached %s", tr.To)
	}
	if tr.To == StatusForceCanceled && (f.CancelRequestedAt == nil || f.Now.Before(f.CancelRequestedAt.Add(f.ForceCancelCoolOff))) {
		t.Fatalf("force-cancel allowed before cancel + cool-off")
	}
	if tr.To == StatusPlanQueued && e == EventPlanLeaseExpired && f.PlanAttempts >= f.MaxPlanAttempts {
		t.Fatalf("plan retried beyond %d attempts", f.MaxPlanAttempts)
	}
	return tr.To
}

func TestNextRandomSequences(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	// Both words of the generator's state come from the seed: with the
	// second fixed at 0, seed 1796244113044785159 drew 300,000 steps that
	// never once reached applied (other seeds: 100-250 times).
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	now := time.Now()
	reached := map[Status]bool{}
	for range 5000 {
		s := StatusPending
		for range 60 {
			f := randomFacts(r, now)
			e := AllEvents[r.IntN(len(AllEvents))]
			// Mostly pick an allowed event so walks get deep into the lifecycle.
			if allowed := allowedEvents(s, f); len(allowed) > 0 && r.IntN(4) > 0 {
				e = allowed[r.IntN(len(allowed))]
			}
			s = checkStep(t, s, e, f)
			reached[s] = true
		}
	}
	for _, s := range AllStatuses {
		if !reached[s] {
			t.Errorf("random walks never reached %s", s)
		}
	}
}

func allowedEvents(s Status, f Facts) []Event {
	var out []Event
	for _, e := range AllEvents {
		if _, err := Next(s, e, f); err == nil {
			out = append(out, e)
		}
	}
	return out
}

func TestNextTableComplete(t *testing.T) {
	t.Parallel()
	// Every table row is reachable with some facts: Next is not stricter than docs/run-lifecycle.md.
	now := time.Now()
	past := now.Add(-time.Minute)
	facts := []Facts{
		{Now: now, MaxPlanAttempts: 3},
		{Now: now, MaxPlanAttempts: 3, HasChanges: true},
		{Now: now, MaxPlanAttempts: 3, HasChanges: true, PoliciesExist: true},
		{Now: now, MaxPlanAttempts: 3, PlanAttempts: 3, CancelRequestedAt: &past, ForceCancelCoolOff: time.Second},
	}
	for k, tos := range table {
		for _, to := range tos {
			found := false
			for _, f := range facts {
				if tr, err := Next(Status(k[0]), Event(k[1]), f); err == nil && tr.To == to {
					found = true
				}
			}
			if !found && !(k[1] == string(EventCancel) && to != StatusCanceled) {
				t.Errorf("%s from %s to %s: never allowed", k[1], k[0], to)
			}
		}
	}
}

func TestTerminalAndHolding(t *testing.T) {
	t.Parallel()
	for _, s := range AllStatuses {
		if s.Terminal() && s.Holds(false) {
			t.Errorf("terminal %s holds the workspace", s)
		}
		if s.Holds(true) {
			t.Errorf("plan-only run holds in %s", s)
		}
	}
	if StatusPending.Holds(false) {
		t.Error("pending run holds the workspace")
	}
}

func TestForceCancelNeedsCancelAndCoolOff(t *testing.T) {
	t.Parallel()
	now := time.Now()
	f := Facts{Now: now, ForceCancelCoolOff: 10 * time.Second}
	if _, err := Next(StatusApplying, EventForceCancel, f); !errors.Is(err, ErrTransition) {
		t.Fatalf("force-cancel without cancel: %v", err)
	}
	recent := now.Add(-2 * time.Second)
	f.CancelRequestedAt = &recent
	if _, err := Next(StatusApplying, EventForceCancel, f); !errors.Is(err, ErrTransition) {
		t.Fatalf("force-cancel inside cool-off: %v", err)
	}
	old := now.Add(-11 * time.Second)
	f.CancelRequestedAt = &old
	if tr, err := Next(StatusApplying, EventForceCancel, f); err != nil || tr.To != StatusForceCanceled {
		t.Fatalf("force-cancel after cool-off: %v %v", tr, err)
	}
}

func FuzzNext(f *testing.F) {
	f.Add(uint8(0), uint8(0), false, true, false, uint8(1), int8(-1), int16(5))
	f.Add(uint8(4), uint8(2), true, true, true, uint8(3), int8(12), int16(10))
	f.Fuzz(func(t *testing.T, si, ei uint8, planOnly, changes, policies bool, attempts uint8, cancelAgo int8, coolOff int16) {
		now := time.Unix(1_700_000_000, 0)
		facts := Facts{
			PlanOnly: planOnly, HasChanges: changes, PoliciesExist: policies,
			PlanAttempts: int(attempts), MaxPlanAttempts: 3,
			ForceCancelCoolOff: time.Duration(coolOff) * time.Second, Now: now,
		}
		if cancelAgo >= 0 {
			at := now.Add(-time.Duration(cancelAgo) * time.Second)
			facts.CancelRequestedAt = &at
		}
		s := AllStatuses[int(si)%len(AllStatuses)]
		e := AllEvents[int(ei)%len(AllEvents)]
		checkStep(t, s, e, facts)
	})
}
