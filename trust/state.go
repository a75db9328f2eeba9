package trust

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// StateFileName is the name of the state file inside state_dir.
const StateFileName = "ntn-state.json"

const stateFormat = 1

// stateFile is what survives a restart: the last accepted version (the
// rollback floor), when a manifest was last fetched and verified (so a
// restart does not reset the staleness clock), and the manifest itself (so
// a restart without NTN still has members to trust). One file, replaced
// atomically, so the three never disagree.
type stateFile struct {
	Format      int    `json:"format"`
	Version     int64  `json:"version"`
	LastSuccess string `json:"last_success"`
	Manifest    string `json:"manifest"`
}

var stateKeys = []string{"format", "version", "last_success", "manifest"}

type loadedState struct {
	version     int64
	lastSuccess time.Time
	manifest    []byte
}

// readState returns the state in dir, or nil when there is none yet.
func readState(dir string) (*loadedState, error) {
	f, err := os.Open(filepath.Join(dir, StateFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapError(ReasonState, err)
	}
	defer f.Close()
	data, err := readBounded(f, 2*MaxManifestBytes)
	if err != nil {
		return nil, wrapError(ReasonState, err)
	}
	var st stateFile
	if err := decodeJSONObjectStrict(data, stateKeys, &st); err != nil {
		return nil, newError(ReasonState, "state file is corrupt: %v", err)
	}
	if st.Format != stateFormat {
		return nil, newError(ReasonState, "state file format %d is not supported", st.Format)
	}
	if st.Version <= 0 || st.Manifest == "" {
		return nil, newError(ReasonState, "state file is incomplete")
	}
	last, err := time.Parse(time.RFC3339Nano, st.LastSuccess)
	if err != nil {
		return nil, newError(ReasonState, "state file has a malformed last_success")
	}
	return &loadedState{version: st.Version, lastSuccess: last, manifest: []byte(st.Manifest)}, nil
}

// writeState replaces the state file atomically: a temporary file in the
// same directory, written, synced, renamed over the old one, and the
// directory synced. Readers see the old file or the new one, never a mix.
func writeState(dir string, st loadedState) error {
	data, err := marshalState(st)
	if err != nil {
		return wrapError(ReasonState, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return wrapError(ReasonState, err)
	}
	tmp, err := os.CreateTemp(dir, ".ntn-state-*.tmp")
	if err != nil {
		return wrapError(ReasonState, err)
	}
	tmpName := tmp.Name()
	committed := false
	defer func() {
		if !committed {
			_ = os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return wrapError(ReasonState, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return wrapError(ReasonState, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return wrapError(ReasonState, err)
	}
	if err := tmp.Close(); err != nil {
		return wrapError(ReasonState, err)
	}
	if err := os.Rename(tmpName, filepath.Join(dir, StateFileName)); err != nil {
		return wrapError(ReasonState, err)
	}
	committed = true
	syncDir(dir)
	return nil
}

func marshalState(st loadedState) ([]byte, error) {
	if st.version <= 0 || len(st.manifest) == 0 {
		return nil, fmt.Errorf("refusing to write an incomplete state")
	}
	return json.Marshal(stateFile{
		Format:      stateFormat,
		Version:     st.version,
		LastSuccess: st.lastSuccess.UTC().Format(time.RFC3339Nano),
		Manifest:    string(st.manifest),
	})
}

// syncDir makes the rename durable where the platform supports it; a
// failure only weakens durability, not atomicity, so it is ignored.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
