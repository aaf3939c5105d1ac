package discover

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeSys builds a sysfs and /dev/serial/by-id tree laid out as Linux does,
// with relative symlinks, under a temporary root.
type fakeSys struct {
	tb   testing.TB
	root string
}

func newFakeSys(tb testing.TB) *fakeSys {
	tb.Helper()
	f := &fakeSys{tb: tb, root: tb.TempDir()}
	for _, bus := range []string{"usb", "usb-serial", "platform"} {
		f.mkdir(filepath.Join("sys/bus", bus))
	}
	f.mkdir("sys/class/tty")
	return f
}

func (f *fakeSys) path(rel string) string { return filepath.Join(f.root, rel) }

func (f *fakeSys) mkdir(rel string) string {
	f.tb.Helper()
	p := f.path(rel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		f.tb.Fatal(err)
	}
	return p
}

func (f *fakeSys) write(rel, content string) {
	f.tb.Helper()
	if err := os.WriteFile(f.path(rel), []byte(content), 0o644); err != nil {
		f.tb.Fatal(err)
	}
}

// link makes rel a relative symlink to target (both under the root).
func (f *fakeSys) link(rel, target string) {
	f.tb.Helper()
	f.mkdir(filepath.Dir(rel))
	r, err := filepath.Rel(filepath.Dir(f.path(rel)), f.path(target))
	if err != nil {
		f.tb.Fatal(err)
	}
	if err := os.Symlink(r, f.path(rel)); err != nil {
		f.tb.Fatal(err)
	}
}

// usbDevice creates the USB device at location loc ("1-4.3.2": hub chain
// 1-4, 1-4.3, 1-4.3.2) with the given attribute files; a missing key
// means a missing file. It returns the device directory, relative.
func (f *fakeSys) usbDevice(loc string, attrs map[string]string) string {
	f.tb.Helper()
	bus, ports, _ := strings.Cut(loc, "-")
	dir := "sys/devices/pci0000:00/0000:00:14.0/usb" + bus
	chain := bus + "-"
	for i, p := range strings.Split(ports, ".") {
		if i > 0 {
			chain += "."
		}
		chain += p
		dir += "/" + chain
	}
	f.mkdir(dir)
	for name, v := range attrs {
		f.write(dir+"/"+name, v)
	}
	return dir
}

// iface creates interface iface of the USB device at devDir.
func (f *fakeSys) iface(devDir string, iface int, withNumber bool) string {
	f.tb.Helper()
	dir := fmt.Sprintf("%s/%s:1.%d", devDir, filepath.Base(devDir), iface)
	f.mkdir(dir)
	f.link(dir+"/subsystem", "sys/bus/usb")
	if withNumber {
		f.write(dir+"/bInterfaceNumber", fmt.Sprintf("%02x\n", iface))
	}
	return dir
}

// tty registers tty as a class device below parent, device -> devDir.
func (f *fakeSys) tty(name, parent, devDir string) {
	f.tb.Helper()
	dir := parent + "/tty/" + name
	f.mkdir(dir)
	f.write(dir+"/dev", "166:0\n")
	if devDir != "" {
		f.link(dir+"/device", devDir)
	}
	f.link("sys/class/tty/"+name, dir)
}

// acm adds a cdc_acm port: the tty hangs off the interface.
func (f *fakeSys) acm(devDir string, iface int, name string) {
	f.tb.Helper()
	i := f.iface(devDir, iface, true)
	f.tty(name, i, i)
}

// usbSerial adds a usb-serial port (FTDI, CP210x, CH340): a port device
// below the interface, the tty below that.
func (f *fakeSys) usbSerial(devDir string, iface int, name string) {
	f.tb.Helper()
	i := f.iface(devDir, iface, true)
	port := i + "/" + name
	f.mkdir(port)
	f.link(port+"/subsystem", "sys/bus/usb-serial")
	f.tty(name, port, port)
}

func (f *fakeSys) byID(name, tty string) {
	f.tb.Helper()
	f.link("dev/serial/by-id/"+name, "dev/"+tty)
}

func jlinkAttrs(serial string) map[string]string {
	return map[string]string{"idVendor": "1366\n", "idProduct": "1069\n", "serial": serial + "\n",
		"manufacturer": "SEGGER\n", "product": "J-Link\n"}
}

func TestReadSysfs(t *testing.T) {
	f := newFakeSys(t)
	dk := f.usbDevice("1-4.3.2", jlinkAttrs("001051202135"))
	f.acm(dk, 0, "ttyACM0")
	f.acm(dk, 2, "ttyACM1")
	ch340 := f.usbDevice("1-2", map[string]string{"idVendor": "1a86\n", "idProduct": "7523\n"})
	f.usbSerial(ch340, 0, "ttyUSB0")
	ftdi := f.usbDevice("1-10", map[string]string{"idVendor": "0403\n", "idProduct": "6010\n", "serial": ""})
	f.usbSerial(ftdi, 1, "ttyUSB2")
	thingy := f.usbDevice("3-1", map[string]string{"idVendor": "1915\n", "idProduct": "910A\n", "serial": "THINGY91X_F39CC1B120C\n"})
	f.acm(thingy, 4, "ttyACM3")
	noNum := f.iface(thingy, 1, false) // bInterfaceNumber missing: from the directory name
	f.tty("ttyACM2", noNum, noNum)
	plat := f.mkdir("sys/devices/platform/serial8250")
	f.link("sys/devices/platform/serial8250/subsystem", "sys/bus/platform")
	f.tty("ttyS0", "sys/devices/platform/serial8250", strings.TrimPrefix(plat, f.root+"/"))
	f.tty("ptmx", "sys/devices/virtual", "")

	tests := []struct {
		tty  string
		want PortInfo
	}{
		{"ttyACM0", PortInfo{IsUSB: true, VID: "1366", PID: "1069", Serial: "001051202135", Interface: 0, USB: "1-4.3.2"}},
		{"ttyACM1", PortInfo{IsUSB: true, VID: "1366", PID: "1069", Serial: "001051202135", Interface: 2, USB: "1-4.3.2"}},
		{"ttyUSB0", PortInfo{IsUSB: true, VID: "1a86", PID: "7523", Interface: 0, USB: "1-2"}},
		{"ttyUSB2", PortInfo{IsUSB: true, VID: "0403", PID: "6010", Interface: 1, USB: "1-10"}},
		{"ttyACM3", PortInfo{IsUSB: true, VID: "1915", PID: "910a", Serial: "THINGY91X_F39CC1B120C", Interface: 4, USB: "3-1"}},
		{"ttyACM2", PortInfo{IsUSB: true, VID: "1915", PID: "910a", Serial: "THINGY91X_F39CC1B120C", Interface: 1, USB: "3-1"}},
		{"ttyS0", PortInfo{Interface: -1}},
		{"ptmx", PortInfo{Interface: -1}},
		{"ttyACM9", PortInfo{Interface: -1}}, // gone
	}
	for _, tt := range tests {
		t.Run(tt.tty, func(t *testing.T) {
			got, err := readSysfs(f.root, tt.tty)
			if err != nil {
				t.Fatalf("readSysfs: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("readSysfs(%s)\n got %+v\nwant %+v", tt.tty, got, tt.want)
			}
		})
	}
}

func TestReadSysfsBadName(t *testing.T) {
	f := newFakeSys(t)
	for _, name := range []string{"", "..", ".", "../tty/ttyACM0", "a/b"} {
		if _, err := readSysfs(f.root, name); err == nil {
			t.Errorf("readSysfs(%q): no error", name)
		}
	}
}

func TestReadSysfsUnreadableAttribute(t *testing.T) {
	f := newFakeSys(t)
	dk := f.usbDevice("1-1", map[string]string{"idVendor": "1366\n", "idProduct": "1069\n"})
	f.mkdir(dk + "/serial") // a directory where a file belongs: reading it fails
	f.acm(dk, 0, "ttyACM0")
	got, err := readSysfs(f.root, "ttyACM0")
	if err == nil {
		t.Fatalf("readSysfs = %+v, want an error", got)
	}
	if got.IsUSB || got.Interface != -1 {
		t.Errorf("readSysfs returned %+v with its error", got)
	}
}

func TestInterfaceFromDir(t *testing.T) {
	tests := []struct {
		name string
		want int
	}{
		{"1-4.3.2:1.0", 0},
		{"1-4.3.2:1.2", 2},
		{"3-1:1.12", 12},
		{"1-4.3.2", -1},
		{"1-4:1", -1},
		{"1-4:1.x", -1},
	}
	for _, tt := range tests {
		if got := interfaceFromDir(tt.name); got != tt.want {
			t.Errorf("interfaceFromDir(%q) = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestByIDInterface(t *testing.T) {
	tests := []struct {
		name string
		want int
	}{
		{"usb-SEGGER_J-Link_001050238928-if00", 0},
		{"usb-SEGGER_J-Link_001050238928-if02", 2},
		{"usb-Nordic_Semiconductor_Thingy_91_X_UART_THINGY91X_F39CC1B120C-if04", 4},
		{"usb-FTDI_Dual_RS232-HS-if01-port0", 1},
		{"usb-Some_Thing-if0a", 10},
		{"usb-SEGGER_J-Link_001050238928", -1},
		{"usb-SEGGER_J-Link_001050238928-if0", -1},
		{"usb-SEGGER_J-Link_001050238928-if00x", -1},
		{"usb-FTDI-if01-port", -1},
		{"usb-FTDI-if01-portA", -1},
		{"usb-X-ifzz", -1},
	}
	for _, tt := range tests {
		if got := byIDInterface(tt.name); got != tt.want {
			t.Errorf("byIDInterface(%q) = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestByIDInterfaces(t *testing.T) {
	f := newFakeSys(t)
	got, err := byIDInterfaces(f.root)
	if err != nil || len(got) != 0 {
		t.Fatalf("no by-id folder: %v, %v", got, err)
	}
	f.byID("usb-SEGGER_J-Link_001050238928-if00", "ttyACM0")
	f.byID("usb-SEGGER_J-Link_001050238928-if02", "ttyACM1")
	f.byID("usb-FTDI_Dual_RS232-HS-if01-port0", "ttyUSB1")
	f.byID("usb-1a86_USB_Serial-if00-port0", "ttyUSB0")
	f.byID("usb-Nothing_here", "ttyACM5")
	got, err = byIDInterfaces(f.root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"ttyACM0": 0, "ttyACM1": 2, "ttyUSB1": 1, "ttyUSB0": 0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("byIDInterfaces = %v, want %v", got, want)
	}
}
