package station

import (
	"testing"
	"testing/synctest"
)

// A RECORD_FAILED verdict names the step where the recording failed, so
// that the verdict line never reads "RECORD_FAILED at " with nothing after.
func TestRecordFailedNamesItsStep(t *testing.T) {
	for _, tc := range []struct {
		kind EventKind
		want StepName
	}{
		{VerdictReached, StepRecord}, // every step passed; the verdict's commit failed
		{RunStarted, StepRecord},     // the run's start could not be recorded
		{StepStarted, StepConnect},   // the first step's start could not be recorded
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				h.recorder.failKinds = map[EventKind]bool{tc.kind: true}
				v := h.runOne(t)
				if v.Code != RecordFailed || v.Step != tc.want {
					t.Fatalf("verdict %s %s at %q, want RECORD_FAILED at %q", v.Outcome, v.Code, v.Step, tc.want)
				}
			})
		})
	}
}
