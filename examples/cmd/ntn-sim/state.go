package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// state is what the simulator persists between runs.
type state struct {
	Version int64             `json:"version"`
	Status  map[string]string `json:"status"`
}

// loadState reads the state file; a missing file (first run) or an empty
// path is the zero state.
func loadState(path string) (state, error) {
	if path == "" {
		return state{}, nil
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, nil
	}
	if err != nil {
		return state{}, err
	}
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		return state{}, fmt.Errorf("state file %s: %w", path, err)
	}
	if st.Version < 0 {
		return state{}, fmt.Errorf("state file %s: negative version", path)
	}
	return st, nil
}

// saveState writes the state through a rename so a crash keeps the old one.
func saveState(path string, st state) error {
	if path == "" {
		return nil
	}
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
