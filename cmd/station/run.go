package main

import (
	"github.com/spf13/cobra"
)

// newRunCmd is the bench TUI on a real fixture.
func newRunCmd(g *globalFlags) *cobra.Command {
	var cfgPath string
	var o tuiOptions
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "The bench TUI on the fixture that FILE describes",
		Long: `The bench TUI on the fixture that FILE describes: one card per slot, the verdict large until
the next unit, a bell on every verdict. It asks for the operator id first (a barcode scanner
types it and sends Enter). Keys: arrows or h/j/k/l select a slot, Enter its detail, s start,
r retest, a abort, d disable/enable, o operator, ? help, q quit (asks while units run).

Diagnostics go to --log (default: station-tui.log beside the database) while the TUI owns the
terminal. Without a terminal, use station batch.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfgPath == "" {
				return usageErr("--config FILE is required")
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			if !isTerminal(cmd.OutOrStdout()) {
				return usageErr("station run needs a terminal; use station batch for headless output")
			}
			if o.logPath == "" {
				o.logPath = defaultTUILog(cfg)
			}
			logger, f, err := tuiLog(g, o.logPath)
			if err != nil {
				return err
			}
			defer f.Close()
			return runTUI(cmd.Context(), cfg, o, logger, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "station config file")
	o.register(cmd)
	return cmd
}

func (o *tuiOptions) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.operator, "operator", "", "operator id (skips the prompt)")
	cmd.Flags().StringVar(&o.logPath, "log", "", "diagnostics log file while the TUI runs")
}
