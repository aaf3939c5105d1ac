package main

import (
	"context"
	"fmt"
	"io"

	"nrfline/flash"
	"nrfline/station"
)

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", "check --config FILE", "Validate a config and its firmware file without touching hardware.", stderr)
	cfgPath := fs.String("config", "", "station config file (required)")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "station check: --config is required")
		return exitUsage
	}
	cfg, err := station.LoadConfig(*cfgPath)
	if err != nil {
		return configError(stderr, err)
	}
	fmt.Fprintf(stdout, "config   %s: ok (%d slot(s), portal %s, flash %s)\n", *cfgPath, len(cfg.Slots), cfg.Portal.Kind, cfg.Flash.Tool)
	fw, err := flash.CheckImage(cfg.Firmware.Hex, cfg.Firmware.SHA256)
	if err != nil {
		fmt.Fprintf(stdout, "firmware %s: FAIL: %v\n", cfg.Firmware.Hex, err)
		return exitUnitFail
	}
	fmt.Fprintf(stdout, "firmware %s: ok (%d bytes of data, sha256 %s)\n", fw.Path, fw.Size, fw.SHA256)
	return exitOK
}
