package main

import (
	"context"
	"fmt"
	"io"
)

func runDevices(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("devices", "devices [--json]", "The units the station can see now: probe serial, board, ports, slot.", stderr)
	fs.Bool("json", false, "JSON output")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	fmt.Fprintln(stderr, "station devices: not implemented yet")
	return exitUsage
}
