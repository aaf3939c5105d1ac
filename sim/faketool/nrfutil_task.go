package faketool

import (
	"context"
	"fmt"

	"nrfline/sim/flashctl"
)

// NDJSON payloads of §7.
type taskRef struct {
	ID          string            `json:"id"`
	Description string            `json:"description"`
	Name        string            `json:"name"`
	Data        map[string]string `json:"data"`
}

type taskProgress struct {
	ProgressPercentage int    `json:"progressPercentage"`
	Message            string `json:"message"`
	Description        string `json:"description"`
	AmountOfSteps      int    `json:"amountOfSteps"`
	Step               int    `json:"step"`
}

type taskError struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

// taskEnd always carries "error" (null on success), which is what
// consumers such as Zephyr's runner index unconditionally.
type taskEnd struct {
	Task    taskRef    `json:"task"`
	Message string     `json:"message,omitempty"`
	Result  string     `json:"result"`
	Error   *taskError `json:"error"`
}

// task runs the operation on one device. It returns the failure description
// and false when the task failed. task_begin is written with the first
// progress, so a device that vanished before the tool reached it reads as
// "no devices", like a failed lookup.
func (u *nrfutil) task(ctx context.Context, serial string, req flashctl.Request) (string, bool) {
	kind := taskKinds()[u.args.sub]
	t := taskRef{ID: newTaskID(), Description: kind.description, Name: kind.name, Data: map[string]string{"serialNumber": serial}}
	begun := false
	begin := func() {
		if !begun {
			begun = true
			u.begin(t, serial)
		}
	}
	res, err := u.c.Do(ctx, serial, req, func(ev flashctl.Event) {
		begin()
		u.progress(t, serial, ev)
	})
	var te *taskError
	switch {
	case ctx.Err() != nil:
		te = &taskError{Code: errGeneric, Description: "Operation cancelled"}
	case err != nil:
		te = &taskError{Code: errGeneric, Description: "Internal error: " + err.Error()}
	case res.Outcome == flashctl.NoProbe && !begun:
		return noDevicesText, false
	default:
		te = u.failure(res)
	}
	begin()
	u.end(t, serial, kind, te)
	if te != nil {
		return te.Description, false
	}
	return "", true
}

func (u *nrfutil) begin(t taskRef, serial string) {
	if u.args.json {
		u.emit("task_begin", map[string]any{"task": t})
		return
	}
	u.stdout().printf("[%s] %s", serial, t.Description)
}

// phaseTexts: task_progress description and message of each phase.
func phaseTexts(ph flashctl.Phase, pin bool) (description, message string) {
	switch ph {
	case flashctl.PhaseErase:
		return "Erasing", "Erasing non-volatile memory"
	case flashctl.PhaseProgram:
		return "Programming", "Writing image"
	case flashctl.PhaseVerify:
		return "Verifying", "Verifying image"
	case flashctl.PhaseRecover:
		return "Recovering", "Recovering device"
	}
	if pin {
		return "Resetting", "Applying pin reset"
	}
	return "Resetting", "Applying system reset"
}

func (u *nrfutil) progress(t taskRef, serial string, ev flashctl.Event) {
	desc, msg := phaseTexts(ev.Phase, u.args.resetKind == "RESET_PIN")
	if !u.args.json {
		if ev.Percent == 0 {
			u.stdout().printf("[%s] %s", serial, msg)
		}
		return
	}
	u.emit("task_progress", struct {
		Task     taskRef      `json:"task"`
		Progress taskProgress `json:"progress"`
	}{t, taskProgress{
		ProgressPercentage: ev.Percent, Message: msg, Description: desc,
		AmountOfSteps: ev.Steps, Step: ev.Step,
	}})
}

func (u *nrfutil) end(t taskRef, serial string, kind taskKind, te *taskError) {
	if !u.args.json {
		if te == nil {
			u.stdout().printf("[%s] %s", serial, kind.done)
		}
		return
	}
	if te == nil {
		u.emit("task_end", taskEnd{Task: t, Message: kind.done, Result: "success"})
		return
	}
	u.emit("task_end", taskEnd{Task: t, Result: "fail", Error: te})
}

// failure maps an outcome to nrfutil's error object (nil for OK).
func (u *nrfutil) failure(res flashctl.Result) *taskError {
	jlink := fmt.Sprintf("[jlink] JLINKARM_DLL_ERROR, code: Nrfjlink. Message: Batch task %s failed, [jlink] JLINKARM_DLL_ERROR.", u.args.sub)
	switch res.Outcome {
	case flashctl.OK:
		return nil
	case flashctl.Protected:
		return &taskError{errProtection, "Failed to attach to target: The Application core access port is protected (All) (NotAvailableBecauseProtection)"}
	case flashctl.VerifyError:
		s := u.img.segments[0]
		return &taskError{errVerify, fmt.Sprintf("Write verify failed. Data does not match in address range [0x%08X - 0x%08X] (Flash)", s.addr, s.end()-1)}
	case flashctl.WrongFamily:
		return &taskError{errWrongFamily, fmt.Sprintf("Device error: Identified device family and target family do not match: %s vs %s (WrongFamily)", flashctl.Family, u.args.family)}
	case flashctl.NotErased:
		return &taskError{errGeneric, "Failed to program: the target area is not erased; use chip_erase_mode=ERASE_ALL or ERASE_RANGES_TOUCHED_BY_FIRMWARE (NotErased)"}
	case flashctl.NoProbe:
		return &taskError{errGeneric, noDevicesText}
	default: // JLinkError, Lost, Canceled
		return &taskError{errGeneric, jlink}
	}
}
