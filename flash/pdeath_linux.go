package flash

import (
	"runtime"
	"syscall"
)

// dieWithStation makes the kernel SIGKILL the tool when the station dies,
// however it dies (SIGKILL included): an orphaned tool once went on and
// erased a unit the restarted station had recorded PASS.
//
// The parent-death signal fires when the *thread* that forked the tool
// exits, not the process. Go may end an OS thread whose goroutine exits
// while locked to it, so Run locks its goroutine to the thread from Start
// to Wait (see lockThread): the forking thread then outlives the tool.
func dieWithStation(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }

// lockThread pins the calling goroutine to its OS thread until the
// returned func is called (after Wait).
func lockThread() (unlock func()) {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}
