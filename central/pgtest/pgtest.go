// Package pgtest runs a throwaway PostgreSQL cluster for tests and
// benchmarks: initdb in a temporary folder, a free port on 127.0.0.1, the
// unix socket in the same folder, and the server run as nobody when the
// caller is root (PostgreSQL refuses to run as root).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrMissing is returned by Start when initdb or pg_ctl cannot be found.
var ErrMissing = errors.New("PostgreSQL binaries (initdb, pg_ctl) not found")

// Cluster is a running (or stopped) throwaway cluster.
type Cluster struct {
	Dir  string // holds data/, the socket and the server log
	Port int
	bin  string
	cred *syscall.Credential
	opts []string
}

// Bin finds the folder holding initdb, pg_ctl and postgres: $PATH, then
// Debian's /usr/lib/postgresql/*/bin (newest first).
func Bin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	return "", ErrMissing
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start creates a cluster in a new temporary folder and starts it. opts
// are extra server settings ("fsync=off"). Stop it with Close.
func Start(opts ...string) (*Cluster, error) {
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, bin: bin, opts: opts}
	if os.Geteuid() == 0 {
		if c.cred, err = nobody(); err != nil {
			c.Close()
			return nil, err
		}
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			c.Close()
			return nil, err
		}
	}
	if c.Port, err = freePort(); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.run("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.Start(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func nobody() (*syscall.Credential, error) {
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the user nobody for PostgreSQL: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) data() string { return filepath.Join(c.Dir, "data") }

func (c *Cluster) run(tool string, args ...string) error {
	cmd := exec.Command(filepath.Join(c.bin, tool), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "HOME="+c.Dir)
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", tool, strings.Join(args, " "), err, out)
	}
	return nil
}

// Start starts the (stopped) server and waits until it accepts connections.
func (c *Cluster) Start() error {
	settings := append([]string{"listen_addresses=127.0.0.1", "port=" + strconv.Itoa(c.Port),
		"unix_socket_directories=" + c.Dir, "max_connections=100"}, c.opts...)
	o := ""
	for _, s := range settings {
		o += " -c " + s
	}
	return c.run("pg_ctl", "start", "-w", "-t", "60", "-D", c.data(), "-l", filepath.Join(c.Dir, "server.log"), "-o", o)
}

// Stop shuts the server down cleanly.
func (c *Cluster) Stop() error { return c.run("pg_ctl", "stop", "-w", "-m", "fast", "-D", c.data()) }

// Kill stops the server the way a crash would: immediate shutdown, no
// checkpoint, every connection cut.
func (c *Cluster) Kill() error {
	return c.run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", c.data())
}

// Close stops the server if it runs and removes the cluster.
func (c *Cluster) Close() error {
	if _, err := os.Stat(filepath.Join(c.data(), "postmaster.pid")); err == nil {
		c.Kill()
	}
	return os.RemoveAll(c.Dir)
}

// URL is the connection URL of database db over TCP.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// NewDB creates an empty database and returns its URL.
func (c *Cluster) NewDB(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return c.URL(name), nil
}

// Log returns the tail of the server log, for failing tests.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "server.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// WaitDown waits until nothing listens on the port any more.
func (c *Cluster) WaitDown(d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.Port), 100*time.Millisecond)
		if err != nil {
			return
		}
		conn.Close()
		time.Sleep(50 * time.Millisecond)
	}
}
