package inject

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"nrfline/inject/at"
	"nrfline/station"
)

// %CMNG credential types (modem-at.md §6.1).
const (
	TypePSK      = 3 // PSK as ASCII hex text
	TypeIdentity = 4 // PSK identity, ASCII text
)

// MaxSecTag is the highest sec_tag the station may write or delete; the
// modem reserves the tags above it (modem-at.md §6.3).
const MaxSecTag = 2147483647

// Provision stores the bootstrap credentials (modem-at.md §6, §10, §11):
// AT+CMEE=1; AT+CFUN=4 (must be OK: %CMNG writes need the modem offline);
// delete type 3 and 4 under the bootstrap tag (513 = nothing there is
// fine); write the identity (type 4), then the key as hex text (type 3,
// sent with the key redacted from every transcript); list the tag: both
// types must be there, the identity digest must equal SHA-256 of the
// identity, the key digest SHA-256 of the hex text — or, with a warning,
// of the raw key bytes (the convention is unconfirmed on hardware). With
// ClearServerTag the server tag's PSK and identity are deleted and the tag
// must list empty afterwards.
//
// A 518 (the modem is active) is met once by going offline again and
// writing again, with a warning: the unit's firmware may turn LTE back on
// by itself. Codes: 518 twice → CRED_NOT_ALLOWED, 515 → CRED_MEMORY_FULL, other write or
// delete failures → CRED_WRITE_FAILED, a missing or wrong digest →
// CRED_VERIFY, AT+CFUN=4 refused → MODEM_ERROR.
func (m *Modem) Provision(ctx context.Context, plan station.CredentialPlan) (station.CredentialReport, error) {
	var rep station.CredentialReport
	if err := checkPlan(plan); err != nil {
		return rep, err
	}
	if err := m.offline(ctx); err != nil {
		return rep, err
	}
	err := m.store(ctx, plan)
	if station.CodeOf(err) == station.CredNotAllowed {
		// The unit's own firmware can bring the modem back online on its
		// way (after a bootstrap it writes server credentials with LTE off,
		// then turns LTE on again): offline once more and write again.
		if err = m.offline(ctx); err == nil {
			err = m.store(ctx, plan)
		}
		if err == nil {
			rep.Warnings = append(rep.Warnings, "the modem was online again during the write (518): taken offline and written again")
		}
	}
	if err != nil {
		return rep, err
	}
	if err := m.verify(ctx, plan, &rep); err != nil {
		return rep, err
	}
	if plan.ClearServerTag {
		if err := m.clearTag(ctx, plan.ServerTag); err != nil {
			return rep, err
		}
		rep.ClearedServer = true
	}
	return rep, nil
}

// store deletes and writes the bootstrap identity and key.
func (m *Modem) store(ctx context.Context, plan station.CredentialPlan) error {
	tag := plan.BootstrapTag
	if err := m.deleteCreds(ctx, tag); err != nil {
		return err
	}
	if err := m.writeCred(ctx, tag, TypeIdentity, plan.Identity, ""); err != nil {
		return err
	}
	key := plan.Key.Hex()
	return m.writeCred(ctx, tag, TypePSK, key, key)
}

// checkPlan refuses what must never reach the modem.
func checkPlan(p station.CredentialPlan) error {
	switch {
	case p.BootstrapTag > MaxSecTag:
		return station.Errorf(station.Internal, nil, "bootstrap sec_tag %d is reserved by the modem", p.BootstrapTag)
	case p.ClearServerTag && p.ServerTag > MaxSecTag:
		return station.Errorf(station.Internal, nil, "server sec_tag %d is reserved by the modem", p.ServerTag)
	case p.ClearServerTag && p.ServerTag == p.BootstrapTag:
		return station.Errorf(station.Internal, nil, "server sec_tag equals the bootstrap sec_tag %d", p.ServerTag)
	case p.Identity == "" || strings.ContainsAny(p.Identity, "\"\\\r\n"):
		return station.Errorf(station.Internal, nil, "PSK identity %q is empty or holds a quote, backslash or line break", p.Identity)
	case p.Key.IsZero():
		return station.Errorf(station.Internal, nil, "no PSK to write")
	}
	return nil
}

// offline: numeric errors on, then flight mode (modem-at.md §3).
func (m *Modem) offline(ctx context.Context) error {
	if err := m.enableCMEE(ctx); err != nil {
		return err
	}
	if _, err := m.s.Command(ctx, "AT+CFUN=4"); err != nil {
		return failed(err, station.ModemError, "take the modem offline (AT+CFUN=4)")
	}
	return nil
}

// deleteCreds deletes the PSK and identity of tag; 513 (not found) is fine.
func (m *Modem) deleteCreds(ctx context.Context, tag uint32) error {
	if tag > MaxSecTag {
		return station.Errorf(station.Internal, nil, "refusing to delete reserved sec_tag %d", tag)
	}
	for _, typ := range []int{TypePSK, TypeIdentity} {
		_, err := m.s.Command(ctx, fmt.Sprintf("AT%%CMNG=3,%d,%d", tag, typ))
		if err == nil || at.IsCME(err, at.CMENotFound) {
			continue
		}
		return credFailed(err, "delete sec_tag %d type %d", tag, typ)
	}
	return nil
}

// writeCred writes one credential; secret is the part of the command to
// redact ("" for none).
func (m *Modem) writeCred(ctx context.Context, tag uint32, typ int, content, secret string) error {
	cmd := fmt.Sprintf(`AT%%CMNG=0,%d,%d,"%s"`, tag, typ, content)
	if _, err := m.s.CommandSecret(ctx, cmd, secret); err != nil {
		return credFailed(err, "write sec_tag %d type %d", tag, typ)
	}
	return nil
}

// credFailed classifies a %CMNG write/delete refusal (modem-at.md §6.4).
func credFailed(err error, format string, args ...any) error {
	switch {
	case at.IsCME(err, at.CMENotAllowed):
		return failed(err, station.CredNotAllowed, format, args...)
	case at.IsCME(err, at.CMEMemoryFull):
		return failed(err, station.CredMemoryFull, format, args...)
	}
	return failed(err, station.CredWrite, format, args...)
}

// verify lists the bootstrap tag: both the identity and the PSK must be
// there, and their digests are compared with ours (modem-at.md §6.2). A
// digest that differs is a warning unless plan.StrictDigest: the hashing
// rule for PSKs is inferred, and the live bootstrap proves the key anyway.
func (m *Modem) verify(ctx context.Context, plan station.CredentialPlan, rep *station.CredentialReport) error {
	tag := plan.BootstrapTag
	listed, err := m.ListTag(ctx, tag)
	if err != nil {
		return err
	}
	idSum, okID := listed[TypeIdentity]
	keySum, okKey := listed[TypePSK]
	if !okID || !okKey {
		return station.Errorf(station.CredVerify, nil, "sec_tag %d lists identity=%t psk=%t after the write", tag, okID, okKey)
	}
	rep.IdentitySHA256, rep.KeySHA256 = idSum, keySum
	var mismatches []string
	if want := station.HexDigest(plan.Identity); idSum != want {
		mismatches = append(mismatches, fmt.Sprintf("sec_tag %d identity digest %s, expected %s", tag, idSum, want))
	}
	switch keySum {
	case plan.Key.Fingerprint():
	case plan.Key.RawFingerprint():
		rep.Warnings = append(rep.Warnings, fmt.Sprintf(
			"sec_tag %d: the modem lists the PSK digest as SHA-256 of the raw key bytes, not of the hex text (modem-at.md §6.2)", tag))
	default:
		mismatches = append(mismatches, fmt.Sprintf("sec_tag %d PSK digest %s matches neither sha256(hex text) %s nor sha256(key bytes)",
			tag, keySum, plan.Key.Fingerprint()))
	}
	if len(mismatches) == 0 {
		return nil
	}
	if plan.StrictDigest {
		return station.Errorf(station.CredVerify, nil, "%s", strings.Join(mismatches, "; "))
	}
	for _, w := range mismatches {
		rep.Warnings = append(rep.Warnings, w+" (a warning: credentials.strict_digest = false)")
	}
	return nil
}

// clearTag deletes a tag's PSK and identity and checks it lists empty.
func (m *Modem) clearTag(ctx context.Context, tag uint32) error {
	if err := m.deleteCreds(ctx, tag); err != nil {
		return err
	}
	left, err := m.ListTag(ctx, tag)
	if err != nil {
		return err
	}
	_, psk := left[TypePSK]
	_, id := left[TypeIdentity]
	if psk || id {
		return station.Errorf(station.CredWrite, nil, "sec_tag %d still holds psk=%t identity=%t after the delete", tag, psk, id)
	}
	return nil
}

// ListTag lists what tag holds: credential type → the SHA-256 the modem
// reports. Nothing stored is a bare OK: an empty map, not an error
// (modem-at.md §6.3). A refusal is MODEM_ERROR.
func (m *Modem) ListTag(ctx context.Context, tag uint32) (map[int]string, error) {
	r, err := m.s.Command(ctx, fmt.Sprintf("AT%%CMNG=1,%d", tag))
	if err != nil {
		return nil, failed(err, station.ModemError, "list sec_tag %d", tag)
	}
	out := map[int]string{}
	for _, l := range r.Lines {
		e, ok := ParseCMNG(l)
		if !ok {
			return nil, station.Errorf(station.ModemError, nil, "list sec_tag %d: cannot parse %q", tag, l)
		}
		if e.Tag == tag {
			out[e.Type] = e.SHA256
		}
	}
	return out, nil
}

// CMNGEntry is one line of a %CMNG list.
type CMNGEntry struct {
	Tag    uint32
	Type   int
	SHA256 string
}

// ParseCMNG parses `%CMNG: <sec_tag>,<type>,"<sha>"` (sec_tag unsigned
// 32-bit: the modem's own tags are above 2^31, modem-at.md §6.3). The
// digest must be 64 hex digits.
func ParseCMNG(line string) (CMNGEntry, bool) {
	rest, ok := strings.CutPrefix(line, "%CMNG:")
	if !ok {
		return CMNGEntry{}, false
	}
	f := strings.Split(rest, ",")
	if len(f) < 3 {
		return CMNGEntry{}, false
	}
	tag, err := strconv.ParseUint(strings.TrimSpace(f[0]), 10, 32)
	if err != nil {
		return CMNGEntry{}, false
	}
	typ, err := strconv.ParseUint(strings.TrimSpace(f[1]), 10, 8)
	if err != nil {
		return CMNGEntry{}, false
	}
	sum := strings.TrimSpace(f[2])
	if len(sum) != 66 || sum[0] != '"' || sum[65] != '"' || !isHex(sum[1:65]) {
		return CMNGEntry{}, false
	}
	return CMNGEntry{Tag: uint32(tag), Type: int(typ), SHA256: sum[1:65]}, true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
