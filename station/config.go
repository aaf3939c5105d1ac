package station

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Config is the station's TOML configuration (CONTRACT.md). Unknown keys are
// an error; relative paths are relative to the config file's folder.
type Config struct {
	StationID   string            `toml:"station_id"`
	Database    string            `toml:"database"`
	Operator    string            `toml:"operator,omitempty"`
	Firmware    FirmwareConfig    `toml:"firmware"`
	Flash       FlashConfig       `toml:"flash"`
	Modem       ModemConfig       `toml:"modem"`
	Credentials CredentialsConfig `toml:"credentials"`
	Portal      PortalConfig      `toml:"portal"`
	Bootstrap   BootstrapConfig   `toml:"bootstrap"`
	Line        LineConfig        `toml:"line"`
	Rules       RulesConfig       `toml:"rules"`
	UI          UIConfig          `toml:"ui"`
	Central     CentralConfig     `toml:"central"`
	Slots       []SlotConfig      `toml:"slot"`

	// Path is the file the config was loaded from (not a TOML key).
	Path string `toml:"-"`
	// slotLines are the lines of the [[slot]] headers, for messages.
	slotLines []int
}

// FirmwareConfig is the [firmware] table.
type FirmwareConfig struct {
	Hex        string `toml:"hex"`
	SHA256     string `toml:"sha256"`
	MinModemFW string `toml:"min_modem_fw"`
}

// FlashConfig is the [flash] table.
type FlashConfig struct {
	Tool    string   `toml:"tool"`
	Path    string   `toml:"path"`
	Erase   string   `toml:"erase"`
	Verify  bool     `toml:"verify"`
	Recover bool     `toml:"recover"`
	Timeout Duration `toml:"timeout"`
}

// ModemConfig is the [modem] table.
type ModemConfig struct {
	Mode           string   `toml:"mode"`
	Baud           int      `toml:"baud"`
	RTSCTS         bool     `toml:"rtscts"`
	CommandTimeout Duration `toml:"command_timeout"`
	ReadyTimeout   Duration `toml:"ready_timeout"`
	ReadSIM        bool     `toml:"read_sim"`
}

// CredentialsConfig is the [credentials] table.
type CredentialsConfig struct {
	BootstrapTag   uint32 `toml:"bootstrap_tag"`
	ServerTag      uint32 `toml:"server_tag"`
	Identity       string `toml:"identity"`
	PSKBytes       int    `toml:"psk_bytes"`
	ClearServerTag bool   `toml:"clear_server_tag"`
	StrictDigest   bool   `toml:"strict_digest"`
}

// PortalConfig is the [portal] table. Kind-specific settings live in the
// optional sub-tables.
type PortalConfig struct {
	Kind      string        `toml:"kind"`
	URL       string        `toml:"url"`
	TokenEnv  string        `toml:"token_env"`
	TargetURI string        `toml:"target_uri"`
	DMURL     string        `toml:"dm_url"`
	Timeout   Duration      `toml:"timeout"`
	Retries   int           `toml:"retries"`
	Coiote    CoioteConfig  `toml:"coiote,omitempty"`
	HTTP      []HTTPRequest `toml:"request,omitempty"`
}

// CoioteConfig holds AVSystem Coiote specifics ([portal.coiote]).
type CoioteConfig struct {
	Domain string `toml:"domain"`
}

// HTTPRequest is one templated request of the "http" portal kind
// ([[portal.request]]). Templates use Go text/template with the variables
// and encoders documented in inject/portal.
type HTTPRequest struct {
	Name    string            `toml:"name"`
	Method  string            `toml:"method"`
	URL     string            `toml:"url"`
	Headers map[string]string `toml:"headers"`
	Body    string            `toml:"body"`
	Expect  []int             `toml:"expect"`
}

// BootstrapConfig is the [bootstrap] table.
type BootstrapConfig struct {
	Trigger         string   `toml:"trigger"`
	Timeout         Duration `toml:"timeout"`
	VerifyServerTag bool     `toml:"verify_server_tag"`
	VerifyReboot    bool     `toml:"verify_reboot"`
	Probe           bool     `toml:"probe"`
	ProbeTimeout    Duration `toml:"probe_timeout"` // wait for the bootstrap server's answer
	ServerURI       string   `toml:"server_uri"`
	Markers         Markers  `toml:"markers,omitempty"`
}

// Markers are the log texts that tell how a unit's bootstrap went; a line
// matches when it contains the text (after ANSI colours are stripped).
// Empty lists take the defaults of DefaultMarkers.
type Markers struct {
	Attached     []string `toml:"attached,omitempty"`
	Bootstrapped []string `toml:"bootstrapped,omitempty"`
	Registered   []string `toml:"registered,omitempty"`
	Rejected     []string `toml:"rejected,omitempty"`
	Refused      []string `toml:"refused,omitempty"`
	NoCreds      []string `toml:"no_credentials,omitempty"`
	Network      []string `toml:"network_error,omitempty"`
	RegFailed    []string `toml:"registration_failed,omitempty"`
	Boot         []string `toml:"boot,omitempty"`
}

// LineConfig is the [line] table: how units are found and started.
type LineConfig struct {
	// Discovery is "usb" (kernel hot-plug events and sysfs) or "tool"
	// (the flash tool's probe listing, polled: slower, loads the J-Link
	// library on every call).
	Discovery string `toml:"discovery"`
	// Autostart starts a run when a unit is inserted; false waits for the
	// operator's Start (scan or inspect first).
	Autostart bool `toml:"autostart"`
	// SysfsRoot and UeventSocket point the "usb" discovery at another
	// sysfs tree and its uevent broadcaster instead of this machine's /sys
	// and the kernel's netlink: the virtual line's, or a test's.
	SysfsRoot    string `toml:"sysfs_root,omitempty"`
	UeventSocket string `toml:"uevent_socket,omitempty"`
}

// RulesConfig is the [rules] table: the line's policy across runs. Every
// rule is off unless set.
type RulesConfig struct {
	// LockAfter locks a slot after this many consecutive non-PASS verdicts
	// whose code points at the fixture (LockCodes); 0 is off.
	LockAfter int `toml:"lock_after"`
	// LockCodes are the codes that count against the fixture; empty takes
	// DefaultLockCodes.
	LockCodes []string `toml:"lock_codes,omitempty"`
	// MaxAttempts refuses an IMEI with this many recorded runs; 0 is off.
	MaxAttempts int `toml:"max_attempts"`
	// Reprovision is what happens to an IMEI that already passed:
	// "allow", "warn" (a note with the run) or "refuse".
	Reprovision string `toml:"reprovision"`
}

// UIConfig is the [ui] table of the bench TUI.
type UIConfig struct {
	Bell bool `toml:"bell"` // terminal bell on every verdict
}

// CentralConfig is the optional [central] table: line-wide records.
type CentralConfig struct {
	// URL is a PostgreSQL connection URL without a password (the password
	// comes from PGPASSWORD or a libpq password/service file).
	URL string `toml:"url"`
	// Transcripts ships each run's redacted, compressed transcript too
	// (off by default: they are most of the bytes and rarely read).
	Transcripts bool `toml:"transcripts"`
}

// SlotConfig is one [[slot]].
type SlotConfig struct {
	Name  string `toml:"name"`
	Probe string `toml:"probe"`
	Port  string `toml:"port"`
	USB   string `toml:"usb"`
}

// Duration is a time.Duration written as a Go duration string ("90s").
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil || v < 0 {
		return &durationError{raw: string(b)}
	}
	d.Duration = v
	return nil
}

// MarshalText writes a Go duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Defaults returns a config holding every default of CONTRACT.md.
func Defaults() Config {
	return Config{
		Database: "station.db",
		Flash:    FlashConfig{Tool: "nrfjprog", Erase: "chip", Verify: true, Recover: true, Timeout: Duration{120 * time.Second}},
		Modem: ModemConfig{Mode: "at", Baud: 115200, CommandTimeout: Duration{10 * time.Second},
			ReadyTimeout: Duration{30 * time.Second}, ReadSIM: true},
		Credentials: CredentialsConfig{BootstrapTag: 100, ServerTag: 101, Identity: "urn:imei:{imei}", PSKBytes: 16, ClearServerTag: true},
		Portal:      PortalConfig{Kind: "leshan", Timeout: Duration{15 * time.Second}, Retries: 3},
		Bootstrap:   BootstrapConfig{Trigger: "reset", Timeout: Duration{180 * time.Second}, VerifyServerTag: true, ProbeTimeout: Duration{5 * time.Second}},
		Line:        LineConfig{Discovery: "usb", Autostart: true},
		Rules:       RulesConfig{Reprovision: "allow"},
		UI:          UIConfig{Bell: true},
	}
}

// ConfigError is a configuration problem, naming the file, line and key.
type ConfigError struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": %s", e.Key)
	}
	fmt.Fprintf(&b, ": %s", e.Msg)
	return b.String()
}

// LoadConfig reads, strictly decodes and validates a config file.
func LoadConfig(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: err.Error()}
	}
	cfg, err := ParseConfig(path, src)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// ParseConfig decodes src (named path in errors) over the defaults.
func ParseConfig(path string, src []byte) (*Config, error) {
	cfg := Defaults()
	dec := toml.NewDecoder(bytes.NewReader(src))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, decodeError(path, src, err)
	}
	cfg.Path = path
	for i := range cfg.Slots {
		cfg.slotLines = append(cfg.slotLines, keyLine(src, fmt.Sprintf("slot[%d]", i)))
	}
	if err := cfg.validate(src); err != nil {
		return nil, err
	}
	cfg.resolvePaths()
	return &cfg, nil
}

func decodeError(path string, src []byte, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		first := strict.Errors[0]
		row, _ := first.Position()
		return &ConfigError{File: path, Line: row, Key: strings.Join(first.Key(), "."), Msg: "unknown key"}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		// A value of the wrong kind: say the form the key wants and what
		// the file has, never the Go type behind it.
		row, _ := de.Position()
		key := strings.Join(de.Key(), ".")
		got := rawValue(src, key)
		if got == "" {
			return &ConfigError{File: path, Line: row, Key: key, Msg: "want " + expectedForm(de.Key())}
		}
		return &ConfigError{File: path, Line: row, Key: key, Msg: fmt.Sprintf("want %s; got %s", expectedForm(de.Key()), got)}
	}
	var dur *durationError
	if errors.As(err, &dur) {
		key, row := findDuration(src, dur.raw)
		return &ConfigError{File: path, Line: row, Key: key, Msg: dur.Error()}
	}
	return &ConfigError{File: path, Msg: err.Error()}
}

func (c *Config) validate(src []byte) error {
	bad := func(key, format string, args ...any) error {
		return &ConfigError{File: c.Path, Line: keyLine(src, key), Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	oneOf := func(key, v string, allowed ...string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return bad(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	checks := []error{
		required(bad, "station_id", c.StationID),
		required(bad, "firmware.hex", c.Firmware.Hex),
		oneOf("flash.tool", c.Flash.Tool, "nrfjprog", "nrfutil"),
		oneOf("flash.erase", c.Flash.Erase, "chip", "sector"),
		oneOf("modem.mode", c.Modem.Mode, "at", "shell", "auto"),
		oneOf("portal.kind", c.Portal.Kind, "leshan", "coiote", "http", "none"),
		oneOf("bootstrap.trigger", c.Bootstrap.Trigger, "reset", "none"),
		oneOf("line.discovery", c.Line.Discovery, "usb", "tool"),
		oneOf("rules.reprovision", c.Rules.Reprovision, "allow", "warn", "refuse"),
	}
	if c.Line.Discovery != "usb" && (c.Line.SysfsRoot != "" || c.Line.UeventSocket != "") {
		checks = append(checks, bad("line.discovery", "sysfs_root and uevent_socket need discovery = \"usb\""))
	}
	if c.Rules.LockAfter < 0 {
		checks = append(checks, bad("rules.lock_after", "must be 0 (off) or a positive count, got %d", c.Rules.LockAfter))
	}
	if c.Rules.MaxAttempts < 0 {
		checks = append(checks, bad("rules.max_attempts", "must be 0 (off) or a positive count, got %d", c.Rules.MaxAttempts))
	}
	for _, code := range c.Rules.LockCodes {
		if _, ok := codes[Code(code)]; !ok {
			checks = append(checks, bad("rules.lock_codes", "unknown failure code %q", code))
		}
	}
	if c.Firmware.SHA256 != "" && !isHex(c.Firmware.SHA256, 64) {
		checks = append(checks, bad("firmware.sha256", "must be 64 hex digits"))
	}
	if c.Credentials.PSKBytes < 8 || c.Credentials.PSKBytes > 32 {
		checks = append(checks, bad("credentials.psk_bytes", "must be between 8 and 32, got %d", c.Credentials.PSKBytes))
	}
	if c.Credentials.BootstrapTag == c.Credentials.ServerTag {
		checks = append(checks, bad("credentials.server_tag", "must differ from bootstrap_tag"))
	}
	for _, tag := range []struct {
		key string
		v   uint32
	}{{"credentials.bootstrap_tag", c.Credentials.BootstrapTag}, {"credentials.server_tag", c.Credentials.ServerTag}} {
		if tag.v > 2147483647 {
			checks = append(checks, bad(tag.key, "sec_tag above 2147483647 is reserved by the modem"))
		}
	}
	if !strings.Contains(c.Credentials.Identity, "{imei}") {
		checks = append(checks, bad("credentials.identity", "must contain {imei}"))
	}
	if c.Portal.Kind != "none" && c.Portal.Kind != "http" && c.Portal.URL == "" {
		checks = append(checks, bad("portal.url", "required for portal kind %q", c.Portal.Kind))
	}
	if c.Portal.Kind == "leshan" && c.Portal.TargetURI == "" {
		checks = append(checks, bad("portal.target_uri", "required for portal kind leshan"))
	}
	if c.Portal.Kind == "http" && len(c.Portal.HTTP) == 0 {
		checks = append(checks, bad("portal.request", "portal kind http needs at least one [[portal.request]]"))
	}
	if c.Bootstrap.VerifyReboot && c.Bootstrap.Trigger == "none" {
		checks = append(checks, bad("bootstrap.verify_reboot", "needs bootstrap.trigger = \"reset\": without a live bootstrap there is nothing to verify"))
	}
	if c.Bootstrap.Probe && c.Bootstrap.ServerURI == "" {
		checks = append(checks, bad("bootstrap.server_uri", "required when bootstrap.probe = true"))
	}
	if c.Bootstrap.ProbeTimeout.Duration <= 0 {
		checks = append(checks, bad("bootstrap.probe_timeout", "must be positive"))
	}
	if c.Modem.RTSCTS {
		// go.bug.st/serial cannot enable hardware flow control; refuse
		// it here rather than fail every unit at the port.
		checks = append(checks, bad("modem.rtscts", "hardware flow control is not supported by this station's serial driver"))
	}
	if c.Modem.Baud <= 0 {
		checks = append(checks, bad("modem.baud", "must be positive"))
	}
	if c.Central.URL != "" {
		if msg := centralURLProblem(c.Central.URL); msg != "" {
			checks = append(checks, bad("central.url", "%s", msg))
		}
	}
	checks = append(checks, c.validateSlots(bad)...)
	return errors.Join(checks...)
}

func (c *Config) validateSlots(bad func(key, format string, args ...any) error) []error {
	var errs []error
	if len(c.Slots) == 0 {
		errs = append(errs, bad("slot", "at least one [[slot]] is required"))
	}
	names := map[string]int{}
	// Two slots never share a probe, a port or a USB location: both units
	// would be driven through one cable and fail with misleading codes.
	owners := map[string]map[string]int{"probe": {}, "port": {}, "usb": {}}
	for i, s := range c.Slots {
		key := fmt.Sprintf("slot[%d]", i)
		switch prev, dup := names[s.Name]; {
		case s.Name == "":
			errs = append(errs, bad(key+".name", "required"))
		case dup:
			errs = append(errs, bad(key+".name", "duplicate slot name %q (also slot[%d])", s.Name, prev))
		}
		names[s.Name] = i
		if s.Probe == "" && s.Port == "" && s.USB == "" {
			errs = append(errs, bad(key, "needs at least one of usb, probe, port"))
		}
		if s.Probe != "" && !isDigits(s.Probe) {
			errs = append(errs, bad(key+".probe", "J-Link serial must be digits, got %q", s.Probe))
		}
		if s.USB != "" && !validUSBPath(s.USB) {
			errs = append(errs, bad(key+".usb", "USB location must look like \"1-4.3.2\" (bus-port.port…), got %q", s.USB))
		}
		for _, f := range []struct{ field, v string }{{"usb", s.USB}, {"probe", NormalizeSerial(s.Probe)}, {"port", s.Port}} {
			field, v := f.field, f.v
			if v == "" {
				continue
			}
			if field == "port" {
				v = filepath.Clean(v)
			}
			if prev, dup := owners[field][v]; dup {
				errs = append(errs, bad(fmt.Sprintf("%s.%s", key, field), "%s %q is also used by slot[%d] (%q, line %d): two slots cannot share one",
					field, v, prev, c.Slots[prev].Name, c.slotLine(prev)))
				continue
			}
			owners[field][v] = i
		}
	}
	return errs
}

// slotLine is the line of the i-th [[slot]] header, for messages that name
// two slots; set when the config is parsed.
func (c *Config) slotLine(i int) int {
	if i < len(c.slotLines) {
		return c.slotLines[i]
	}
	return 0
}

// centralURLProblem says what is wrong with a [central] url, or "". The
// password never sits in the config file (it is copied around, shown in
// bug reports): libpq's PGPASSWORD, password file or service file give it.
// The message never repeats the URL, which may hold that password.
func centralURLProblem(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "must be a postgres:// URL"
	}
	if _, set := u.User.Password(); set {
		return "must not contain a password: set PGPASSWORD or use a libpq password file (~/.pgpass) or service file"
	}
	for k := range u.Query() {
		if strings.EqualFold(k, "password") {
			return "must not contain a password: set PGPASSWORD or use a libpq password file (~/.pgpass) or service file"
		}
	}
	return ""
}

// validUSBPath accepts a sysfs USB device name: bus, dash, ports joined by
// dots ("1-4", "1-4.3.2").
func validUSBPath(s string) bool {
	bus, ports, ok := strings.Cut(s, "-")
	if !ok || !isDigits(bus) || ports == "" {
		return false
	}
	for _, p := range strings.Split(ports, ".") {
		if !isDigits(p) {
			return false
		}
	}
	return true
}

func required(bad func(key, format string, args ...any) error, key, v string) error {
	if strings.TrimSpace(v) == "" {
		return bad(key, "required")
	}
	return nil
}

func (c *Config) resolvePaths() {
	dir := filepath.Dir(c.Path)
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.Database = abs(c.Database)
	c.Firmware.Hex = abs(c.Firmware.Hex)
	c.Line.SysfsRoot = abs(c.Line.SysfsRoot)
	c.Line.UeventSocket = abs(c.Line.UeventSocket)
	if strings.ContainsRune(c.Flash.Path, filepath.Separator) {
		c.Flash.Path = abs(c.Flash.Path)
	}
}

// SlotList returns the configured slots with normalised probe serials.
func (c *Config) SlotList() []Slot {
	out := make([]Slot, len(c.Slots))
	for i, s := range c.Slots {
		out[i] = Slot{Name: s.Name, Probe: NormalizeSerial(s.Probe), Port: s.Port, USB: s.USB}
	}
	return out
}

// Endpoint is the PSK identity / LwM2M endpoint name for an IMEI.
func (c *Config) Endpoint(imei string) string {
	return strings.ReplaceAll(c.Credentials.Identity, "{imei}", imei)
}

// MarshalConfig renders a config as TOML (used by the virtual line to write
// a ready station.toml).
func MarshalConfig(c *Config) ([]byte, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(false)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}

// keyLine finds the line where a dotted key ("flash.tool", "slot[1].probe")
// is set, so semantic errors can name it. Zero when not found (a default).
func keyLine(src []byte, key string) int {
	table, leaf, index := splitKey(key)
	lines := strings.Split(string(src), "\n")
	current, seen := "", -1
	for i, raw := range lines {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "[[") {
			current = strings.Trim(line, "[] ")
			if current == table {
				seen++
			}
			if current == table && leaf == "" && seen == index {
				return i + 1
			}
			continue
		}
		if strings.HasPrefix(line, "[") {
			current = strings.Trim(line, "[] ")
			if current == table && leaf == "" {
				return i + 1
			}
			continue
		}
		if current != table || (index >= 0 && seen != index) {
			continue
		}
		name, _, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(name) == leaf {
			return i + 1
		}
	}
	return 0
}

// splitKey turns "slot[1].probe" into ("slot", "probe", 1) and
// "flash.tool" into ("flash", "tool", -1).
func splitKey(key string) (table, leaf string, index int) {
	index = -1
	if i := strings.LastIndex(key, "."); i >= 0 {
		table, leaf = key[:i], key[i+1:]
	} else {
		leaf = key
	}
	if open := strings.Index(table, "["); open >= 0 {
		n, err := strconv.Atoi(strings.TrimSuffix(table[open+1:], "]"))
		if err == nil {
			index = n
		}
		table = table[:open]
	}
	if strings.HasPrefix(key, "slot[") && !strings.Contains(key, ".") {
		table, leaf = "slot", ""
		if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(key, "slot["), "]")); err == nil {
			index = n
		}
	}
	if key == "slot" {
		return "slot", "", 0
	}
	return table, leaf, index
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range strings.ToLower(s) {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
