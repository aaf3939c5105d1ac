package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"nrfline/discover"
	"nrfline/station"
)

func newDevicesCmd(g *globalFlags) *cobra.Command {
	var cfgPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "devices [--json] [--config FILE]",
		Short: "The probes and ports the station sees on USB, with their slot",
		Long: `The units the station can see now: probe serial, board, ports (VCOM0 first), physical USB
location and, with --config, the slot each belongs to (by USB location, probe or port).
With a virtual line's config (line.sysfs_root) it lists that line's units.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var slots []station.Slot
			lister := discover.Lister{Log: g.logger(cmd.ErrOrStderr())}
			if cfgPath != "" {
				cfg, err := loadConfig(cfgPath)
				if err != nil {
					return err
				}
				slots, lister.SysRoot = cfg.SlotList(), cfg.Line.SysfsRoot
			}
			lctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			devices, err := lister.Devices(lctx)
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

// slotOf names the slot a device belongs to, matching as the engine does:
// by USB location, then probe, then port.
func slotOf(d discover.Device, slots []station.Slot) string {
	for _, match := range []func(station.Slot) bool{
		func(s station.Slot) bool { return s.USB != "" && s.USB == d.USB },
		func(s station.Slot) bool { return s.Probe != "" && s.Probe == d.Probe },
		func(s station.Slot) bool {
			return s.Port != "" && slices.ContainsFunc(d.Ports, func(p discover.Port) bool { return samePort(s.Port, p.Path) })
		},
	} {
		for _, s := range slots {
			if match(s) {
				return s.Name
			}
		}
	}
	return ""
}

// samePort reports whether two paths name one device node (a slot's port
// may be a stable link to the /dev/ttyACMn sysfs names).
func samePort(a, b string) bool {
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return filepath.Clean(a) == filepath.Clean(b) || (errA == nil && errB == nil && ra == rb)
}

func printDevicesJSON(w io.Writer, devices []discover.Device, slots []station.Slot) error {
	out := make([]deviceView, len(devices))
	for i, d := range devices {
		out[i] = deviceView{Device: d, Slot: slotOf(d, slots)}
	}
	return writeJSON(w, out)
}

func printDevices(w io.Writer, devices []discover.Device, slots []station.Slot) {
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", dash(slotOf(d, slots)), dash(d.Probe), dash(d.Board), dash(d.USB), strings.Join(ports, ", "))
	}
	tw.Flush()
}
