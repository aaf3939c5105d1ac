package flash

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"nrfline/station"
)

// op is one Flasher call.
type op struct {
	name string
	call func(ctx context.Context, f flasher, probe string, fw station.Firmware, report func(station.ToolLine)) error
}

var (
	opProgram = op{"program", func(ctx context.Context, f flasher, p string, fw station.Firmware, r func(station.ToolLine)) error {
		return f.Program(ctx, p, fw, r)
	}}
	opRecover = op{"recover", func(ctx context.Context, f flasher, p string, _ station.Firmware, r func(station.ToolLine)) error {
		return f.Recover(ctx, p, r)
	}}
	opReset = op{"reset", func(ctx context.Context, f flasher, p string, _ station.Firmware, r func(station.ToolLine)) error {
		return f.Reset(ctx, p, r)
	}}
)

// TestArgv asserts the exact command line of every operation of both
// tools (flash-tools.md §2), with the probe's leading zeros stripped.
func TestArgv(t *testing.T) {
	fw := mustFirmware(t)
	okUtil := `{"type":"task_end","data":{"task":{"name":"x"},"result":"success"}}` + "\n"
	tests := []struct {
		name   string
		tool   string
		erase  string
		verify bool
		op     op
		want   []string
	}{
		{"nrfjprog program chip verify", "nrfjprog", "chip", true, opProgram,
			[]string{"-f", "NRF91", "--snr", "1051202135", "--program", fw.Path, "--chiperase", "--verify", "--reset"}},
		// the test image writes UICR, which --sectorerase does not erase
		{"nrfjprog program sector verify", "nrfjprog", "sector", true, opProgram,
			[]string{"-f", "NRF91", "--snr", "1051202135", "--program", fw.Path, "--sectoranduicrerase", "--verify", "--reset"}},
		{"nrfjprog program chip no verify", "nrfjprog", "chip", false, opProgram,
			[]string{"-f", "NRF91", "--snr", "1051202135", "--program", fw.Path, "--chiperase", "--reset"}},
		{"nrfjprog recover", "nrfjprog", "chip", true, opRecover, []string{"-f", "NRF91", "--snr", "1051202135", "--recover"}},
		{"nrfjprog reset", "nrfjprog", "chip", true, opReset, []string{"-f", "NRF91", "--snr", "1051202135", "--reset"}},
		{"nrfutil program chip verify", "nrfutil", "chip", true, opProgram,
			[]string{"device", "program", "--json", "--firmware", fw.Path, "--serial-number", "1051202135",
				"--options", "chip_erase_mode=ERASE_ALL,verify=VERIFY_READ,reset=RESET_SYSTEM"}},
		{"nrfutil program sector no verify", "nrfutil", "sector", false, opProgram,
			[]string{"device", "program", "--json", "--firmware", fw.Path, "--serial-number", "1051202135",
				"--options", "chip_erase_mode=ERASE_RANGES_TOUCHED_BY_FIRMWARE,verify=VERIFY_NONE,reset=RESET_SYSTEM"}},
		{"nrfutil recover", "nrfutil", "chip", true, opRecover, []string{"device", "recover", "--json", "--serial-number", "1051202135"}},
		{"nrfutil reset", "nrfutil", "chip", true, opReset,
			[]string{"device", "reset", "--json", "--serial-number", "1051202135", "--reset-kind", "RESET_SYSTEM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, fakeScript{Stdout: okUtil})
			cfg := testConfig(tt.tool)
			cfg.Erase, cfg.Verify = tt.erase, tt.verify
			tool := newTool(t, f, cfg)
			for _, probe := range []string{"001051202135", "1051202135"} {
				if err := tt.op.call(t.Context(), tool, probe, fw, nil); err != nil {
					t.Fatalf("probe %s: %v", probe, err)
				}
			}
			got := f.argv()
			if len(got) != 2 || !slices.Equal(got[0], tt.want) || !slices.Equal(got[1], tt.want) {
				t.Errorf("argv\n got %q\nwant %q (twice)", got, tt.want)
			}
		})
	}
}

// TestSectorEraseWithoutUICR: an image that leaves UICR alone gets the
// plain sector erase (faster, and UICR keeps what it holds).
func TestSectorEraseWithoutUICR(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.hex")
	if err := os.WriteFile(path, encodeHex([]Segment{{Addr: 0x1000, Data: []byte("app only")}}), 0o600); err != nil {
		t.Fatal(err)
	}
	fw, err := CheckImage(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if fw.UICR || !mustFirmware(t).UICR {
		t.Fatalf("UICR detection: app-only image %v, image with UICR data %v", fw.UICR, mustFirmware(t).UICR)
	}
	f := newFake(t, fakeScript{})
	cfg := testConfig("nrfjprog")
	cfg.Erase = "sector"
	if err := newTool(t, f, cfg).Program(t.Context(), "1051202135", fw, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"-f", "NRF91", "--snr", "1051202135", "--program", fw.Path, "--sectorerase", "--verify", "--reset"}
	if got := f.argv(); len(got) != 1 || !slices.Equal(got[0], want) {
		t.Errorf("argv\n got %q\nwant %q", got, want)
	}
}

func TestVersionAndListArgv(t *testing.T) {
	tests := []struct {
		tool        string
		versionOut  string
		wantVersion string
		versionArgv []string
		listArgv    []string
	}{
		{"nrfjprog", "nrfjprog version: 10.24.2 external\nJLinkARM.dll version: 7.94e\n", "10.24.2",
			[]string{"--version"}, []string{"--ids"}},
		{"nrfutil", "nrfutil-device 2.7.16\n", "2.7.16",
			[]string{"device", "--version"}, []string{"device", "list", "--json"}},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			f := newFake(t, fakeScript{Stdout: tt.versionOut})
			tool := newTool(t, f, testConfig(tt.tool))
			v, err := tool.Version(t.Context())
			if err != nil || v != tt.wantVersion {
				t.Fatalf("Version = %q, %v; want %q", v, err, tt.wantVersion)
			}
			f.set(fakeScript{})
			if _, err := tool.List(t.Context()); err != nil {
				t.Fatal(err)
			}
			got := f.argv()
			if len(got) != 2 || !slices.Equal(got[0], tt.versionArgv) || !slices.Equal(got[1], tt.listArgv) {
				t.Errorf("argv %q, want %q then %q", got, tt.versionArgv, tt.listArgv)
			}
			f.set(fakeScript{Exit: 3, Stderr: "broken install\n"})
			if _, err := tool.Version(t.Context()); station.CodeOf(err) != station.FlashTool {
				t.Errorf("failing --version: got %v, want FLASH_TOOL", err)
			}
		})
	}
}

// TestProbeValidation: a probe that is not a J-Link serial never reaches
// the tool.
func TestProbeValidation(t *testing.T) {
	fw := mustFirmware(t)
	bad := []string{"", "  ", "abc", "12a4", "-1051202135", "1051202135 --recover", "0", "000000000000", "4294967296", "+105"}
	for _, tool := range []string{"nrfjprog", "nrfutil"} {
		for _, probe := range bad {
			t.Run(fmt.Sprintf("%s/%q", tool, probe), func(t *testing.T) {
				f := newFake(t, fakeScript{})
				fl := newTool(t, f, testConfig(tool))
				for _, o := range []op{opProgram, opRecover, opReset} {
					err := o.call(t.Context(), fl, probe, fw, nil)
					if station.CodeOf(err) != station.FlashTool {
						t.Errorf("%s: got %v, want FLASH_TOOL", o.name, err)
					}
				}
				if got := f.argv(); got != nil {
					t.Errorf("the tool ran: %q", got)
				}
			})
		}
	}
	for in, want := range map[string]string{"001051202135": "1051202135", " 1051202135 ": "1051202135", "4294967295": "4294967295", "000000000001": "1"} {
		if got, err := probeSerial(in); err != nil || got != want {
			t.Errorf("probeSerial(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestFirmwareChangedSinceCheck: Program refuses an image that is no longer
// the one CheckImage hashed, without running the tool.
func TestFirmwareChangedSinceCheck(t *testing.T) {
	for _, tool := range []string{"nrfjprog", "nrfutil"} {
		t.Run(tool, func(t *testing.T) {
			fw := mustFirmware(t)
			if err := os.WriteFile(fw.Path, []byte(lines(rec(0, recData, 0xEE), eof)), 0o600); err != nil {
				t.Fatal(err)
			}
			f := newFake(t, fakeScript{})
			err := newTool(t, f, testConfig(tool)).Program(t.Context(), "1051202135", fw, nil)
			if station.CodeOf(err) != station.FlashTool || !strings.Contains(err.Error(), "changed since it was checked") {
				t.Errorf("got %v", err)
			}
			err = newTool(t, f, testConfig(tool)).Program(t.Context(), "1051202135", station.Firmware{}, nil)
			if station.CodeOf(err) != station.FlashTool {
				t.Errorf("no firmware: got %v", err)
			}
			if f.argv() != nil {
				t.Error("the tool ran")
			}
		})
	}
}

// §4 outputs, for the classification runs.
const (
	textProtected = "ERROR: The operation attempted is unavailable due to readback protection in\nERROR: your device. Please use --recover to unlock the device.\n"
	textNoProbe   = "ERROR: There is no debugger connected to the PC.\n"
	textJLink     = "[error] [ Client] - Encountered error -102: Command connect_to_emu_with_snr executed for 181 milliseconds with result -102\n" +
		"ERROR: Unable to connect to a debugger.\n[error] [ Worker] - An unknown error.\n" +
		"ERROR: JLinkARM DLL reported an error. Try again. If error condition\n"
	textVerify = "[error] [ nRF91] - Failed while performing 'Verify' operation on target address 0x00000000.\n" +
		"-160: Data does not match in address range [0x00000000 - 0x00005D8F] (Flash)\nERROR: Write verify failed.\n"
	textRecover = "Recovering device. This operation might take 30s.\n" +
		"[error] [ Worker] - Could not connect to CPU core. This may indicate that AP protection is enabled.\n" +
		"ERROR: Recover failed. Please make sure that the correct device family is given\n"
)

// TestNrfjprogClassify runs every exit code of the §5 table through the
// tool and checks the §6 bucket, and that the ToolError and *exec.ExitError
// stay reachable.
func TestNrfjprogClassify(t *testing.T) {
	fw := mustFirmware(t)
	buckets := []struct {
		codes  []int
		want   station.Code
		stderr string
	}{
		{[]int{16}, station.FlashProtected, textProtected},
		{[]int{55}, station.FlashVerify, textVerify},
		{[]int{40, 41}, station.FlashNoProbe, textNoProbe},
		{[]int{33, 35, 42, 64}, station.FlashJLink, textJLink},
		{[]int{2, 18}, station.FlashWrongTarget, "ERROR: nrfjprog could not identify the target device.\n"},
		{[]int{62}, station.FlashRecoverFailed, textRecover},
		{[]int{11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 51, 52, 53, 54}, station.FlashTool, "ERROR: config\n"},
		{[]int{1, 3, 17, 19, 34, 36, 37, 38, 39, 43, 56, 57, 58, 59, 60, 61, 63, 65, 70, 106, 127}, station.FlashTool, "ERROR: other\n"},
	}
	f := newFake(t, fakeScript{})
	tool := newTool(t, f, testConfig("nrfjprog"))
	for _, b := range buckets {
		for _, code := range b.codes {
			t.Run(fmt.Sprintf("exit %d", code), func(t *testing.T) {
				f.set(fakeScript{Stdout: "Parsing image file.\n", Stderr: b.stderr, Exit: code})
				err := tool.Program(t.Context(), "1051202135", fw, nil)
				checkClassified(t, err, b.want, code)
			})
		}
	}
	t.Run("exit 0 with false ERROR lines is success", func(t *testing.T) {
		f.set(fakeScript{Stdout: "Verified OK.\n", Stderr: "ERROR: [ nRF91] - false error on modem zip upload\n"})
		if err := tool.Program(t.Context(), "1051202135", fw, nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("exit 62 on recover", func(t *testing.T) {
		f.set(fakeScript{Stderr: textRecover, Exit: 62})
		checkClassified(t, tool.Recover(t.Context(), "1051202135", nil), station.FlashRecoverFailed, 62)
	})
	t.Run("exit 16 on recover is a failed recover", func(t *testing.T) {
		f.set(fakeScript{Stderr: textProtected, Exit: 16})
		checkClassified(t, tool.Recover(t.Context(), "1051202135", nil), station.FlashRecoverFailed, 16)
	})
	t.Run("exit 33 on reset", func(t *testing.T) {
		f.set(fakeScript{Stderr: textJLink, Exit: 33})
		checkClassified(t, tool.Reset(t.Context(), "1051202135", nil), station.FlashJLink, 33)
	})
}

func checkClassified(t *testing.T, err error, want station.Code, exit int) {
	t.Helper()
	var se *station.Error
	if !errors.As(err, &se) || se.Code != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if se.Code.Hint() == "" {
		t.Errorf("%s has no operator hint", se.Code)
	}
	var te *ToolError
	if !errors.As(err, &te) || te.ExitCode != exit || len(te.Tail) == 0 || len(te.Args) == 0 {
		t.Fatalf("ToolError %+v, want exit %d with args and tail", te, exit)
	}
	var ee *exec.ExitError
	if exit != 0 && (!errors.As(err, &ee) || ee.ExitCode() != exit) {
		t.Errorf("*exec.ExitError not reachable from %v", err)
	}
}

// NDJSON samples (§7) for the nrfutil classification.
func utilEnd(code int, desc string) string {
	return fmt.Sprintf(`{"type":"task_end","data":{"task":{"id":"1","description":"Programming","name":"program","data":{}},"result":"fail","error":{"code":%d,"description":%q}}}`+"\n", code, desc)
}

const (
	utilBegin    = `{"type":"task_begin","data":{"task":{"id":"1","description":"Programming","name":"program","data":{"serialNumber":"1051202135"}}}}` + "\n"
	utilProgress = `{"type":"task_progress","data":{"task":{"id":"1"},"progress":{"progressPercentage":42,"message":"Writing image","description":"Programming","amountOfSteps":3,"step":2}}}` + "\n"
	utilOK       = `{"type":"task_end","data":{"task":{"id":"1","description":"Programming","name":"program","data":{}},"message":"Programmed","result":"success","error":null}}` + "\n"
	noDevicesErr = "Error: Failed with exit code 1. No devices with requested serial number(s) or trait(s) found.\n"
)

func TestNrfutilClassify(t *testing.T) {
	fw := mustFirmware(t)
	jlink := "[jlink] JLINKARM_DLL_ERROR, code: Nrfjlink. Message: Batch task program failed, [jlink] JLINKARM_DLL_ERROR."
	tests := []struct {
		name   string
		op     op
		stdout string
		stderr string
		exit   int
		want   station.Code // CodeNone: success
	}{
		{"success", opProgram, utilBegin + utilProgress + utilOK, "", 0, station.CodeNone},
		{"recover success", opRecover, utilBegin + utilOK, "", 0, station.CodeNone},
		{"protected 24", opProgram, utilBegin + utilEnd(24, "Failed to attach to target: The Application core access port is protected (All) (NotAvailableBecauseProtection)"), "", 1, station.FlashProtected},
		{"protection by text", opProgram, utilEnd(1, "target: NotAvailableBecauseSecureApProtection"), "", 1, station.FlashProtected},
		{"AP-Protect text", opProgram, utilEnd(1, "AP-Protect is enabled"), "", 1, station.FlashProtected},
		{"verify 25", opProgram, utilEnd(25, "Write verify failed. Data does not match"), "", 1, station.FlashVerify},
		{"verify by text", opProgram, utilEnd(1, "Write verify failed."), "", 1, station.FlashVerify},
		{"wrong family 27", opProgram, utilEnd(27, "Device error: Identified device family and target family do not match: NRF54L vs NRF91 (WrongFamily)"), "", 1, station.FlashWrongTarget},
		{"JLINKARM_DLL_ERROR", opProgram, utilBegin + utilEnd(1, jlink), "", 1, station.FlashJLink},
		{"JLINKARM_DLL_ERROR on reset", opReset, utilEnd(1, jlink), "", 1, station.FlashJLink},
		{"no devices on stderr", opProgram, "", noDevicesErr, 1, station.FlashNoProbe},
		{"no devices in task_end", opReset, utilEnd(1, "No devices with requested serial number(s) or trait(s) found."), "", 1, station.FlashNoProbe},
		{"recover fails", opRecover, utilEnd(1, "Failed to recover device"), "", 1, station.FlashRecoverFailed},
		{"recover finds it protected", opRecover, utilEnd(24, "NotAvailableBecauseProtection"), "", 1, station.FlashRecoverFailed},
		{"usage error", opProgram, "", "error: unexpected argument '--foo' found\n", 2, station.FlashTool},
		{"task failed, exit 0", opProgram, utilEnd(25, "verify"), "", 0, station.FlashVerify},
		{"no task_end, exit 0", opProgram, utilBegin, "", 0, station.FlashTool},
		{"success task_end, exit 1", opProgram, utilOK, "", 1, station.FlashTool},
		{"unknown error code", opProgram, utilEnd(99, "something new"), "", 1, station.FlashTool},
		{"fail without error object", opProgram, `{"type":"task_end","data":{"task":{},"result":"fail"}}` + "\n", "", 1, station.FlashTool},
		{"batch_end error 24", opProgram, `{"type":"batch_end","data":{"error":{"code":24,"description":"x"}}}` + "\n", "", 1, station.FlashProtected},
		{"nested in batch_update", opProgram, `{"type":"batch_update","data":{"batch":{"id":1},"data":` + strings.TrimSuffix(utilEnd(25, "v"), "\n") + `}}` + "\n", "", 1, station.FlashVerify},
		{"error code as text", opProgram, `{"type":"task_end","data":{"result":"fail","error":{"code":"24","description":"x"}}}` + "\n", "", 1, station.FlashProtected},
		{"garbage output", opProgram, "{not json\n", "", 1, station.FlashTool},
	}
	f := newFake(t, fakeScript{})
	tool := newTool(t, f, testConfig("nrfutil"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.set(fakeScript{Stdout: tt.stdout, Stderr: tt.stderr, Exit: tt.exit})
			err := tt.op.call(t.Context(), tool, "1051202135", fw, nil)
			if tt.want == station.CodeNone {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkClassified(t, err, tt.want, tt.exit)
		})
	}
}

// TestProgressReported runs real §3/§7 output through both tools and checks
// the lines and percentages the callback receives, including bars redrawn
// with "\r" on a terminal.
func TestProgressReported(t *testing.T) {
	fw := mustFirmware(t)
	tty := "[ ######               ]   0.000s | Erase file - Check image\r" +
		"[ #################### ]   0.352s | Erase file - Done erasing\r\n" +
		"[ ##########           ]   1.500s | Program file - Writing\r" +
		"[ #################### ]   2.994s | Program file - Done programming\r\n" +
		"Applying system reset.\r\nRun.\n"
	tests := []struct {
		name   string
		tool   string
		stdout string
		want   []station.ToolLine
	}{
		{"nrfjprog tty", "nrfjprog", tty, []station.ToolLine{
			{Text: "[ ######               ]   0.000s | Erase file - Check image", Phase: "Erase file", Percent: 30},
			{Text: "[ #################### ]   0.352s | Erase file - Done erasing", Phase: "Erase file", Percent: 100},
			{Text: "[ ##########           ]   1.500s | Program file - Writing", Phase: "Program file", Percent: 50},
			{Text: "[ #################### ]   2.994s | Program file - Done programming", Phase: "Program file", Percent: 100},
			{Text: "Applying system reset.", Percent: -1},
			{Text: "Run.", Percent: -1},
		}},
		{"nrfjprog 9.x", "nrfjprog", "Parsing hex file.\nErasing user available code and UICR flash areas.\nVerified OK.\n", []station.ToolLine{
			{Text: "Parsing hex file.", Percent: -1},
			{Text: "Erasing user available code and UICR flash areas.", Percent: -1},
			{Text: "Verified OK.", Percent: -1},
		}},
		{"nrfutil", "nrfutil", utilBegin + utilProgress + utilOK, []station.ToolLine{
			{Text: "Programming", Percent: -1},
			{Text: "Writing image 42%", Phase: "Programming", Percent: 42},
			{Text: "Programming: Programmed", Percent: -1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, fakeScript{Stdout: tt.stdout})
			var got []station.ToolLine
			if err := newTool(t, f, testConfig(tt.tool)).Program(t.Context(), "1051202135", fw, func(l station.ToolLine) { got = append(got, l) }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("reported\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseJprogLine(t *testing.T) {
	tests := []struct {
		in      string
		phase   string
		percent int
	}{
		{"[ #################### ]   3.003s | Verify file - Done verifying", "Verify file", 100},
		{"[ ######               ]   0.000s | Erase file - Check image", "Erase file", 30},
		{"[                      ]   0.000s | Erasing non-volatile memory - Erase successful", "Erasing non-volatile memory", 0},
		{"[ #                    ]   0.100s | Programming image - Write successful", "Programming image", 5},
		{"[ #################### ]  43.186s | Uploading modem image - segment 2 of 2", "Uploading modem image", 100},
		{"[ #################### ]   0.000s | Finding image components - Finished", "Finding image components", 100},
		{"[error] [ Client] - Encountered error -102", "", -1},
		{"[ nRF91] no bar", "", -1},
		{"[ ### ] no pipe", "", -1},
		{"[]   0.1s | X - y", "", -1},
		{"Applying system reset.", "", -1},
		{"WARNING: Programming can fail without error.", "", -1},
	}
	for _, tt := range tests {
		got := parseJprogLine(tt.in)
		if got.Text != tt.in || got.Phase != tt.phase || got.Percent != tt.percent {
			t.Errorf("parseJprogLine(%q) = %+v, want phase %q percent %d", tt.in, got, tt.phase, tt.percent)
		}
	}
}

func TestList(t *testing.T) {
	info := `{"type":"info","data":{"devices":[` +
		`{"id":1,"serialNumber":"1051202135","traits":{"jlink":true}},` +
		`{"id":2,"usb":{"serialNumber":"001050263976"},"traits":{"jlink":true}},` +
		`{"id":3,"serialNumber":"THINGY91X_F39CC1B120C","traits":{"jlink":false,"nordicUsb":true}},` +
		`{"id":4,"serialNumber":"1050000001","traits":{"jlink":false}}]}}` + "\n"
	older := `{"type":"task_end","data":{"task":{"name":"list"},"result":"success","data":{"devices":[{"serialNumber":"000979015607"},{"serialNumber":"1051202135"}]}}}` + "\n"
	tests := []struct {
		name    string
		tool    string
		script  fakeScript
		want    []string
		wantErr station.Code
	}{
		{"nrfjprog ids", "nrfjprog", fakeScript{Stdout: "1050263976\n001051202135\n1050263976\n"}, []string{"1050263976", "1051202135"}, ""},
		{"nrfjprog none (41)", "nrfjprog", fakeScript{Stderr: textNoProbe, Exit: 41}, nil, ""},
		{"nrfjprog J-Link error", "nrfjprog", fakeScript{Stderr: textJLink, Exit: 33}, nil, station.FlashJLink},
		{"nrfutil info placement", "nrfutil", fakeScript{Stdout: info}, []string{"1051202135", "1050263976"}, ""},
		{"nrfutil task_end placement", "nrfutil", fakeScript{Stdout: older}, []string{"979015607", "1051202135"}, ""},
		{"nrfutil none", "nrfutil", fakeScript{Stdout: `{"type":"info","data":{"devices":[]}}` + "\n"}, nil, ""},
		{"nrfutil fails", "nrfutil", fakeScript{Stderr: "Error: Failed to list devices\n", Exit: 1}, nil, station.FlashTool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.script)
			got, err := newTool(t, f, testConfig(tt.tool)).List(t.Context())
			if station.CodeOf(err) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Errorf("List = %q, %v; want %q, %s", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestNew: the tool is cfg.Path or found in PATH by name.
func TestNew(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, name := range []string{"nrfjprog", "nrfutil", "custom-tool"} {
		if err := os.Symlink(exe, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	newFake(t, fakeScript{Stdout: "tool 1.0\n"})
	t.Setenv("PATH", bin)
	tests := []struct {
		name     string
		cfg      station.FlashConfig
		wantType string
		wantPath string
	}{
		{"nrfjprog from PATH", station.FlashConfig{Tool: "nrfjprog", Erase: "chip"}, "*flash.Nrfjprog", filepath.Join(bin, "nrfjprog")},
		{"nrfutil from PATH", station.FlashConfig{Tool: "nrfutil", Erase: "sector"}, "*flash.Nrfutil", filepath.Join(bin, "nrfutil")},
		{"explicit path", station.FlashConfig{Tool: "nrfutil", Erase: "chip", Path: filepath.Join(bin, "custom-tool")}, "*flash.Nrfutil", filepath.Join(bin, "custom-tool")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fl, err := New(tt.cfg, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			tool := fl.(flasher)
			if got := fmt.Sprintf("%T", fl); got != tt.wantType || tool.runner().Path != tt.wantPath {
				t.Errorf("got %s at %s", got, tool.runner().Path)
			}
			if v, err := tool.Version(t.Context()); err != nil || v != "1.0" {
				t.Errorf("Version through the found binary = %q, %v", v, err)
			}
		})
	}
	bad := []struct {
		name string
		cfg  station.FlashConfig
	}{
		{"not in PATH", station.FlashConfig{Tool: "nrfjprog", Erase: "chip", Path: "nrfjprog-missing"}},
		{"missing path", station.FlashConfig{Tool: "nrfjprog", Erase: "chip", Path: filepath.Join(bin, "none")}},
		{"unknown tool", station.FlashConfig{Tool: "openocd", Erase: "chip"}},
		{"unknown erase", station.FlashConfig{Tool: "nrfjprog", Erase: "all"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, nil); station.CodeOf(err) != station.FlashTool {
				t.Errorf("got %v, want FLASH_TOOL", err)
			}
		})
	}
	if _, err := New(bad[0].cfg, nil); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("%v does not wrap exec.ErrNotFound", err)
	}
}

// TestToolMissingAtRun: a binary that disappeared is FLASH_TOOL with the
// cause reachable.
func TestToolMissingAtRun(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nrfjprog")
	err := NewNrfjprog(missing, testConfig("nrfjprog"), testLogger(t)).Reset(t.Context(), "1051202135", nil)
	if station.CodeOf(err) != station.FlashTool || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want FLASH_TOOL wrapping ErrNotExist", err)
	}
}

// TestTail: the ToolError keeps the last lines of both streams.
func TestTail(t *testing.T) {
	var out strings.Builder
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&out, "line %d\n", i)
	}
	f := newFake(t, fakeScript{Stdout: out.String(), Exit: 1})
	err := newTool(t, f, testConfig("nrfjprog")).Reset(t.Context(), "1051202135", nil)
	var te *ToolError
	if !errors.As(err, &te) {
		t.Fatal(err)
	}
	if len(te.Tail) != tailLines || te.Tail[0] != "line 11" || te.Tail[tailLines-1] != "line 30" {
		t.Errorf("tail %q", te.Tail)
	}
	if !strings.Contains(te.Error(), "exit code 1: line 30") || te.Tool != "nrfjprog" {
		t.Errorf("ToolError text %q", te.Error())
	}
}

// The J-Link retry note quotes the tool's whole error sentence, which
// nrfjprog spreads over three "ERROR:" lines, and not the firmware's path.
func TestToolErrorKeepsTheWholeSentence(t *testing.T) {
	te := &ToolError{Tool: "nrfjprog", ExitCode: 33,
		Args: []string{"-f", "NRF91", "--snr", "1051202135", "--program", "/very/long/build/folder/zephyr/merged.hex", "--verify"},
		Tail: []string{
			"Parsing image file.",
			"ERROR: JLinkARM DLL reported an error. Try again. If error condition",
			"ERROR: persists, run the same command again with argument --log, contact Nordic",
			"ERROR: Semiconductor and provide the generated log.log file to them.",
		}}
	want := "nrfjprog -f NRF91 --snr 1051202135 --program merged.hex --verify: exit code 33: " +
		"ERROR: JLinkARM DLL reported an error. Try again. If error condition persists, run the same command " +
		"again with argument --log, contact Nordic Semiconductor and provide the generated log.log file to them."
	if got := te.Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
