package flash

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"

	"nrfline/station"
)

// Nrfutil drives `nrfutil device` with --json (flash-tools.md §2, §7). Its
// exit code is coarse (often 1), so a run is classified from the NDJSON
// task_end it printed: success needs exit 0 and at least one successful
// task_end with no failed one.
type Nrfutil struct {
	run    *Runner
	erase  string
	verify bool
	images imageChecks
}

var _ station.Flasher = (*Nrfutil)(nil)

// NewNrfutil returns an nrfutil runner for the binary at path.
func NewNrfutil(path string, cfg station.FlashConfig, logger *slog.Logger) *Nrfutil {
	return &Nrfutil{run: newRunner("nrfutil", path, cfg, logger), erase: cfg.Erase, verify: cfg.Verify}
}

// nrfutil error.code values relied on by Zephyr's runner (§7); Nordic
// publishes no table.
const (
	utilProtected   = 24
	utilVerify      = 25
	utilWrongFamily = 27
)

// Program writes the image. The defaults are destructive and weak, so the
// options are always spelled out; a system reset always ends it:
//
//	nrfutil device program --json --firmware IMAGE --serial-number SNR \
//	    --options chip_erase_mode=ERASE_ALL|ERASE_RANGES_TOUCHED_BY_FIRMWARE,verify=VERIFY_READ|VERIFY_NONE,reset=RESET_SYSTEM
func (u *Nrfutil) Program(ctx context.Context, probe string, fw station.Firmware, report func(station.ToolLine)) error {
	snr, err := probeSerial(probe)
	if err != nil {
		return err
	}
	image, err := u.images.firmwareArg(fw)
	if err != nil {
		return err
	}
	erase, verify := "ERASE_ALL", "VERIFY_NONE"
	if u.erase == "sector" {
		erase = "ERASE_RANGES_TOUCHED_BY_FIRMWARE"
	}
	if u.verify {
		verify = "VERIFY_READ"
	}
	opts := fmt.Sprintf("chip_erase_mode=%s,verify=%s,reset=RESET_SYSTEM", erase, verify)
	args := []string{"device", "program", "--json", "--firmware", image, "--serial-number", snr, "--options", opts}
	return u.device(ctx, "program", snr, args, report)
}

// Recover unlocks a protected chip:
//
//	nrfutil device recover --json --serial-number SNR
func (u *Nrfutil) Recover(ctx context.Context, probe string, report func(station.ToolLine)) error {
	snr, err := probeSerial(probe)
	if err != nil {
		return err
	}
	return u.device(ctx, "recover", snr, []string{"device", "recover", "--json", "--serial-number", snr}, report)
}

// Reset applies a system reset:
//
//	nrfutil device reset --json --serial-number SNR --reset-kind RESET_SYSTEM
func (u *Nrfutil) Reset(ctx context.Context, probe string, report func(station.ToolLine)) error {
	snr, err := probeSerial(probe)
	if err != nil {
		return err
	}
	args := []string{"device", "reset", "--json", "--serial-number", snr, "--reset-kind", "RESET_SYSTEM"}
	return u.device(ctx, "reset", snr, args, report)
}

// Version is the device command's version (`nrfutil device --version`):
// "2.7.16" from "nrfutil-device 2.7.16".
func (u *Nrfutil) Version(ctx context.Context) (string, error) {
	var first firstLine
	res, err := u.run.Run(ctx, []string{"device", "--version"}, first.add)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", res.Fail(station.FlashTool, "nrfutil device --version: exit %d", res.ExitCode)
	}
	return toolVersion(first.text), nil
}

// List returns the serials of the J-Link probes present
// (`nrfutil device list --json`), without leading zeros. Both placements of
// the device list are accepted: `info` → data.devices (newer) and
// `task_end` → data.data.devices (older).
func (u *Nrfutil) List(ctx context.Context) ([]string, error) {
	var st utilState
	res, err := u.run.Run(ctx, []string{"device", "list", "--json"}, func(l Line) { st.read(l) })
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 || st.failure != nil {
		return nil, res.Fail(st.code("list"), "nrfutil device list: exit %d%s", res.ExitCode, st.failureText())
	}
	var serials []string
	seen := map[string]bool{}
	for _, d := range st.devices {
		s := d.serial()
		if s == "" || seen[s] || !d.isJLink() {
			continue
		}
		seen[s] = true
		serials = append(serials, s)
	}
	return serials, nil
}

// device runs one task on one probe and classifies how it ended.
func (u *Nrfutil) device(ctx context.Context, op, snr string, args []string, report func(station.ToolLine)) error {
	report = reporter(report)
	var st utilState
	res, err := u.run.Run(ctx, args, func(l Line) { report(st.read(l)) })
	if err != nil {
		return err
	}
	if res.ExitCode == 0 && st.failure == nil && st.succeeded > 0 {
		return nil
	}
	return res.Fail(forOp(op, st.code(op)), "nrfutil %s on probe %s: exit %d%s", op, snr, res.ExitCode, st.failureText())
}

// utilState is what one run's output said.
type utilState struct {
	succeeded int        // successful task_end messages
	failure   *utilError // the first failed task_end / batch_end error
	noDevices bool       // "No devices with requested serial number…" seen
	devices   []utilDevice
}

type utilMessage struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

type utilData struct {
	Task struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	} `json:"task"`
	Progress *struct {
		Percent     *float64 `json:"progressPercentage"`
		Message     string   `json:"message"`
		Description string   `json:"description"`
	} `json:"progress"`
	Message string          `json:"message"`
	Result  string          `json:"result"`
	Error   *utilError      `json:"error"`
	Level   string          `json:"level"`
	Devices []utilDevice    `json:"devices"` // info (newer)
	Data    json.RawMessage `json:"data"`    // task_end: {devices} (older); batch_update: a nested message
}

type utilError struct {
	Code        json.RawMessage `json:"code"`
	Description string          `json:"description"`
}

// code is error.code as a number (0 when absent or not a number).
func (e *utilError) code() int {
	n, err := strconv.Atoi(strings.Trim(string(e.Code), `"`))
	if err != nil {
		return 0
	}
	return n
}

type utilDevice struct {
	SerialNumber string          `json:"serialNumber"`
	Traits       map[string]bool `json:"traits"`
	USB          struct {
		SerialNumber string `json:"serialNumber"`
	} `json:"usb"`
}

// serial is the device's serial without leading zeros; without udev rules
// serialNumber is missing and the USB descriptor's is used.
func (d utilDevice) serial() string {
	for _, s := range []string{d.SerialNumber, d.USB.SerialNumber} {
		s = strings.TrimSpace(s)
		if s != "" && strings.Trim(s, "0123456789") == "" {
			return station.NormalizeSerial(s)
		}
	}
	return ""
}

// isJLink keeps devices that are (or may be) J-Link probes: a device whose
// traits say jlink=false cannot be programmed by serial over SWD.
func (d utilDevice) isJLink() bool {
	j, ok := d.Traits["jlink"]
	return !ok || j
}

const noDevicesText = "No devices with requested serial number"

// read takes one output line into the state and says what it shows.
func (st *utilState) read(l Line) station.ToolLine {
	tl := station.ToolLine{Text: l.Text, Percent: -1}
	if strings.Contains(l.Text, noDevicesText) {
		st.noDevices = true
	}
	var m utilMessage
	if !strings.HasPrefix(l.Text, "{") || json.Unmarshal([]byte(l.Text), &m) != nil {
		return tl
	}
	return st.message(m, tl, 0)
}

// message handles one NDJSON message; batch_update nests another.
func (st *utilState) message(m utilMessage, tl station.ToolLine, depth int) station.ToolLine {
	var d utilData
	if json.Unmarshal(m.Data, &d) != nil {
		return tl
	}
	switch m.Type {
	case "task_begin":
		tl.Text = d.Task.Description
	case "task_progress":
		return progressLine(d, tl)
	case "task_end":
		tl.Text = st.taskEnd(d)
	case "batch_end":
		if d.Error != nil {
			st.fail(d.Error)
			tl.Text = "batch failed: " + d.Error.Description
		}
	case "info":
		st.devices = append(st.devices, d.Devices...)
		tl.Text = fmt.Sprintf("%d device(s)", len(d.Devices))
	case "log":
		tl.Text = strings.TrimSpace(d.Level + ": " + d.Message)
	case "batch_update":
		var inner utilMessage
		if depth < 4 && json.Unmarshal(d.Data, &inner) == nil && inner.Type != "" {
			return st.message(inner, tl, depth+1)
		}
	}
	if tl.Text == "" {
		tl.Text = m.Type
	}
	return tl
}

func progressLine(d utilData, tl station.ToolLine) station.ToolLine {
	p := d.Progress
	if p == nil {
		return tl
	}
	tl.Phase = p.Description
	if tl.Phase == "" {
		tl.Phase = p.Message
	}
	tl.Text = p.Message
	if tl.Text == "" {
		tl.Text = tl.Phase
	}
	if p.Percent != nil && !math.IsNaN(*p.Percent) {
		tl.Percent = int(math.Round(math.Max(0, math.Min(100, *p.Percent))))
		tl.Text = fmt.Sprintf("%s %d%%", tl.Text, tl.Percent)
	}
	return tl
}

func (st *utilState) taskEnd(d utilData) string {
	name := d.Task.Description
	if name == "" {
		name = d.Task.Name
	}
	if len(d.Data) > 0 {
		var older struct {
			Devices []utilDevice `json:"devices"`
		}
		if json.Unmarshal(d.Data, &older) == nil {
			st.devices = append(st.devices, older.Devices...)
		}
	}
	if d.Result == "success" && d.Error == nil {
		st.succeeded++
		return strings.TrimSpace(name + ": " + firstNonEmpty(d.Message, "success"))
	}
	e := d.Error
	if e == nil {
		e = &utilError{Description: "task ended with result " + strconv.Quote(d.Result)}
	}
	st.fail(e)
	if strings.Contains(e.Description, noDevicesText) {
		st.noDevices = true
	}
	return fmt.Sprintf("%s: failed: %s (code %s)", name, e.Description, bytes.TrimSpace(e.Code))
}

func (st *utilState) fail(e *utilError) {
	if st.failure == nil {
		st.failure = e
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// code classifies the run (§6, §7): error.code first (24/25/27), then the
// fixed texts nrfutil puts in error.description or prints when no probe
// matches. A recover that fails for another reason is FLASH_RECOVER_FAILED.
func (st *utilState) code(op string) station.Code {
	desc := ""
	if st.failure != nil {
		desc = strings.ToLower(st.failure.Description)
		switch st.failure.code() {
		case utilProtected:
			return station.FlashProtected
		case utilVerify:
			return station.FlashVerify
		case utilWrongFamily:
			return station.FlashWrongTarget
		}
	}
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(desc, strings.ToLower(w)) {
				return true
			}
		}
		return false
	}
	switch {
	case has("NotAvailableBecauseProtection", "NotAvailableBecauseSecureApProtection", "AP-Protect", "readback protection"):
		return station.FlashProtected
	case has("Write verify failed"):
		return station.FlashVerify
	case has("(WrongFamily)"):
		return station.FlashWrongTarget
	case has("JLINKARM_DLL_ERROR", "JLINKARM_DLL_TIME_OUT_ERROR", "code: Nrfjlink"):
		return station.FlashJLink
	case st.noDevices:
		return station.FlashNoProbe
	case op == "recover" && st.failure != nil:
		return station.FlashRecoverFailed
	}
	return station.FlashTool
}

func (st *utilState) failureText() string {
	switch {
	case st.failure != nil:
		return fmt.Sprintf(": error %s: %s", bytes.TrimSpace(st.failure.Code), st.failure.Description)
	case st.noDevices:
		return ": " + noDevicesText
	case st.succeeded == 0:
		return ": no task_end in the tool's output"
	}
	return ""
}
