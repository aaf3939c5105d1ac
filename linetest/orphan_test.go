package linetest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"nrfline/sim/faketool"
	"nrfline/station"
)

// A station killed with SIGKILL while its flash tool works on a unit takes
// the tool with it: an orphaned tool went on and erased a unit that the
// restarted station had already recorded PASS.
func TestKilledStationLeavesNoFlashTool(t *testing.T) {
	// A protected chip makes the station recover it: 8 s at speed 1. After
	// its first line the tool prints nothing for 4 s, so no broken pipe
	// ends it in the second that counts.
	l := startLine(t, lineSpec{units: 1, speed: 1, faults: "protected:1"})
	cmd, _ := startBatchUntil(t, l, func(ev station.Event) bool {
		return ev.Kind == station.ToolOutput && strings.Contains(ev.Text, "Erasing user code and UICR flash areas")
	})
	sock := []byte(faketool.EnvControl + "=" + filepath.Join(l.dir, "control.sock") + "\x00")
	tools := toolsOf(sock)
	if len(tools) == 0 {
		t.Fatal("no flash tool process is running: the test would prove nothing")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	time.Sleep(time.Second)
	if left := toolsOf(sock); len(left) > 0 {
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Fatalf("flash tool processes %v outlived the killed station by 1 s", left)
	}
}

// toolsOf lists the live processes whose environment names this line's
// probe control socket: the fake flash tools (a zombie is not alive).
func toolsOf(envEntry []byte) []int {
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err != nil || !bytes.Contains(env, envEntry) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat")); err == nil && bytes.Contains(st, []byte(") Z ")) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}
