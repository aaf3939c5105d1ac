package station

import (
	"fmt"
	"time"
)

// SlotState is where a slot is in its life on the line.
//
//	EMPTY → PRESENT → RUNNING(step, percent) → DONE(verdict) → EMPTY (unit removed)
//	any   → DISABLED (operator) → EMPTY/PRESENT (Enable)
//	DONE  → LOCKED (rules.lock_after) → … (Enable)
type SlotState string

const (
	SlotEmpty    SlotState = "EMPTY"    // no unit
	SlotPresent  SlotState = "PRESENT"  // a unit waits for Start (autostart off, or after a refusal)
	SlotRunning  SlotState = "RUNNING"  // a pipeline runs
	SlotDone     SlotState = "DONE"     // Last holds the verdict; waits for the unit to be removed or retested
	SlotLockedSt SlotState = "LOCKED"   // too many fixture failures in a row; Enable unlocks
	SlotDisabled SlotState = "DISABLED" // taken out of service by the operator
)

// SlotStatus is everything the engine knows of one slot: what a screen
// draws. It is a copy; the engine owns the real state.
type SlotStatus struct {
	Slot     Slot      `json:"slot"`              // as configured; Probe is the present probe for a usb-only slot
	State    SlotState `json:"state"`             //
	Device   *Device   `json:"device,omitempty"`  // the device present, if any
	Run      string    `json:"run,omitempty"`     // the current or last run
	Step     StepName  `json:"step,omitempty"`    // RUNNING: the current step
	Percent  int       `json:"percent,omitempty"` // RUNNING: progress of the step, when known
	Since    time.Time `json:"since"`             // when the state (for RUNNING: the step) began
	Started  time.Time `json:"started,omitzero"`  // RUNNING/DONE: when the run began
	Identity *Identity `json:"identity,omitempty"`
	Last     *Verdict  `json:"last,omitempty"`   // the last verdict of this slot
	Reason   string    `json:"reason,omitempty"` // LOCKED/DISABLED/PRESENT after a refusal: why
	Failures int       `json:"failures,omitempty"`
}

// Refusal is an operator command the engine did not carry out, with the
// reason in words an operator understands.
type Refusal struct {
	Command string
	Slot    string
	Reason  string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("%s %s: %s", r.Command, r.Slot, r.Reason)
}
