package station

import (
	"fmt"
	"testing"
	"time"
)

// A Latest subscriber that stopped reading (a paused terminal) does not
// grow for ever: past its backlog, what it missed becomes the current
// state of every slot, and once it reads again it sees that state and
// everything after.
func TestStalledLatestSubscriberStaysBounded(t *testing.T) {
	b := NewBus()
	for _, slot := range []string{"S1", "S2"} {
		b.Publish(Event{Kind: SlotChanged, Slot: slot, Status: &SlotStatus{State: SlotEmpty}})
	}
	sub := b.Subscribe(16, Latest)
	defer sub.Close()
	for i := range 100_000 {
		b.Publish(Event{Kind: Note, Slot: "S1", Text: fmt.Sprint("note ", i)})
	}
	b.Publish(Event{Kind: SlotChanged, Slot: "S2", Status: &SlotStatus{State: SlotDisabled}})
	sub.mu.Lock()
	queued := len(sub.queue)
	sub.mu.Unlock()
	if queued > latestBacklog*16+2 {
		t.Fatalf("%d events queued for a subscriber that does not read (limit %d)", queued, latestBacklog*16+2)
	}
	b.Publish(Event{Kind: Note, Slot: "S1", Text: "last"})
	states := map[string]SlotState{}
	for {
		select {
		case ev := <-sub.C:
			if ev.Kind == SlotChanged {
				states[ev.Slot] = ev.Status.State
			}
			if ev.Text != "last" {
				continue
			}
			if states["S1"] != SlotEmpty || states["S2"] != SlotDisabled {
				t.Fatalf("state after catching up: %v", states)
			}
			return
		case <-time.After(10 * time.Second):
			t.Fatal("the last event never arrived")
		}
	}
}
