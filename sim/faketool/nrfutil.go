package faketool

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"nrfline/sim/flashctl"
)

// nrfutil error.code values (flash-tools.md §7; 24/25/27 are the ones
// Zephyr relies on). Nordic publishes no table: errGeneric is our choice
// for failures that have no known code (J-Link DLL errors carry
// "JLINKARM_DLL_ERROR, code: Nrfjlink" in the description instead).
const (
	errGeneric     = 1
	errProtection  = 24
	errVerify      = 25
	errWrongFamily = 27
)

const noDevicesText = "No devices with requested serial number(s) or trait(s) found."

// nrfutil is one `nrfutil device …` invocation.
type nrfutil struct {
	c    *flashctl.Client
	out  io.Writer
	errw io.Writer
	args utilArgs
	img  image
}

func (u *nrfutil) stdout() lineWriter { return lineWriter{u.out} }
func (u *nrfutil) stderr() lineWriter { return lineWriter{u.errw} }

func (u *nrfutil) run(ctx context.Context, argv []string) int {
	a, cerr := parseUtilArgs(argv)
	if cerr != nil {
		u.stderr().lines(cerr.msg, "", "For more information, try '--help'.")
		return 2
	}
	u.args = a
	switch {
	case a.help:
		u.stdout().lines(utilUsage)
		return 0
	case a.version && a.device:
		u.stdout().lines("nrfutil-device 2.7.16 (nrfline virtual line, nrfjprog DLL 10.24.2)")
		return 0
	case a.version:
		u.stdout().lines("nrfutil 7.13.0 (nrfline virtual line)")
		return 0
	}
	devices, code := u.selectDevices(ctx)
	if code >= 0 {
		return code
	}
	if a.sub == "list" {
		return u.list(devices)
	}
	return u.tasks(ctx, devices)
}

const utilUsage = `nrfutil device (nrfline virtual line)
Usage:
  nrfutil device list [--json] [--traits <TRAITS>]
  nrfutil device program --json --firmware <HEX> --serial-number <SN> [--options chip_erase_mode=…,verify=…,reset=…]
  nrfutil device recover --json --serial-number <SN>
  nrfutil device reset --json --serial-number <SN> [--reset-kind RESET_SYSTEM]`

// selectDevices lists the probes and applies --serial-number / --traits.
// code is -1 to go on, else the exit code.
func (u *nrfutil) selectDevices(ctx context.Context) ([]flashctl.ProbeInfo, int) {
	probes, err := u.c.Probes(ctx)
	if err != nil {
		u.stderr().printf("Error: Failed to list devices: %v", err)
		return nil, 1
	}
	var sel []flashctl.ProbeInfo
	for _, p := range probes {
		if u.selected(p) {
			sel = append(sel, p)
		}
	}
	if u.args.sub == "list" {
		return sel, -1
	}
	// Every requested serial number must be present (stricter than a subset).
	if len(sel) == 0 || (u.args.serials != nil && len(sel) != len(u.args.serials)) {
		u.stderr().lines("Error: Failed with exit code 1. " + noDevicesText)
		return nil, 1
	}
	return sel, -1
}

// deviceTraits are the traits of every virtual nRF9151 DK.
func deviceTraits() map[string]bool {
	return map[string]bool{
		"jlink": true, "seggerUsb": true, "serialPorts": true, "modem": true, "devkit": true,
		"boardController": true, "usb": true,
		"nordicUsb": false, "nordicDfu": false, "mcuBoot": false, "broken": false,
	}
}

func (u *nrfutil) selected(p flashctl.ProbeInfo) bool {
	if u.args.serials != nil && !slices.Contains(u.args.serials, flashctl.NormalizeSerial(p.Serial)) {
		return false
	}
	if u.args.traits == nil {
		return true
	}
	traits := deviceTraits()
	return slices.ContainsFunc(u.args.traits, func(t string) bool { return traits[t] })
}

// emit writes one NDJSON message.
func (u *nrfutil) emit(typ string, data any) {
	b, err := json.Marshal(struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}{typ, data})
	if err == nil {
		_, _ = u.out.Write(append(b, '\n'))
	}
}

// list prints the devices: NDJSON `info` (newer placement) or human text.
func (u *nrfutil) list(devices []flashctl.ProbeInfo) int {
	objs := make([]utilDevice, 0, len(devices))
	for _, p := range devices {
		objs = append(objs, newUtilDevice(p))
	}
	if u.args.json {
		u.emit("info", map[string]any{"devices": objs})
		return 0
	}
	for _, d := range objs {
		u.humanDevice(d)
	}
	if len(objs) == 0 {
		u.stdout().lines("No supported devices found.")
		return 0
	}
	u.stdout().printf("Supported devices found: %d", len(objs))
	return 0
}

func (u *nrfutil) humanDevice(d utilDevice) {
	o := u.stdout()
	o.lines(d.SerialNumber)
	o.printf("%-16s%s", "Product", d.USB.Product)
	o.printf("%-16s%s", "Board version", d.Devkit.BoardVersion)
	for i, sp := range d.SerialPorts {
		label := ""
		if i == 0 {
			label = "Ports"
		}
		o.printf("%-16s%s, vcom: %d", label, sp.Path, sp.Vcom)
	}
	o.printf("%-16s%s", "Traits", "jlink, devkit, seggerUsb, modem, boardController, usb, serialPorts")
	o.lines("")
}

// utilDevice is a device object of §7.
type utilDevice struct {
	ID           int             `json:"id"`
	SerialNumber string          `json:"serialNumber"`
	Traits       map[string]bool `json:"traits"`
	Devkit       struct {
		BoardVersion string `json:"boardVersion"`
		DeviceFamily string `json:"deviceFamily"`
	} `json:"devkit"`
	Jlink struct {
		BoardVersion  string `json:"boardVersion"`
		DeviceFamily  string `json:"deviceFamily"`
		DeviceVersion string `json:"deviceVersion"`
	} `json:"jlink"`
	USB         utilUSB          `json:"usb"`
	SerialPorts []utilSerialPort `json:"serialPorts"`
}

type utilUSB struct {
	SerialNumber string `json:"serialNumber"`
	Manufacturer string `json:"manufacturer"`
	Product      string `json:"product"`
	OsDevicePath string `json:"osDevicePath"`
	Device       struct {
		BusNumber  int `json:"busNumber"`
		Address    int `json:"address"`
		Descriptor struct {
			IDVendor  int `json:"idVendor"`
			IDProduct int `json:"idProduct"`
			BcdDevice int `json:"bcdDevice"`
		} `json:"descriptor"`
	} `json:"device"`
}

type utilSerialPort struct {
	SerialNumber string `json:"serialNumber"`
	ComName      string `json:"comName"`
	Manufacturer string `json:"manufacturer"`
	ProductID    string `json:"productId"`
	VendorID     string `json:"vendorId"`
	Vcom         int    `json:"vcom"`
	Path         string `json:"path"`
}

// newUtilDevice describes a virtual nRF9151 DK: J-Link OB 1366:1069.
// serialNumber has no leading zeros (§9); the USB fields keep the 12 digits.
func newUtilDevice(p flashctl.ProbeInfo) utilDevice {
	d := utilDevice{ID: p.ID, SerialNumber: flashctl.NormalizeSerial(p.Serial), Traits: deviceTraits()}
	d.Devkit.BoardVersion, d.Devkit.DeviceFamily = "PCA10171", "NRF91_FAMILY"
	d.Jlink.BoardVersion, d.Jlink.DeviceFamily, d.Jlink.DeviceVersion = "PCA10171", "NRF91_FAMILY", "NRF9151_xxCA_REV2"
	d.USB.SerialNumber, d.USB.Manufacturer, d.USB.Product = p.Serial, "SEGGER", "J-Link"
	d.USB.OsDevicePath = fmt.Sprintf("/dev/bus/usb/001/%03d", p.ID+1)
	d.USB.Device.BusNumber, d.USB.Device.Address = 1, p.ID+1
	d.USB.Device.Descriptor.IDVendor, d.USB.Device.Descriptor.IDProduct, d.USB.Device.Descriptor.BcdDevice = 0x1366, 0x1069, 0x0100
	d.SerialPorts = []utilSerialPort{}
	for i, port := range []string{p.Port, p.Port2} {
		if port != "" {
			d.SerialPorts = append(d.SerialPorts, utilSerialPort{
				SerialNumber: p.Serial, ComName: port, Manufacturer: "SEGGER",
				ProductID: "1069", VendorID: "1366", Vcom: i, Path: port,
			})
		}
	}
	return d
}

// newTaskID returns a random UUID (version 4) string.
func newTaskID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// taskKind names a subcommand's task.
type taskKind struct{ name, description, done string }

func taskKinds() map[string]taskKind {
	return map[string]taskKind{
		"program": {"program", "Programming", "Programmed"},
		"recover": {"recover", "Recovering device", "Recovered"},
		"reset":   {"reset", "Resetting device", "Reset"},
	}
}

// tasks runs the subcommand on every selected device, one after the other.
func (u *nrfutil) tasks(ctx context.Context, devices []flashctl.ProbeInfo) int {
	req, code := u.request()
	if code >= 0 {
		return code
	}
	var failures []string
	for _, d := range devices {
		serial := flashctl.NormalizeSerial(d.Serial)
		if desc, ok := u.task(ctx, serial, req); !ok {
			failures = append(failures, fmt.Sprintf(" * %s: %s", serial, desc))
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(failures) == 0 {
		return 0
	}
	if len(failures) == len(devices) && strings.HasSuffix(failures[0], noDevicesText) && len(devices) == 1 {
		u.stderr().lines("Error: Failed with exit code 1. " + noDevicesText)
		return 1
	}
	u.stderr().printf("Error: Failed with exit code 1. One or more %s tasks failed:", u.args.sub)
	u.stderr().lines(failures...)
	return 1
}

// request builds the operation; code is -1 to go on, else the exit code.
func (u *nrfutil) request() (flashctl.Request, int) {
	a := u.args
	switch a.sub {
	case "recover":
		return flashctl.Request{Op: flashctl.OpRecover, Family: a.family}, -1
	case "reset":
		op := flashctl.OpReset
		if a.resetKind == "RESET_PIN" {
			op = flashctl.OpPinReset
		}
		return flashctl.Request{Op: op, Family: a.family}, -1
	}
	if code := u.loadFirmware(); code >= 0 {
		return flashctl.Request{}, code
	}
	return flashctl.Request{
		Op: flashctl.OpProgram, Family: a.family, Erase: a.erase,
		Verify: a.verify, Reset: a.reset, Image: u.img.flashctl(),
	}, -1
}

func (u *nrfutil) loadFirmware() int {
	file, err := os.ReadFile(u.args.firmware)
	if err != nil {
		u.stderr().printf("Error: Failed to read firmware file %s: %v", u.args.firmware, err)
		return 1
	}
	img, err := parseHex(file)
	if err == nil && !img.fitsNRF91() {
		err = fmt.Errorf("data outside the memory of NRF91_FAMILY")
	}
	if err != nil {
		u.stderr().printf("Error: Failed to parse firmware file %s: %v", u.args.firmware, err)
		return 1
	}
	u.img = img
	return -1
}
