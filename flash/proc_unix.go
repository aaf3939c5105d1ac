//go:build unix

package flash

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// interruptFirst runs the tool in its own process group, so that a tool's
// helpers (nrfjprog's J-Link worker) go down with it and the operator's
// Ctrl-C reaches the station, which then stops the tool in order. On
// cancellation the group gets SIGINT; exec kills the tool WaitDelay later.
// On Linux the tool is also SIGKILLed when the station dies.
func interruptFirst(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithStation(cmd.SysProcAttr)
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
}

// killGroup kills what is left of an interrupted tool's process group.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // ESRCH: nothing left
	}
}
