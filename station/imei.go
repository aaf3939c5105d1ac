package station

import (
	"errors"
	"fmt"
)

// CheckIMEI says why s is not an IMEI: 15 decimal digits whose last digit
// is the Luhn check digit of the first 14. Nil when it is one.
func CheckIMEI(s string) error {
	if len(s) != 15 {
		return fmt.Errorf("an IMEI has 15 digits, %q has %d characters", s, len(s))
	}
	sum := 0
	for i := 0; i < len(s); i++ {
		d := int(s[i] - '0')
		if d < 0 || d > 9 {
			return fmt.Errorf("an IMEI is digits only, %q has %q at position %d", s, s[i], i+1)
		}
		if i%2 == 1 { // every second digit from the left, counting from 0
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	if sum%10 != 0 {
		return errors.New("its last digit is not the Luhn check digit of the first 14 (a mistyped digit?)")
	}
	return nil
}
