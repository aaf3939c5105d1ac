//go:build !linux

package flash

import "syscall"

// dieWithStation: only Linux has a parent-death signal; the station runs
// on Linux, this keeps the package building elsewhere.
func dieWithStation(*syscall.SysProcAttr) {}

func lockThread() (unlock func()) { return func() {} }
