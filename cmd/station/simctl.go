package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"nrfline/sim"
)

// newSimCtlCmd is `station sim ctl --dir DIR plug|unplug|replace UNIT`.
func newSimCtlCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "ctl --dir DIR plug|unplug|replace UNIT",
		Short: "Hot-plug a unit of the virtual line running in DIR",
		Long: `Hot-plug on a running virtual line. unplug pulls unit UNIT out of its place (its port goes
away, a run in flight ends UNIT_UNPLUGGED); plug puts the same unit back; replace plugs a
new unit (new IMEI, new probe serial) into the same USB location, as on a line of DK-style
units that each bring their own J-Link.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageErr("want plug|unplug|replace and a unit number, got %d argument(s)", len(args))
			}
			switch args[0] {
			case sim.VerbPlug, sim.VerbUnplug, sim.VerbReplace:
			default:
				return usageErr("unknown verb %q (want plug, unplug or replace)", args[0])
			}
			if n, err := strconv.Atoi(args[1]); err != nil || n < 1 {
				return usageErr("unit must be a number from 1, got %q", args[1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag(cmd.Flags(), "dir"); err != nil {
				return err
			}
			n, _ := strconv.Atoi(args[1])
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			text, err := sim.Control(ctx, dir, args[0], n)
			if err != nil {
				return usageErr("%w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), text)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "the line's folder (required)")
	return cmd
}
