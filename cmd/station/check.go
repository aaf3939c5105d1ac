package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"nrfline/flash"
	"nrfline/station"
)

// checkItem is one line of `station check`.
type checkItem struct {
	Item   string `json:"item"`   // config, firmware, flash_tool, slot A1, portal, …
	OK     bool   `json:"ok"`     // false: a check failed
	Detail string `json:"detail"` // what was found, or why it failed
}

// checker collects the items and prints each as soon as it is known (the
// online checks take seconds).
type checker struct {
	out    io.Writer
	json   bool
	items  []checkItem
	failed bool
}

func (c *checker) add(item string, ok bool, format string, args ...any) {
	it := checkItem{Item: item, OK: ok, Detail: fmt.Sprintf(format, args...)}
	c.items = append(c.items, it)
	c.failed = c.failed || !ok
	if !c.json {
		verdict := "ok"
		if !ok {
			verdict = "FAIL"
		}
		fmt.Fprintf(c.out, "%-12s %s: %s\n", it.Item, verdict, it.Detail)
	}
}

func newCheckCmd(g *globalFlags) *cobra.Command {
	var cfgPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check --config FILE [--json]",
		Short: "Validate config and firmware, and that the flash tool and slots are there",
		Long: `Validate a config and its firmware file without touching a unit.

Exit 0: all good; 1: a check failed; 2: the config or the firmware is bad.`,
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
			c.add("config", true, "%s (%d slot(s), portal %s, flash %s)", cfgPath, len(cfg.Slots), cfg.Portal.Kind, cfg.Flash.Tool)
			if err := checkFirmware(c, cfg); err != nil {
				return err
			}
			if asJSON {
				if err := writeJSON(cmd.OutOrStdout(), c.items); err != nil {
					return err
				}
			}
			if c.failed {
				return failed(nil)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "station config file (required)")
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
	c.add("firmware", true, "%s (%d bytes of data, sha256 %s)", fw.Path, fw.Size, fw.SHA256)
	return nil
}
