package main

import (
	"errors"
	"net/http"

	"github.com/hdp-il/fhir-pep/examples/internal/simhttp"
)

const maxAdminBody = 4 << 10

// adminHandler serves the loopback admin API (see README).
func (n *ntnSim) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/members/{id}/remove", n.handleStatus(statusRemoved))
	mux.HandleFunc("POST /admin/members/{id}/suspend", n.handleStatus(statusSuspended))
	mux.HandleFunc("POST /admin/members/{id}/restore", n.handleStatus(statusActive))
	mux.HandleFunc("POST /admin/bump", n.handleBump)
	mux.HandleFunc("GET /admin/manifest", n.handleAdminManifest)
	mux.HandleFunc("POST /admin/outage", n.handleOutage)
	mux.HandleFunc("GET /admin/stats", n.handleStats)
	return mux
}

func (n *ntnSim) handleStatus(status string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		version, err := n.setStatus(id, status)
		switch {
		case errors.Is(err, errUnknownMember):
			simhttp.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no such member"})
		case err != nil:
			simhttp.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		default:
			simhttp.WriteJSON(w, http.StatusOK, map[string]any{"member_id": id, "status": status, "version": version})
		}
	}
}

func (n *ntnSim) handleBump(w http.ResponseWriter, _ *http.Request) {
	version, err := n.bump()
	if err != nil {
		simhttp.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	simhttp.WriteJSON(w, http.StatusOK, map[string]int64{"version": version})
}

// handleAdminManifest implements GET /admin/manifest: the current payload.
func (n *ntnSim) handleAdminManifest(w http.ResponseWriter, _ *http.Request) {
	_, m, err := n.snapshot()
	if err != nil {
		simhttp.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	simhttp.WriteJSON(w, http.StatusOK, m)
}

func (n *ntnSim) handleOutage(w http.ResponseWriter, r *http.Request) {
	var req struct {
		On *bool `json:"on"`
	}
	if err := simhttp.DecodeJSON(r, &req, maxAdminBody); err != nil || req.On == nil {
		simhttp.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"on": true|false}`})
		return
	}
	n.outage.Store(*req.On)
	simhttp.WriteJSON(w, http.StatusOK, map[string]bool{"outage": *req.On})
}

func (n *ntnSim) handleStats(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	version := n.version
	n.mu.Unlock()
	simhttp.WriteJSON(w, http.StatusOK, map[string]any{
		"version":           version,
		"manifest_fetches":  n.stats.manifestFetches.Load(),
		"api_calls":         n.stats.apiCalls.Load(),
		"presigned_fetches": n.stats.presignedFetches.Load(),
		"outage":            n.outage.Load(),
	})
}
