package station

import (
	"errors"
	"strings"
	"testing"
)

// The virtual line's discovery settings resolve like every other path and
// make sense only with the usb discovery.
func TestParseConfigLineDiscoveryPaths(t *testing.T) {
	src := strings.Replace(goodConfig, "[[slot]]", "[line]\nsysfs_root = \"sim\"\nuevent_socket = \"sim/uevent.sock\"\n\n[[slot]]", 1)
	cfg, err := ParseConfig("/etc/line/station.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Line.SysfsRoot != "/etc/line/sim" || cfg.Line.UeventSocket != "/etc/line/sim/uevent.sock" {
		t.Errorf("line paths not resolved: %+v", cfg.Line)
	}
	_, err = ParseConfig("st.toml", []byte(strings.Replace(src, "[line]\n", "[line]\ndiscovery = \"tool\"\n", 1)))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "line.discovery" {
		t.Errorf("tool discovery with a sysfs root: %v", err)
	}
}
