package faketool

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"nrfline/sim/flashctl"
)

// ndjson is one decoded nrfutil output line.
type ndjson struct {
	Type string `json:"type"`
	Data struct {
		Task struct {
			ID   string            `json:"id"`
			Name string            `json:"name"`
			Data map[string]string `json:"data"`
		} `json:"task"`
		Progress *struct {
			ProgressPercentage int    `json:"progressPercentage"`
			Message            string `json:"message"`
			Description        string `json:"description"`
			AmountOfSteps      int    `json:"amountOfSteps"`
			Step               int    `json:"step"`
		} `json:"progress"`
		Message string          `json:"message"`
		Result  string          `json:"result"`
		Error   json.RawMessage `json:"error"`
		Devices []struct {
			ID           int             `json:"id"`
			SerialNumber string          `json:"serialNumber"`
			Traits       map[string]bool `json:"traits"`
			Devkit       struct {
				BoardVersion string `json:"boardVersion"`
			} `json:"devkit"`
			USB struct {
				SerialNumber string `json:"serialNumber"`
			} `json:"usb"`
			SerialPorts []struct {
				Path    string `json:"path"`
				ComName string `json:"comName"`
				Vcom    int    `json:"vcom"`
			} `json:"serialPorts"`
		} `json:"devices"`
	} `json:"data"`
}

func decodeNDJSON(t *testing.T, stdout string) []ndjson {
	t.Helper()
	var msgs []ndjson
	for _, l := range splitLines(stdout) {
		var m ndjson
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// taskOutcome checks the task_begin … task_end frame of a single task and
// returns the task_end message.
func taskOutcome(t *testing.T, msgs []ndjson, name string) ndjson {
	t.Helper()
	if len(msgs) < 2 || msgs[0].Type != "task_begin" || msgs[len(msgs)-1].Type != "task_end" {
		t.Fatalf("want task_begin … task_end, got %+v", msgs)
	}
	id := msgs[0].Data.Task.ID
	for _, m := range msgs {
		if m.Data.Task.ID != id || m.Data.Task.Name != name || m.Data.Task.Data["serialNumber"] != "1051200001" {
			t.Errorf("task %+v, want id %s name %s serial 1051200001", m.Data.Task, id, name)
		}
	}
	for _, m := range msgs[1 : len(msgs)-1] {
		if m.Type != "task_progress" || m.Data.Progress == nil {
			t.Errorf("middle message %+v is not task_progress", m)
		}
	}
	return msgs[len(msgs)-1]
}

func errorCode(t *testing.T, end ndjson) (int, string) {
	t.Helper()
	var e struct {
		Code        int    `json:"code"`
		Description string `json:"description"`
	}
	if err := json.Unmarshal(end.Data.Error, &e); err != nil {
		t.Fatalf("task_end error %s: %v", end.Data.Error, err)
	}
	return e.Code, e.Description
}

func TestNrfutilProgram(t *testing.T) {
	l, u := oneUnit(t, flashctl.Faults{})
	file, data, sha := appHex(t)
	r := run(t, l.util, "device", "program", "--json", "--firmware", file, "--serial-number", testSerial,
		"--options", "chip_erase_mode=ERASE_ALL,verify=VERIFY_READ,reset=RESET_SYSTEM")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	msgs := decodeNDJSON(t, r.stdout)
	end := taskOutcome(t, msgs, "program")
	if end.Data.Result != "success" || string(end.Data.Error) != "null" {
		t.Errorf("task_end result %q error %s", end.Data.Result, end.Data.Error)
	}
	var steps []string
	for _, m := range msgs[1 : len(msgs)-1] {
		p := m.Data.Progress
		if p.AmountOfSteps != 4 {
			t.Errorf("amountOfSteps %d, want 4", p.AmountOfSteps)
		}
		if p.ProgressPercentage == 0 {
			steps = append(steps, fmt.Sprintf("%d:%s", p.Step, p.Description))
		}
	}
	assertLines(t, "steps", steps, []string{"1:Erasing", "2:Programming", "3:Verifying", "4:Resetting"})
	assertLines(t, "unit calls", u.Calls(), []string{"halt", "erase chip=true", fmt.Sprintf("program %d %s", len(data), sha), "reset"})
}

// Without --options nrfutil uses its documented defaults: ERASE_ALL,
// VERIFY_NONE, RESET_NONE. --json in global position works too.
func TestNrfutilProgramDefaults(t *testing.T) {
	l, u := oneUnit(t, flashctl.Faults{})
	file, data, sha := appHex(t)
	r := run(t, l.util, "--json", "device", "program", "--firmware="+file, "--serial-number", "1051200001")
	if r.code != 0 {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	taskOutcome(t, decodeNDJSON(t, r.stdout), "program")
	assertLines(t, "unit calls", u.Calls(), []string{"halt", "erase chip=true", fmt.Sprintf("program %d %s", len(data), sha)})
}

type utilStep struct {
	args     []string
	code     int
	errCode  int    // task_end error.code; 0 = success expected
	errText  string // substring of error.description
	noDevice bool   // the "No devices" error, no JSON
}

func TestNrfutilFaults(t *testing.T) {
	file, _, _ := appHex(t)
	program := []string{"device", "program", "--json", "--firmware", file, "--serial-number", "1051200001",
		"--options", "chip_erase_mode=ERASE_RANGES_TOUCHED_BY_FIRMWARE,verify=VERIFY_READ,reset=RESET_SYSTEM"}
	recoverArgs := []string{"device", "recover", "--json", "--serial-number", "1051200001"}
	reset := []string{"device", "reset", "--json", "--serial-number", "1051200001", "--reset-kind", "RESET_SYSTEM"}
	tests := []struct {
		name   string
		faults flashctl.Faults
		steps  []utilStep
	}{
		{"protected until recover", flashctl.Faults{Protected: true}, []utilStep{
			{args: program, code: 1, errCode: 24, errText: "NotAvailableBecauseProtection"},
			{args: reset, code: 1, errCode: 24, errText: "NotAvailableBecauseProtection"},
			{args: recoverArgs, code: 0},
			{args: program, code: 0},
		}},
		{"transient J-Link once", flashctl.Faults{JLinkTransient: true}, []utilStep{
			{args: reset, code: 1, errCode: errGeneric, errText: "JLINKARM_DLL_ERROR, code: Nrfjlink"},
			{args: reset, code: 0},
		}},
		{"verify error", flashctl.Faults{VerifyError: true}, []utilStep{
			{args: program, code: 1, errCode: 25, errText: "Write verify failed"},
		}},
		{"unplug at flash", flashctl.Faults{UnplugAtFlash: true}, []utilStep{
			{args: program, code: 1, errCode: errGeneric, errText: "JLINKARM_DLL_ERROR"},
			{args: program, code: 1, noDevice: true},
		}},
		{"unplug at bootstrap reset", flashctl.Faults{UnplugAtBootstrap: true}, []utilStep{
			{args: program, code: 0},
			{args: reset, code: 1, noDevice: true},
		}},
		{"wrong family", flashctl.Faults{}, []utilStep{
			{args: append(reset[:len(reset):len(reset)], "--x-family", "NRF53_FAMILY"), code: 1, errCode: 27, errText: "(WrongFamily)"},
		}},
		{"unknown serial", flashctl.Faults{}, []utilStep{
			{args: []string{"device", "reset", "--json", "--serial-number", "1051209999"}, code: 1, noDevice: true},
			{args: []string{"device", "reset", "--json", "--serial-number", "1051200001,1051209999"}, code: 1, noDevice: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := oneUnit(t, tt.faults)
			for i, st := range tt.steps {
				checkUtilStep(t, i, st, run(t, l.util, st.args...))
			}
		})
	}
}

func checkUtilStep(t *testing.T, i int, st utilStep, r runResult) {
	t.Helper()
	if r.code != st.code {
		t.Fatalf("step %d %q: exit %d, want %d\nstdout %s\nstderr %s", i, st.args, r.code, st.code, r.stdout, r.stderr)
	}
	if st.noDevice {
		if r.stdout != "" || r.stderr != "Error: Failed with exit code 1. No devices with requested serial number(s) or trait(s) found.\n" {
			t.Errorf("step %d: stdout %q stderr %q, want the no-devices error", i, r.stdout, r.stderr)
		}
		return
	}
	end := taskOutcome(t, decodeNDJSON(t, r.stdout), st.args[1])
	if st.errCode == 0 {
		if end.Data.Result != "success" || r.stderr != "" {
			t.Errorf("step %d: result %q stderr %q", i, end.Data.Result, r.stderr)
		}
		return
	}
	code, desc := errorCode(t, end)
	if end.Data.Result != "fail" || code != st.errCode || !strings.Contains(desc, st.errText) {
		t.Errorf("step %d: result %q code %d desc %q, want fail %d containing %q", i, end.Data.Result, code, desc, st.errCode, st.errText)
	}
	if !strings.HasPrefix(r.stderr, "Error: ") || !strings.Contains(r.stderr, desc) {
		t.Errorf("step %d stderr %q", i, r.stderr)
	}
}

func TestNrfutilList(t *testing.T) {
	l := mustLine(t,
		&flashctl.Probe{Serial: "001051200001", Port: "/dev/pts/3", Port2: "/dev/pts/4", Unit: &recUnit{}},
		&flashctl.Probe{Serial: "001051200002", Port: "/dev/pts/5", Unit: &recUnit{}})
	for _, args := range [][]string{
		{"device", "list", "--json"},
		{"--json", "device", "list"},
		{"device", "--json", "list", "--traits", "jlink"},
	} {
		r := run(t, l.util, args...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%q: exit %d stderr %q", args, r.code, r.stderr)
		}
		msgs := decodeNDJSON(t, r.stdout)
		if len(msgs) != 1 || msgs[0].Type != "info" || len(msgs[0].Data.Devices) != 2 {
			t.Fatalf("%q: %s", args, r.stdout)
		}
		d := msgs[0].Data.Devices[0]
		if d.ID != 1 || d.SerialNumber != "1051200001" || d.USB.SerialNumber != "001051200001" ||
			!d.Traits["jlink"] || !d.Traits["serialPorts"] || !d.Traits["devkit"] || d.Devkit.BoardVersion != "PCA10171" {
			t.Errorf("device %+v", d)
		}
		if len(d.SerialPorts) != 2 || d.SerialPorts[0].Path != "/dev/pts/3" || d.SerialPorts[0].ComName != "/dev/pts/3" ||
			d.SerialPorts[1].Vcom != 1 || d.SerialPorts[1].Path != "/dev/pts/4" {
			t.Errorf("serial ports %+v", d.SerialPorts)
		}
	}
	r := run(t, l.util, "device", "list", "--traits", "mcuBoot", "--json")
	if msgs := decodeNDJSON(t, r.stdout); len(msgs) != 1 || len(msgs[0].Data.Devices) != 0 {
		t.Errorf("mcuBoot filter: %s", r.stdout)
	}
	r = run(t, l.util, "device", "list")
	if !strings.HasSuffix(r.stdout, "\nSupported devices found: 2\n") || !strings.Contains(r.stdout, "Board version   PCA10171\n") {
		t.Errorf("human list:\n%s", r.stdout)
	}
}

func TestNrfutilArgs(t *testing.T) {
	l, u := oneUnit(t, flashctl.Faults{})
	file, _, _ := appHex(t)
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"no subcommand", nil, 2},
		{"unknown command", []string{"flash"}, 2},
		{"unknown device subcommand", []string{"device", "erase", "--serial-number", "1"}, 2},
		{"unknown option", []string{"device", "reset", "--serial-number", "1051200001", "--force"}, 2},
		{"option of another subcommand", []string{"device", "reset", "--serial-number", "1051200001", "--firmware", file}, 2},
		{"no selector", []string{"device", "reset", "--json"}, 2},
		{"serial not digits", []string{"device", "reset", "--serial-number", "10512x"}, 2},
		{"firmware missing", []string{"device", "program", "--serial-number", "1051200001"}, 2},
		{"bad erase mode", []string{"device", "program", "--firmware", file, "--serial-number", "1051200001", "--options", "chip_erase_mode=ERASE_SOME"}, 2},
		{"bad option key", []string{"device", "program", "--firmware", file, "--serial-number", "1051200001", "--options", "speed=fast"}, 2},
		{"bad reset kind", []string{"device", "reset", "--serial-number", "1051200001", "--reset-kind", "RESET_NOW"}, 2},
		{"network core", []string{"device", "recover", "--serial-number", "1051200001", "--core", "Network"}, 2},
		{"duplicate", []string{"device", "reset", "--serial-number", "1", "--serial-number", "2"}, 2},
		{"hotplug", []string{"device", "list", "--hotplug", "--json"}, 2},
		{"missing firmware file", []string{"device", "program", "--firmware", filepath.Join(t.TempDir(), "x.hex"), "--serial-number", "1051200001"}, 1},
		{"invalid firmware", []string{"device", "program", "--firmware", writeFile(t, "b.hex", ":00000001FE\n"), "--serial-number", "1051200001"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, l.util, tt.args...)
			if r.code != tt.code || r.stdout != "" {
				t.Fatalf("exit %d (want %d) stdout %q stderr %q", r.code, tt.code, r.stdout, r.stderr)
			}
			if !strings.HasPrefix(strings.ToLower(r.stderr), "error") {
				t.Errorf("stderr %q", r.stderr)
			}
		})
	}
	if calls := u.Calls(); len(calls) != 0 {
		t.Errorf("argument errors reached the unit: %q", calls)
	}
	for args, want := range map[string]string{
		"--version":        "nrfutil 7.13.0",
		"device --version": "nrfutil-device 2.7.16",
	} {
		r := run(t, l.util, strings.Fields(args)...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, want) {
			t.Errorf("%s: exit %d stdout %q", args, r.code, r.stdout)
		}
	}
}

func TestNrfutilResetKinds(t *testing.T) {
	l, u := oneUnit(t, flashctl.Faults{})
	for _, kind := range []string{"", "RESET_SYSTEM", "RESET_PIN", "RESET_HARD"} {
		args := []string{"device", "reset", "--json", "--traits", "jlink"}
		if kind != "" {
			args = append(args, "--reset-kind", kind)
		}
		r := run(t, l.util, args...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d stderr %q", kind, r.code, r.stderr)
		}
		taskOutcome(t, decodeNDJSON(t, r.stdout), "reset")
	}
	assertLines(t, "unit calls", u.Calls(), []string{"reset", "reset", "reset", "reset"})
}
