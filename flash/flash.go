// Package flash programs, recovers and resets units through their J-Link
// probe with Nordic's tools (nrfjprog, or nRF Util's `nrfutil device`), and
// checks the firmware image before any unit is touched.
//
// One process per operation, always naming the probe by its serial (without
// leading zeros). Success comes from the exit code (nrfjprog) or the JSON
// task_end (nrfutil), never from text. Each failure is classified once into
// a *station.Error with a FLASH_* code; the retry policy (transient → once
// more, protected → recover and program again) is the engine's.
package flash

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"nrfline/station"
)

// New returns the flasher that cfg.Tool names: *Nrfjprog or *Nrfutil. The
// binary is cfg.Path, else the tool's name looked up in PATH; a missing
// tool is FLASH_TOOL. A zero cfg.Timeout takes the default (120 s).
func New(cfg station.FlashConfig, logger *slog.Logger) (station.Flasher, error) {
	if cfg.Erase != "chip" && cfg.Erase != "sector" {
		return nil, station.Errorf(station.FlashTool, nil, "flash.erase %q is not one of chip, sector", cfg.Erase)
	}
	if cfg.Tool != "nrfjprog" && cfg.Tool != "nrfutil" {
		return nil, station.Errorf(station.FlashTool, nil, "flash.tool %q is not one of nrfjprog, nrfutil", cfg.Tool)
	}
	name := cfg.Path
	if name == "" {
		name = cfg.Tool
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, station.Errorf(station.FlashTool, err, "find flash tool %s", name)
	}
	if cfg.Tool == "nrfutil" {
		return NewNrfutil(path, cfg, logger), nil
	}
	return NewNrfjprog(path, cfg, logger), nil
}

func newRunner(tool, path string, cfg station.FlashConfig, logger *slog.Logger) *Runner {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{Tool: tool, Path: path, Timeout: cfg.Timeout.Duration, WaitDelay: defaultWait, Logger: logger}
}

// probeSerial validates a J-Link serial and returns the form the tools take:
// digits only, leading zeros stripped (flash-tools.md §9). J-Link serials
// are 32-bit numbers (the J-Link API's U32 SerialNo), so larger values are
// refused rather than passed on to fail in the tool.
func probeSerial(probe string) (string, error) {
	p := strings.TrimSpace(probe)
	if p == "" || strings.Trim(p, "0123456789") != "" {
		return "", station.Errorf(station.FlashTool, nil, "probe serial %q is not a J-Link serial (digits only)", probe)
	}
	snr := station.NormalizeSerial(p)
	if n, err := strconv.ParseUint(snr, 10, 32); err != nil || n == 0 {
		return "", station.Errorf(station.FlashTool, nil, "probe serial %q is not a J-Link serial (1 to 4294967295)", probe)
	}
	return snr, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// reporter makes a nil report callback safe.
func reporter(report func(station.ToolLine)) func(station.ToolLine) {
	if report == nil {
		return func(station.ToolLine) {}
	}
	return report
}

// firstLine is the first non-empty output line of a run (a version text).
type firstLine struct{ text string }

func (f *firstLine) add(l Line) {
	if f.text == "" && l.Stream == Stdout {
		f.text = strings.TrimSpace(l.Text)
	}
}

// forOp adjusts a classification to the operation: a recover that still
// finds the chip protected is a failed recover (the engine retries those).
func forOp(op string, code station.Code) station.Code {
	if op == "recover" && code == station.FlashProtected {
		return station.FlashRecoverFailed
	}
	return code
}

// versionNumber is the dotted number in a tool's version line.
var versionNumber = regexp.MustCompile(`\d+(?:\.\d+)+`)

// toolVersion reduces a version line ("nrfjprog version: 10.24.2 external",
// "nrfutil-device 2.7.16") to its number (10.24.2): what the records keep
// and reports compare. A line without one is kept as it is.
func toolVersion(line string) string {
	if v := versionNumber.FindString(line); v != "" {
		return v
	}
	return strings.TrimSpace(line)
}
