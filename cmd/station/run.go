package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newRunCmd is the bench TUI's command; the TUI itself is not wired yet.
func newRunCmd(g *globalFlags) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "The bench TUI on the fixture that FILE describes (not implemented yet)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErr("%w", errors.New("not implemented yet (use station batch)"))
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "station config file")
	return cmd
}
