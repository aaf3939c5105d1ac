package flashctl

import "time"

// Nominal durations at speed 1 (flash-tools.md §8 and the sim's defaults).
// The server hands each one to its delay hook before waiting.
const (
	StartupTime       = 300 * time.Millisecond // tool start-up, DLL load, USB enumeration
	ConnectFailTime   = 181 * time.Millisecond // a failing connect_to_emu_with_snr
	ChipEraseTime     = 350 * time.Millisecond
	SectorErasePerMiB = 22 * time.Second
	ProgramPerMiB     = 8 * time.Second
	VerifyPerMiB      = 4 * time.Second
	ResetTime         = 300 * time.Millisecond
	RecoverTime       = 8 * time.Second
	PageSize          = 4096 // nRF91 flash page
)

// perMiB scales a per-MiB rate to n bytes.
func perMiB(rate time.Duration, n int) time.Duration {
	return time.Duration(int64(rate) * int64(n) / (1 << 20))
}

type phaseSpec struct {
	phase Phase
	dur   time.Duration
}

// programPhases lists the phases of an OpProgram request, in order.
func programPhases(req Request) []phaseSpec {
	var ps []phaseSpec
	switch req.Erase {
	case EraseChip:
		ps = append(ps, phaseSpec{PhaseErase, ChipEraseTime})
	case EraseSector:
		ps = append(ps, phaseSpec{PhaseErase, perMiB(SectorErasePerMiB, req.Image.Pages*PageSize)})
	}
	ps = append(ps, phaseSpec{PhaseProgram, perMiB(ProgramPerMiB, req.Image.Size)})
	if req.Verify {
		ps = append(ps, phaseSpec{PhaseVerify, perMiB(VerifyPerMiB, req.Image.Size)})
	}
	if req.Reset {
		ps = append(ps, phaseSpec{PhaseReset, ResetTime})
	}
	return ps
}

// opPhases lists the phases of every other operation.
func opPhases(op Op) []phaseSpec {
	switch op {
	case OpRecover:
		return []phaseSpec{{PhaseRecover, RecoverTime}}
	case OpEraseAll:
		return []phaseSpec{{PhaseErase, ChipEraseTime}, {PhaseReset, ResetTime}}
	default: // OpReset, OpPinReset
		return []phaseSpec{{PhaseReset, ResetTime}}
	}
}
