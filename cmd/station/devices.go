package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"nrfline/discover"
)

func newDevicesCmd(g *globalFlags) *cobra.Command {
	var cfgPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "devices [--json] [--config FILE]",
		Short: "The probes and ports the station sees on USB, with their slot",
		Long: `The units the station can see now: probe serial, board, ports (VCOM0 first), physical USB
location and, with --config, the slot each probe belongs to. Virtual-line units are on
ptys and never listed here.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			slots := map[string]string{}
			if cfgPath != "" {
				cfg, err := loadConfig(cfgPath)
				if err != nil {
					return err
				}
				for _, s := range cfg.SlotList() {
					slots[s.Probe] = s.Name
				}
			}
			lctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			devices, err := discover.Lister{Log: g.logger(cmd.ErrOrStderr())}.Devices(lctx)
			if err != nil {
				return infraErr(err)
			}
			if asJSON {
				return printDevicesJSON(cmd.OutOrStdout(), devices, slots)
			}
			printDevices(cmd.OutOrStdout(), devices, slots)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	cmd.Flags().StringVar(&cfgPath, "config", "", "station config, to show which slot each probe is")
	return cmd
}

type deviceView struct {
	discover.Device
	Slot string `json:"slot,omitempty"`
}

func printDevicesJSON(w io.Writer, devices []discover.Device, slots map[string]string) error {
	out := make([]deviceView, len(devices))
	for i, d := range devices {
		out[i] = deviceView{Device: d, Slot: slots[d.Probe]}
	}
	return writeJSON(w, out)
}

func printDevices(w io.Writer, devices []discover.Device, slots map[string]string) {
	if len(devices) == 0 {
		fmt.Fprintln(w, "no USB serial devices found")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tPROBE\tBOARD\tUSB\tPORTS")
	for _, d := range devices {
		var ports []string
		for _, p := range d.Ports {
			ports = append(ports, fmt.Sprintf("%s (vcom%d)", p.Path, p.VCOM))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", dash(slots[d.Probe]), dash(d.Probe), dash(d.Board), dash(d.USB), strings.Join(ports, ", "))
	}
	tw.Flush()
}
