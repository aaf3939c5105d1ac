package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// unitIdentity is what a virtual unit is born with. It is derived from the
// line's folder and the unit's index, so a reused --dir gives the same
// units (and their persisted credential stores) back.
type unitIdentity struct {
	IMEI, ICCID, IMSI, UUID, Probe string
}

func newIdentity(seed string, index int) unitIdentity {
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%d", seed, index))
	n := binary.BigEndian.Uint64(h[:8])
	imei := fmt.Sprintf("35265610%06d", n%1_000_000)
	iccid := fmt.Sprintf("89882806%011d", (n>>20)%100_000_000_000)
	return unitIdentity{
		IMEI:  imei + luhnDigit(imei),
		ICCID: iccid + luhnDigit(iccid) + "F",
		IMSI:  fmt.Sprintf("90140%010d", (n>>8)%10_000_000_000),
		UUID:  fmt.Sprintf("%x-%x-%x-%x-%x", h[8:12], h[12:14], h[14:16], h[16:18], h[18:24]),
		Probe: fmt.Sprintf("0010512%05d", index),
	}
}

// luhnDigit is the check digit that makes s+digit pass the Luhn check.
func luhnDigit(s string) string {
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if (len(s)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return fmt.Sprint((10 - sum%10) % 10)
}

// luhnValid reports whether a digit string passes the Luhn check.
func luhnValid(s string) bool {
	return len(s) > 1 && luhnDigit(s[:len(s)-1]) == s[len(s)-1:]
}
