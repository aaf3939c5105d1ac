//go:build !unix

package flash

import (
	"os"
	"os/exec"
)

// interruptFirst asks the tool to stop; where interrupts are not supported
// exec kills it WaitDelay later.
func interruptFirst(cmd *exec.Cmd) {
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
}

// killGroup has nothing more to do without process groups.
func killGroup(*exec.Cmd) {}
