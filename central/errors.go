package central

import (
	"context"
	"errors"
	"net"
)

func pgxTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
