package sim

import (
	"strings"
	"testing"
)

func TestParseFaults(t *testing.T) {
	got, err := ParseFaults("protected:1,portal-500:2-3,unplug@inject:4,lte-never", 4)
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].Protected || got[1].Protected || !got[1].Portal500 || !got[2].Portal500 || got[3].Portal500 {
		t.Errorf("unit selection wrong: %+v", got)
	}
	if got[3].UnplugAt != "inject" {
		t.Errorf("unplug step %q", got[3].UnplugAt)
	}
	for i, f := range got {
		if !f.LTENever {
			t.Errorf("unit %d: fault without units must apply to all", i+1)
		}
	}
	for _, bad := range []string{"melted", "protected:5", "protected:0", "unplug@lunch", "protected:3-2", "silent:x"} {
		if _, err := ParseFaults(bad, 4); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, name := range strings.Fields("protected verify-error jlink-transient silent garbage cme-515 stale-server-creds lte-never reset-during-bootstrap bootstrap-reject portal-500 portal-slow portal-timeout unplug@flash") {
		if !strings.Contains(FaultHelp, strings.SplitN(name, "@", 2)[0]) {
			t.Errorf("help does not document %s", name)
		}
		if _, err := ParseFaults(name, 1); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
