package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"nrfline/inject/usb"
	"nrfline/station"
)

func runDevices(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("devices", "devices [--json] [--config FILE]",
		"The units the station can see now: probe serial, board, ports (VCOM0 first), physical USB location\n"+
			"and, with --config, the slot each probe belongs to. Virtual-line units are on ptys and never listed here.", stderr)
	asJSON := fs.Bool("json", false, "JSON output")
	cfgPath := fs.String("config", "", "station config, to show which slot each probe is")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	slots := map[string]string{}
	if *cfgPath != "" {
		cfg, err := station.LoadConfig(*cfgPath)
		if err != nil {
			return configError(stderr, err)
		}
		for _, s := range cfg.SlotList() {
			slots[s.Probe] = s.Name
		}
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	devices, err := usb.Lister{Log: newLogger(stderr, false)}.Devices(lctx)
	if err != nil {
		fmt.Fprintf(stderr, "station devices: %v\n", err)
		return exitInternal
	}
	if *asJSON {
		return printDevicesJSON(stdout, devices, slots)
	}
	printDevices(stdout, devices, slots)
	return exitOK
}

type deviceView struct {
	usb.Device
	Slot string `json:"slot,omitempty"`
}

func printDevicesJSON(w io.Writer, devices []usb.Device, slots map[string]string) int {
	out := make([]deviceView, len(devices))
	for i, d := range devices {
		out[i] = deviceView{Device: d, Slot: slots[d.Probe]}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return exitInternal
	}
	return exitOK
}

func printDevices(w io.Writer, devices []usb.Device, slots map[string]string) {
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
