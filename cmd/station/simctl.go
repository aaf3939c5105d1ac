package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"nrfline/sim"
)

// newSimCtlCmd is `station sim ctl --dir DIR plug|unplug|replace UNIT`
// (and `clone UNIT OF`).
func newSimCtlCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "ctl --dir DIR plug|unplug|replace UNIT | clone UNIT OF",
		Short: "Hot-plug a unit of the virtual line running in DIR",
		Long: `Hot-plug on a running virtual line. unplug pulls unit UNIT out of its place (its port goes
away, a run in flight ends UNIT_UNPLUGGED); plug puts the same unit back; replace plugs a
new unit (new IMEI, new probe serial) into the same USB location, as on a line of DK-style
units that each bring their own J-Link. clone UNIT OF is replace with a new unit that
carries unit OF's IMEI (a cloned IMEI: the station refuses the second of two units with
one IMEI in the fixture, DUPLICATE_IMEI).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("want plug, unplug, replace or clone and a unit number")
			}
			want := 2
			switch args[0] {
			case sim.VerbPlug, sim.VerbUnplug, sim.VerbReplace:
			case sim.VerbClone:
				want = 3
			default:
				return usageErr("unknown verb %q (want plug, unplug, replace or clone)", args[0])
			}
			if len(args) != want {
				return usageErr("%s takes %d unit number(s), got %d argument(s)", args[0], want-1, len(args)-1)
			}
			for _, a := range args[1:] {
				if n, err := strconv.Atoi(a); err != nil || n < 1 {
					return usageErr("unit must be a number from 1, got %q", a)
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag(cmd.Flags(), "dir"); err != nil {
				return err
			}
			units := make([]int, 0, 2)
			for _, a := range args[1:] {
				n, _ := strconv.Atoi(a)
				units = append(units, n)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			text, err := sim.Control(ctx, dir, args[0], units...)
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
