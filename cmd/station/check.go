package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"nrfline/discover"
	"nrfline/flash"
	"nrfline/inject/portal"
	"nrfline/inject/probe"
	"nrfline/station"
)

// Outcomes of one check item.
const (
	checkOK   = "ok"
	checkFail = "FAIL"
	checkWait = "wait" // not there now; the station waits for it (hot-plug)
)

// checkItem is one line of `station check`.
type checkItem struct {
	Item   string `json:"item"`   // config, firmware, flash_tool, slot A1, portal, bootstrap_server
	Status string `json:"status"` // ok, FAIL or wait
	Detail string `json:"detail"` // what was found, or why it failed
}

// checker collects the items and prints each as soon as it is known (the
// online checks take seconds).
type checker struct {
	out    io.Writer
	json   bool
	items  []checkItem
	failed []string // the items that failed
}

func (c *checker) add(item, status, format string, args ...any) {
	it := checkItem{Item: item, Status: status, Detail: fmt.Sprintf(format, args...)}
	c.items = append(c.items, it)
	if status == checkFail {
		c.failed = append(c.failed, item)
	}
	if !c.json {
		fmt.Fprintf(c.out, "%-16s %-4s  %s\n", it.Item, it.Status, it.Detail)
	}
}

// checkTimeout bounds each check that asks something outside this process.
const checkTimeout = 10 * time.Second

func newCheckCmd(g *globalFlags) *cobra.Command {
	var cfgPath string
	var asJSON, online bool
	cmd := &cobra.Command{
		Use:   "check --config FILE [--online] [--json]",
		Short: "Validate config and firmware; check the flash tool, the slots and (--online) the servers",
		Long: `Check a station before a shift, without touching a unit:
  config            the file loads (every error names file, line and key)
  firmware          the Intel HEX is valid for the nRF91 and matches firmware.sha256
  flash_tool        the flash tool runs; its version
  slot NAME         the slot's port or USB location or probe exists now, or "wait": the
                    station waits for it to be plugged in (hot-plug)
With --online also:
  portal            the portal answers a read-only request and accepts the token
  bootstrap_server  a DTLS handshake with bootstrap.server_uri: the server must answer
                    (and refuse the throwaway identity the check uses)

Exit 0: all ok or wait; 1: a check failed; 2: the config or the firmware is bad.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag(cmd.Flags(), "config"); err != nil {
				return err
			}
			cfg, err := loadConfig(cfgPath)
			if err != nil {
				return err
			}
			c := &checker{out: cmd.OutOrStdout(), json: asJSON}
			c.add("config", checkOK, "%s (%d slot(s), portal %s, flash %s)", cfgPath, len(cfg.Slots), cfg.Portal.Kind, cfg.Flash.Tool)
			if err := checkFirmware(c, cfg); err != nil {
				return err
			}
			logger := g.logger(cmd.ErrOrStderr())
			checkFlashTool(cmd.Context(), c, cfg, logger)
			checkSlots(cmd.Context(), c, cfg, logger)
			if online {
				checkPortal(cmd.Context(), c, cfg)
				checkBootstrapServer(cmd.Context(), c, cfg)
			}
			if asJSON {
				if err := writeJSON(cmd.OutOrStdout(), c.items); err != nil {
					return err
				}
			}
			if len(c.failed) > 0 {
				return failed(fmt.Errorf("%d check(s) failed: %s", len(c.failed), strings.Join(c.failed, ", ")))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "station config file (required)")
	cmd.Flags().BoolVar(&online, "online", false, "also check the portal (answers, token accepted) and the bootstrap server (DTLS)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "the checks as one JSON array on stdout")
	return cmd
}

// checkFirmware: a firmware that cannot be used is a bad input (exit 2),
// as in batch.
func checkFirmware(c *checker, cfg *station.Config) error {
	fw, err := flash.CheckImage(cfg.Firmware.Hex, cfg.Firmware.SHA256)
	if err != nil {
		return firmwareErr(fmt.Errorf("firmware %s: %w", cfg.Firmware.Hex, err))
	}
	c.add("firmware", checkOK, "%s (%d bytes of data, sha256 %s)", fw.Path, fw.Size, fw.SHA256)
	return nil
}

// checkFlashTool runs the tool's version command: batch would otherwise
// fail every unit with FLASH_TOOL.
func checkFlashTool(ctx context.Context, c *checker, cfg *station.Config, logger *slog.Logger) {
	fl, err := flash.New(cfg.Flash, logger)
	if err != nil {
		c.add("flash_tool", checkFail, "%v (check flash.tool and flash.path)", err)
		return
	}
	v, ok := fl.(interface {
		Version(context.Context) (string, error)
	})
	if !ok {
		c.add("flash_tool", checkOK, "%s", cfg.Flash.Tool)
		return
	}
	vctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	version, err := v.Version(vctx)
	if err != nil {
		c.add("flash_tool", checkFail, "%s does not run: %v", cfg.Flash.Tool, err)
		return
	}
	c.add("flash_tool", checkOK, "%s %s", cfg.Flash.Tool, version)
}

// checkSlots says for each slot whether what identifies it is there now.
// Absent is not a failure: the station waits for a unit to be plugged in.
func checkSlots(ctx context.Context, c *checker, cfg *station.Config, logger *slog.Logger) {
	var devices []discover.Device
	var listErr error
	listed := false
	for _, s := range cfg.SlotList() {
		item := "slot " + s.Name
		switch {
		case s.Port != "":
			if _, err := os.Stat(s.Port); err == nil {
				c.add(item, checkOK, "port %s present", s.Port)
			} else {
				c.add(item, checkWait, "port %s not present now; the station waits for it (hot-plug)", s.Port)
			}
		case s.USB != "":
			if _, err := os.Stat(filepath.Join(cmp.Or(cfg.Line.SysfsRoot, "/"), "sys/bus/usb/devices", s.USB)); err == nil {
				c.add(item, checkOK, "USB location %s occupied", s.USB)
			} else {
				c.add(item, checkWait, "nothing at USB location %s now; the station waits for a probe there (hot-plug)", s.USB)
			}
		default:
			if !listed {
				lctx, cancel := context.WithTimeout(ctx, checkTimeout)
				devices, listErr = discover.Lister{SysRoot: cfg.Line.SysfsRoot, Log: logger}.Devices(lctx)
				cancel()
				listed = true
			}
			checkProbeSlot(c, item, s.Probe, devices, listErr)
		}
	}
}

func checkProbeSlot(c *checker, item, probe string, devices []discover.Device, listErr error) {
	if listErr != nil {
		c.add(item, checkFail, "cannot list USB devices to find probe %s: %v", probe, listErr)
		return
	}
	for _, d := range devices {
		if d.Probe == probe {
			port := "no serial port"
			if len(d.Ports) > 0 {
				port = d.Ports[0].Path
			}
			c.add(item, checkOK, "probe %s present (%s)", probe, port)
			return
		}
	}
	c.add(item, checkWait, "probe %s not connected now; the station waits for it (hot-plug)", probe)
}

func checkPortal(ctx context.Context, c *checker, cfg *station.Config) {
	if cfg.Portal.Kind == "none" {
		c.add("portal", checkOK, "none configured (portal.kind = \"none\")")
		return
	}
	pctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	res, err := portal.Check(pctx, cfg.Portal, os.Getenv)
	if err != nil {
		c.add("portal", checkFail, "%v", err)
		return
	}
	token := "no token configured"
	if cfg.Portal.TokenEnv != "" {
		token = "token accepted"
	}
	c.add("portal", checkOK, "GET %s: HTTP %d, %s", res.URL, res.Status, token)
}

func checkBootstrapServer(ctx context.Context, c *checker, cfg *station.Config) {
	uri := cfg.Bootstrap.ServerURI
	if uri == "" {
		c.add("bootstrap_server", checkFail, "bootstrap.server_uri is empty: set it to the bootstrap server's coaps:// URI to check it")
		return
	}
	bctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	what, err := probe.Reach(bctx, uri)
	if errors.Is(err, context.Canceled) {
		return
	}
	if err != nil {
		c.add("bootstrap_server", checkFail, "%v", err)
		return
	}
	c.add("bootstrap_server", checkOK, "%s: %s", uri, what)
}
