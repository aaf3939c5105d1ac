// Command station provisions nRF9151 units on a factory line; see
// docs/contract.md for its commands and docs/cli/ for every flag. This
// package only wires: commands and flags (spf13/cobra), config, the engine
// and its parts, and the choice of output.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"nrfline/sim/faketool"
)

func main() {
	// The virtual line's fake nrfjprog/nrfutil are this binary under
	// another name; they must run before anything else.
	faketool.Dispatch()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
