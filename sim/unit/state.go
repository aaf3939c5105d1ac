package unit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// state is what survives a power cycle: the modem's %CMNG store (never
// touched by any erase), the application's stored LwM2M settings (wiped by
// a chip erase, kept by a sector erase) and the firmware in flash.
//
// The file holds the stored PSKs in clear, as the modem's NVM does; it is
// written 0600 and is never logged.
type state struct {
	Credentials []cred    `json:"credentials"`
	Settings    *settings `json:"settings,omitempty"`
	Firmware    firmware  `json:"firmware"`
}

// settings are the LwM2M settings the application stored after a bootstrap
// (Zephyr's lwm2m:sec/… settings): with them and server-tag credentials the
// unit registers without bootstrapping.
type settings struct {
	ServerURI     string `json:"server_uri"`
	ShortServerID uint16 `json:"short_server_id"`
	Lifetime      uint32 `json:"lifetime"`
	ServerObject  uint16 `json:"server_object"`
}

// firmware describes the application image in flash. The zero value is
// "present" so that a unit without a state file boots.
type firmware struct {
	Erased bool   `json:"erased"`
	Size   int    `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// loadState reads path; a missing file (or no path) is a fresh unit.
func loadState(path string) (state, error) {
	if path == "" {
		return state{}, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, nil
	}
	if err != nil {
		return state{}, fmt.Errorf("read unit state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return state{}, fmt.Errorf("parse unit state %s: %w", path, err)
	}
	return st, nil
}

// saveState writes st to path atomically (temp file + rename).
func saveState(path string, st state) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode unit state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".unit-state-*")
	if err != nil {
		return fmt.Errorf("save unit state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save unit state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save unit state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save unit state: %w", err)
	}
	return nil
}
