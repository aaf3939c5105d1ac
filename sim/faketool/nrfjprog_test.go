package faketool

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"nrfline/sim/flashctl"
)

// progressLines builds the intermediate lines of one phase (10 %…90 %).
func progressLines(total float64, text string) []string {
	var ls []string
	for pct := 10; pct < 100; pct += 10 {
		hashes := strings.Repeat("#", pct/5) + strings.Repeat(" ", 20-pct/5)
		ls = append(ls, fmt.Sprintf("[ %s ] %7.3fs | %s", hashes, total*float64(pct)/100, text))
	}
	return ls
}

var (
	transientText = []string{
		"[error] [ Client] - Encountered error -102: Command connect_to_emu_with_snr executed for 181 milliseconds with result -102",
		"ERROR: Unable to connect to a debugger.",
		"[error] [ Worker] - An unknown error.",
		"ERROR: JLinkARM DLL reported an error. Try again. If error condition",
		"ERROR: persists, run the same command again with argument --log, contact Nordic",
		"ERROR: Semiconductor and provide the generated log.log file to them.",
	}
	protectedText = []string{
		"ERROR: The operation attempted is unavailable due to readback protection in",
		"ERROR: your device. Please use --recover to unlock the device.",
	}
	noDebuggerText = []string{"ERROR: There is no debugger connected to the PC."}
)

func programArgs(file string, extra ...string) []string {
	return append([]string{"-f", "NRF91", "--snr", "1051200001", "--program", file}, extra...)
}

func TestNrfjprogProgram(t *testing.T) {
	l, u := oneUnit(t, flashctl.Faults{})
	file, _, sha := appHex(t)
	r := run(t, l.jprog, programArgs(file, "--chiperase", "--verify", "--reset")...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	// 32 KiB: erase 0.35 s, program 8 s/MiB → 0.25 s, verify 4 s/MiB → 0.125 s.
	var want []string
	want = append(want, "[ ######               ]   0.000s | Erase file - Check image")
	want = append(want, progressLines(0.35, "Erasing non-volatile memory - Erase successful")...)
	want = append(want, "[ #################### ]   0.350s | Erase file - Done erasing")
	want = append(want, progressLines(0.25, "Programming image - Write successful")...)
	want = append(want, "[ #################### ]   0.250s | Program file - Done programming")
	want = append(want, progressLines(0.125, "Verifying image - Verify successful")...)
	want = append(want, "[ #################### ]   0.125s | Verify file - Done verifying")
	want = append(want, "Applying system reset.", "Run.")
	assertLines(t, "stdout", r.outLines(), want)
	assertLines(t, "unit calls", u.Calls(), []string{"halt", "erase chip=true", fmt.Sprintf("program %d %s", 32<<10, sha), "reset"})
}

func TestNrfjprogSectorEraseNoVerify(t *testing.T) {
	l, u := oneUnit(t, flashctl.Faults{})
	file, _, sha := appHex(t)
	r := run(t, l.jprog, programArgs(file, "--sectorerase", "--pinreset")...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	out := r.outLines()
	// 8 pages of 4 KiB at 22 s/MiB.
	if got, want := out[10], "[ #################### ]   0.688s | Erase file - Done erasing"; got != want {
		t.Errorf("erase done line %q, want %q", got, want)
	}
	assertLines(t, "tail", out[len(out)-2:], []string{"[ #################### ]   0.250s | Program file - Done programming", "Applying pin reset."})
	assertLines(t, "stderr", r.errLines(), []string{
		"WARNING: A programming operation has been performed without --verify.",
		"WARNING: Programming can fail without error.",
	})
	assertLines(t, "unit calls", u.Calls(), []string{"halt", "erase chip=false", fmt.Sprintf("program %d %s", 32<<10, sha), "reset"})
}

type jprogStep struct {
	args    []string
	code    int
	stdout  []string // checked when not nil
	stderr  []string // checked when not nil
	errHead string   // stderr must start with this, when set
}

func TestNrfjprogFaults(t *testing.T) {
	file, data, sha := appHex(t)
	full := programArgs(file, "--chiperase", "--verify", "--reset")
	snr := []string{"-f", "NRF91", "--snr", "1051200001"}
	prog := fmt.Sprintf("program %d %s", len(data), sha)
	tests := []struct {
		name   string
		faults flashctl.Faults
		steps  []jprogStep
		calls  []string
	}{
		{"protected until recover", flashctl.Faults{Protected: true}, []jprogStep{
			{args: full, code: 16, stdout: []string{}, stderr: protectedText},
			{args: append(snr, "--recover"), code: 0, stderr: []string{}, stdout: []string{
				"Recovering device. This operation might take 30s.",
				"Erasing user code and UICR flash areas.",
				"Writing image to disable ap protect.",
			}},
			{args: full, code: 0, stderr: []string{}},
		}, []string{"halt", "erase chip=true", "halt", "erase chip=true", prog, "reset"}},
		{"transient J-Link once", flashctl.Faults{JLinkTransient: true}, []jprogStep{
			{args: full, code: 33, stdout: []string{}, stderr: transientText},
			{args: full, code: 0, stderr: []string{}},
		}, []string{"halt", "erase chip=true", prog, "reset"}},
		{"verify mismatch", flashctl.Faults{VerifyError: true}, []jprogStep{
			{args: full, code: 55, stderr: []string{
				"[error] [ Client] - Encountered error -160: Command verify_file executed for 125 milliseconds with result -160",
				"[error] [ nRF91] - Failed while performing 'Verify' operation on target address 0x00000000.",
				"-160: Data does not match in address range [0x00000000 - 0x00007FFF] (Flash)",
				fmt.Sprintf("Expected byte value 0x%02X but read 0x%02X at address 0x00000047.", data[0x47], data[0x47]^2),
				"ERROR: Write verify failed.",
			}},
		}, []string{"halt", "erase chip=true", prog}},
		{"unplug at flash", flashctl.Faults{UnplugAtFlash: true}, []jprogStep{
			{args: full, code: 33, stderr: []string{
				"[error] [ Client] - Encountered error -102: Command program_file executed for 25 milliseconds with result -102",
				"[error] [ Worker] - An unknown error.",
				"ERROR: JLinkARM DLL reported an error. Try again. If error condition",
				"ERROR: persists, run the same command again with argument --log, contact Nordic",
				"ERROR: Semiconductor and provide the generated log.log file to them.",
			}},
			{args: full, code: 41, stdout: []string{}, stderr: noDebuggerText},
			{args: []string{"--ids"}, code: 0, stdout: []string{}, stderr: []string{}},
		}, []string{"halt", "erase chip=true", "unplug"}},
		{"unplug at bootstrap reset", flashctl.Faults{UnplugAtBootstrap: true}, []jprogStep{
			{args: full, code: 0, stderr: []string{}},
			{args: append(snr, "--reset"), code: 41, stdout: []string{}, stderr: noDebuggerText},
		}, []string{"halt", "erase chip=true", prog, "reset", "unplug"}},
		{"standalone operations", flashctl.Faults{}, []jprogStep{
			{args: append(snr, "-r"), code: 0, stdout: []string{"Applying system reset.", "Run."}, stderr: []string{}},
			{args: append(snr, "--pinreset"), code: 0, stdout: []string{"Applying pin reset."}, stderr: []string{}},
			{args: append(snr, "-e"), code: 0, stdout: []string{"Erasing user available code and UICR flash areas.", "Applying system reset."}},
			{args: programArgs(file, "--verify"), code: 0, stderr: []string{}},
			{args: programArgs(file, "--verify"), code: 58, errHead: "ERROR: "},
		}, []string{"reset", "reset", "halt", "erase chip=true", "reset", "halt", prog}},
		{"program without erase on a chip holding firmware", flashctl.Faults{}, []jprogStep{
			{args: programArgs(file, "--verify", "--reset"), code: 58, stdout: []string{}, errHead: "ERROR: "},
		}, nil},
		{"wrong family", flashctl.Faults{}, []jprogStep{
			{args: []string{"-f", "nrf52", "--snr", "1051200001", "--reset"}, code: 18, stderr: []string{
				"ERROR: nrfjprog could not identify the target device. This may be due to an",
				"ERROR: invalid family argument, a problem with your device, or nrfjprog may",
				"ERROR: not yet support your device.",
				"ERROR: Please check the family argument passed, or upgrade nrfjprog to a more",
				"ERROR: recent version.",
			}},
		}, nil},
		{"unknown serial", flashctl.Faults{}, []jprogStep{
			{args: []string{"-f", "NRF91", "--snr", "1051209999", "-r"}, code: 41, stderr: noDebuggerText},
		}, nil},
		{"leading zeros and lower-case family", flashctl.Faults{}, []jprogStep{
			{args: []string{"-f", "nrf91", "--snr", "001051200001", "-r"}, code: 0, stdout: []string{"Applying system reset.", "Run."}},
		}, []string{"reset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, u := oneUnit(t, tt.faults)
			for i, st := range tt.steps {
				r := run(t, l.jprog, st.args...)
				checkStep(t, i, st, r)
			}
			assertLines(t, "unit calls", u.Calls(), tt.calls)
		})
	}
}

func checkStep(t *testing.T, i int, st jprogStep, r runResult) {
	t.Helper()
	if r.code != st.code {
		t.Fatalf("step %d %q: exit %d, want %d\nstdout %s\nstderr %s", i, st.args, r.code, st.code, r.stdout, r.stderr)
	}
	if st.stdout != nil {
		assertLines(t, fmt.Sprintf("step %d stdout", i), r.outLines(), nilIfEmpty(st.stdout))
	}
	if st.stderr != nil {
		assertLines(t, fmt.Sprintf("step %d stderr", i), r.errLines(), nilIfEmpty(st.stderr))
	}
	if st.errHead != "" && !strings.HasPrefix(r.stderr, st.errHead) {
		t.Errorf("step %d stderr %q, want prefix %q", i, r.stderr, st.errHead)
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestNrfjprogNoSim(t *testing.T) {
	// Scripts pointing at a socket nobody listens on: no debugger.
	exe := mustExe(t)
	dir := t.TempDir()
	jp, _, err := WriteScripts(dir, exe, filepath.Join(dir, "absent.sock"))
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, jp, "-f", "NRF91", "--snr", "1051200001", "--recover")
	if r.code != 41 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	assertLines(t, "stderr", r.errLines(), noDebuggerText)
	if r := run(t, jp, "--ids"); r.code != 0 || r.stdout != "" {
		t.Errorf("--ids without sim: %+v", r)
	}
}

func TestNrfjprogListAndVersion(t *testing.T) {
	l := mustLine(t,
		&flashctl.Probe{Serial: "001051200001", Port: "/dev/pts/3", Port2: "/dev/pts/4", Unit: &recUnit{}},
		&flashctl.Probe{Serial: "001051200002", Port: "/tmp/sim/unit2-vcom0", Unit: &recUnit{}})
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--ids"}, []string{"1051200001", "1051200002"}},
		{[]string{"-i"}, []string{"1051200001", "1051200002"}},
		{[]string{"--com"}, []string{
			"1051200001         /dev/pts/3      VCOM0",
			"1051200001         /dev/pts/4      VCOM1",
			"1051200002         /tmp/sim/unit2-vcom0 VCOM0",
		}},
		{[]string{"--version"}, []string{"nrfjprog version: 10.24.2 external", "JLinkARM.dll version: 7.94e"}},
		{[]string{"-v"}, []string{"nrfjprog version: 10.24.2 external", "JLinkARM.dll version: 7.94e"}},
	}
	for _, tt := range tests {
		r := run(t, l.jprog, tt.args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("%q: exit %d stderr %q", tt.args, r.code, r.stderr)
		}
		assertLines(t, strings.Join(tt.args, " "), r.outLines(), tt.want)
	}
}

func TestNrfjprogArgs(t *testing.T) {
	l, u := oneUnit(t, flashctl.Faults{})
	file, _, _ := appHex(t)
	bad := writeFile(t, "bad.hex", ":10000000FFFFFFFF\n:00000001FF\n")
	outside := writeFile(t, "outside.hex", string(makeHex(map[uint32][]byte{0x0200_0000: pattern(16, 1)})))
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"unknown option", []string{"--frobnicate"}, 11},
		{"snr not digits", []string{"-f", "NRF91", "--snr", "10512x", "-r"}, 11},
		{"snr beyond 32 bits", []string{"-f", "NRF91", "--snr", "99999999999", "-r"}, 11},
		{"snr zero", []string{"-f", "NRF91", "--snr", "000", "-r"}, 11},
		{"unknown family", []string{"-f", "NRF99", "--snr", "1051200001", "-r"}, 11},
		{"stray positional", []string{"-f", "NRF91", "--snr", "1051200001", "-r", "now"}, 11},
		{"family missing", []string{"--snr", "1051200001", "-r"}, 12},
		{"snr missing", []string{"-f", "NRF91", "--recover"}, 12},
		{"snr value missing", []string{"-f", "NRF91", "-r", "--snr"}, 12},
		{"program value missing", []string{"-f", "NRF91", "--snr", "1", "--program", "--chiperase"}, 12},
		{"two erase modes", programArgs(file, "--chiperase", "--sectorerase"), 13},
		{"two operations", []string{"-f", "NRF91", "--snr", "1051200001", "--recover", "-e"}, 13},
		{"program and recover", programArgs(file, "--chiperase", "--recover"), 13},
		{"verify without program", []string{"-f", "NRF91", "--snr", "1051200001", "--verify", "-r"}, 13},
		{"reset and pinreset with program", programArgs(file, "--chiperase", "-r", "-p"), 13},
		{"duplicate", []string{"-f", "NRF91", "-f", "NRF91", "--snr", "1051200001", "-r"}, 14},
		{"no operation", []string{"-f", "NRF91", "--snr", "1051200001"}, 15},
		{"no arguments", nil, 15},
		{"missing file", programArgs(filepath.Join(t.TempDir(), "nope.hex"), "--chiperase"), 51},
		{"invalid hex", programArgs(bad, "--chiperase"), 52},
		{"data outside nRF91", programArgs(outside, "--chiperase"), 52},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, l.jprog, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tt.code, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "ERROR: ") || r.stdout != "" {
				t.Errorf("stdout %q stderr %q: want only ERROR: lines", r.stdout, r.stderr)
			}
		})
	}
	if calls := u.Calls(); len(calls) != 0 {
		t.Errorf("argument errors reached the unit: %q", calls)
	}
}
