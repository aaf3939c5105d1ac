package flashctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
)

// Client talks to a Server over its unix socket. A missing socket or a
// refused connection (the sim is not running) reads as "no probes": Probes
// returns an empty list and Do returns the NoProbe outcome.
type Client struct {
	http *http.Client
}

// NewClient returns a client for the control socket at socketPath.
// An empty path means "no sim": every call sees no probes.
func NewClient(socketPath string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			if socketPath == "" {
				return nil, &net.OpError{Op: "dial", Net: "unix", Err: syscall.ENOENT}
			}
			var d net.Dialer
			return d.DialContext(ctx, "unix", socketPath)
		},
		DisableCompression: true,
	}
	return &Client{http: &http.Client{Transport: tr}}
}

// Close releases idle connections.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
}

const baseURL = "http://flashctl/v1/probes"

// Probes lists the plugged-in probes.
func (c *Client) Probes(ctx context.Context) ([]ProbeInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL, nil)
	if err != nil {
		return nil, fmt.Errorf("build probe list request: %w", err)
	}
	resp, err := c.http.Do(req)
	if noSim(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list probes: %w", err)
	}
	defer resp.Body.Close()
	if err := statusErr(resp); err != nil {
		return nil, fmt.Errorf("list probes: %w", err)
	}
	var list []ProbeInfo
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("decode probe list: %w", err)
	}
	return list, nil
}

// Do runs one operation on the probe with this serial (leading zeros
// optional), calling progress for every progress event as it arrives, and
// returns the outcome. A cancelled ctx aborts the operation on the server.
func (c *Client) Do(ctx context.Context, serial string, op Request, progress func(Event)) (Result, error) {
	body, err := json.Marshal(op)
	if err != nil {
		return Result{}, fmt.Errorf("encode %s request: %w", op.Op, err)
	}
	u := baseURL + "/" + url.PathEscape(serial) + "/ops"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("build %s request: %w", op.Op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if noSim(err) {
		return Result{Outcome: NoProbe}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("%s on probe %s: %w", op.Op, serial, err)
	}
	defer resp.Body.Close()
	if err := statusErr(resp); err != nil {
		return Result{}, fmt.Errorf("%s on probe %s: %w", op.Op, serial, err)
	}
	return readStream(resp.Body, progress)
}

// readStream reads NDJSON events until the one with the Result.
func readStream(r io.Reader, progress func(Event)) (Result, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return Result{}, fmt.Errorf("decode operation event: %w", err)
		}
		if ev.Result != nil {
			return *ev.Result, nil
		}
		if progress != nil {
			progress(ev)
		}
	}
	if err := sc.Err(); err != nil {
		return Result{}, fmt.Errorf("read operation stream: %w", err)
	}
	return Result{}, errors.New("operation stream ended without a result")
}

func statusErr(resp *http.Response) error {
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return fmt.Errorf("control server: %s: %s", resp.Status, bytes.TrimSpace(msg))
}

// noSim reports a dial failure that means the sim is not there.
func noSim(err error) bool {
	return err != nil && (errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED))
}
