package run

import (
	"fmt"
	"time"

	"github.com/runplane/runplane/internal/fault"
)

// Status is a run's place in its lifecycle (docs/architecture.md §3).
type Status string

const (
	StatusPending            Status = "pending"
	StatusPlanQueued         Status = "plan_queued"
	StatusPlanning           Status = "planning"
	StatusPlanned            Status = "planned"
	StatusPolicyChecking     Status = "policy_checking"
	StatusPolicyChecked      Status = "policy_checked"
	StatusPolicyOverride     Status = "policy_override"
	StatusConfirmed          Status = "confirmed"
	StatusApplyQueued        Status = "apply_queued"
	StatusApplying           Status = "applying"
	StatusApplied            Status = "applied"
	StatusPlannedAndFinished Status = "planned_and_finished"
	StatusErrored            Status = "errored"
	StatusCanceled           Status = "canceled"
	StatusForceCanceled      Status = "force_canceled"
	StatusDiscarded          Status = "discarded"
)

// AllStatuses lists every status, for tests and validation.
var AllStatuses = []Status{
	StatusPending, StatusPlanQueued, StatusPlanning, StatusPlanned, StatusPolicyChecking,
	StatusPolicyChecked, StatusPolicyOverride, StatusConfirmed, StatusApplyQueued, StatusApplying,
	StatusApplied, StatusPlannedAndFinished, StatusErrored, StatusCanceled, StatusForceCanceled,
	StatusDiscarded,
}

// Terminal reports whether no event can move a run out of s.
func (s Status) Terminal() bool {
	switch s {
	case StatusApplied, StatusPlannedAndFinished, StatusErrored, StatusCanceled,
		StatusForceCanceled, StatusDiscarded:
		return true
	}
	return false
}

// Holds reports whether a run in status s owns its workspace (invariant 1, docs/architecture.md):
// from admission until it is terminal. Plan-only runs never hold it.
func (s Status) Holds(planOnly bool) bool {
	return !planOnly && s != StatusPending && !s.Terminal()
}

// executing is 1 for statuses in which an agent runs a job: the
// organization's running counter follows it.
func (s Status) executing() int32 {
	if s == StatusPlanning || s == StatusApplying {
		return 1
	}
	return 0
}

// waiting is whether a run in status s waits for an agent to claim it.
func (s Status) waiting() bool {
	return s == StatusPlanQueued || s == StatusApplyQueued
}

// HoldingStatuses are the statuses in which a non-plan-only run owns its workspace.
func HoldingStatuses() []string {
	var out []string
	for _, s := range AllStatuses {
		if s.Holds(false) {
			out = append(out, string(s))
		}
	}
	return out
}

// Event is something that happens to a run: a user action, an agent report,
// the scheduler's admission or a lease expiry.
type Event string

const (
	EventAdmit             Event = "admit"
	EventPlanClaimed       Event = "plan_claimed"
	EventPlanFinished      Event = "plan_finished"
	EventPolicyPassed      Event = "policy_passed"
	EventPolicySoftFailed  Event = "policy_soft_failed"
	EventPolicyHardFailed  Event = "policy_hard_failed"
	EventOverride          Event = "override"
	EventConfirm           Event = "confirm"
	EventApplyQueue        Event = "apply_queue"
	EventApplyClaimed      Event = "apply_claimed"
	EventApplyFinished     Event = "apply_finished"
	EventFail              Event = "fail"
	EventPlanLeaseExpired  Event = "plan_lease_expired"
	EventApplyLeaseExpired Event = "apply_lease_expired"
	EventCancel            Event = "cancel"
	EventAgentCanceled     Event = "agent_canceled"
	EventForceCancel       Event = "force_cancel"
	EventDiscard           Event = "discard"
)

// AllEvents lists every event, for tests.
var AllEvents = []Event{
	EventAdmit, EventPlanClaimed, EventPlanFinished, EventPolicyPassed, EventPolicySoftFailed,
	EventPolicyHardFailed, EventOverride, EventConfirm, EventApplyQueue, EventApplyClaimed,
	EventApplyFinished, EventFail, EventPlanLeaseExpired, EventApplyLeaseExpired, EventCancel,
	EventAgentCanceled, EventForceCancel, EventDiscard,
}

// ErrTransition is returned when an event is not allowed in the run's status.
var ErrTransition = fault.New(fault.Conflict, "invalid_transition", "transition not allowed")

// Facts are what the guards of a transition look at.
type Facts struct {
	PlanOnly bool
	// HasChanges and PoliciesExist decide where a finished plan goes.
	HasChanges    bool
	PoliciesExist bool
	// PlanAttempts is how many plan phases have started, including the current one.
	PlanAttempts    int
	MaxPlanAttempts int
	// CancelRequestedAt is when cancel was first asked of a planning or applying run.
	CancelRequestedAt  *time.Time
	ForceCancelCoolOff time.Duration
	Now                time.Time
}

// Transition is the outcome of an allowed event.
type Transition struct {
	From, To Status
	Event    Event
	// CancelRequested: the run stays where it is and its agent is asked to stop.
	CancelRequested bool
	// LockReason, when set, locks the workspace: the run left state that a
	// person must verify before anything else runs there.
	LockReason string
}

// ApplyInterruptedReason is the lock reason after an apply lost its agent.
const ApplyInterruptedReason = "apply interrupted: verify state"

// Next computes the transition for event e from status s, or an error wrapping
// ErrTransition. It is pure: the service applies the result.
func Next(s Status, e Event, f Facts) (Transition, error) {
	to, err := next(s, e, f)
	if err != nil {
		return Transition{}, err
	}
	t := Transition{From: s, To: to, Event: e}
	switch {
	case e == EventCancel && (s == StatusPlanning || s == StatusApplying):
		t.CancelRequested = true
	case e == EventApplyLeaseExpired:
		t.LockReason = ApplyInterruptedReason
	}
	return t, nil
}

func next(s Status, e Event, f Facts) (Status, error) {
	deny := func(why string) (Status, error) {
		if why == "" {
			return "", fmt.Errorf("%w: %s from %s", ErrTransition, e, s)
		}
		return "", fmt.Errorf("%w: %s from %s: %s", ErrTransition, e, s, why)
	}
	switch e {
	case EventAdmit:
		if s == StatusPending {
			return StatusPlanQueued, nil
		}
	case EventPlanClaimed:
		if s == StatusPlanQueued {
			return StatusPlanning, nil
		}
	case EventPlanFinished:
		if s == StatusPlanning {
			switch {
			case f.PlanOnly || !f.HasChanges:
				return StatusPlannedAndFinished, nil
			case f.PoliciesExist:
				return StatusPolicyChecking, nil
			default:
				return StatusPlanned, nil
			}
		}
	case EventPolicyPassed:
		if s == StatusPolicyChecking {
			return StatusPolicyChecked, nil
		}
	case EventPolicySoftFailed:
		if s == StatusPolicyChecking {
			return StatusPolicyOverride, nil
		}
	case EventPolicyHardFailed:
		if s == StatusPolicyChecking {
			return StatusErrored, nil
		}
	case EventOverride:
		if s == StatusPolicyOverride {
			return StatusPolicyChecked, nil
		}
	case EventConfirm:
		if s == StatusPlanned || s == StatusPolicyChecked {
			return StatusConfirmed, nil
		}
	case EventApplyQueue:
		if s == StatusConfirmed {
			return StatusApplyQueued, nil
		}
	case EventApplyClaimed:
		if s == StatusApplyQueued {
			return StatusApplying, nil
		}
	case EventApplyFinished:
		if s == StatusApplying {
			return StatusApplied, nil
		}
	case EventFail:
		if s == StatusPlanning || s == StatusApplying || s == StatusPolicyChecking {
			return StatusErrored, nil
		}
	case EventPlanLeaseExpired:
		if s == StatusPlanning {
			if f.PlanAttempts < f.MaxPlanAttempts {
				return StatusPlanQueued, nil
			}
			return StatusErrored, nil
		}
	case EventApplyLeaseExpired:
		if s == StatusApplying {
			return StatusErrored, nil
		}
	case EventCancel:
		switch s {
		case StatusPending, StatusPlanQueued, StatusApplyQueued:
			return StatusCanceled, nil
		case StatusPlanning, StatusApplying:
			if f.CancelRequestedAt != nil {
				return deny("cancel already requested")
			}
			return s, nil
		}
	case EventAgentCanceled:
		if (s == StatusPlanning || s == StatusApplying) && f.CancelRequestedAt != nil {
			return StatusCanceled, nil
		}
	case EventForceCancel:
		if s == StatusPlanning || s == StatusApplying {
			if f.CancelRequestedAt == nil {
				return deny("cancel the run first")
			}
			if wait := f.CancelRequestedAt.Add(f.ForceCancelCoolOff).Sub(f.Now); wait > 0 {
				return deny(fmt.Sprintf("force-cancel is allowed %s after cancel; %s left",
					f.ForceCancelCoolOff, wait.Round(time.Second)))
			}
			return StatusForceCanceled, nil
		}
	case EventDiscard:
		switch s {
		// policy_checking too: a check that cannot read the plan for a
		// while must not trap the run.
		case StatusPending, StatusPlanned, StatusPolicyChecking, StatusPolicyChecked, StatusPolicyOverride:
			return StatusDiscarded, nil
		}
	}
	return deny("")
}
