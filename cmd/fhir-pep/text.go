package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

const binaryName = "fhir-pep"

const longDescription = `fhir-pep is a FHIR policy enforcement point for Israel's health-data
portability network: Caddy v2 with the fhir-pep modules (the fhir_pep HTTP
handler, the ntn app and the ntn TLS client certificate verifier).

  fhir-pep validate --config /etc/fhir-pep/Caddyfile   check a configuration
  fhir-pep run --config /etc/fhir-pep/Caddyfile        run in the foreground
  fhir-pep reload --config /etc/fhir-pep/Caddyfile     apply an edited configuration
  fhir-pep policy test <dir>                           run the Rego policy tests
  fhir-pep policy explain --claims <file> --request 'GET /Observation'
                                                       what the PEP would do with one request
  fhir-pep ntn verify ...                              check an NTN manifest

Every other command is Caddy's own. The project's README describes the
configuration; Caddy's documentation covers the rest.`

// isServerCommand reports whether args start a server, whose output is a
// log configured like any Caddy's and must stay as it is.
func isServerCommand(args []string) bool {
	cmd := firstCommand(args)
	return cmd == "run" || cmd == "start"
}

// isHelp reports whether args ask for help text (or give no command, which
// prints it).
func isHelp(args []string) bool {
	if firstCommand(args) == "" || firstCommand(args) == "help" {
		return true
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "--help" {
			return true
		}
	}
	return false
}

func firstCommand(args []string) string {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return ""
}

// commandWord is "caddy" used as the name of the command ("caddy run",
// "$ caddy", "'caddy fmt'"), not as a word in prose or a path.
var commandWord = regexp.MustCompile(`(^|[\s$'"` + "`" + `(])caddy(\s|$|')`)

// helpText renames the command in help text.
func helpText(s string) string {
	var b strings.Builder
	for i, line := range strings.SplitAfter(s, "\n") {
		if i > 0 && line == "" {
			continue
		}
		for commandWord.MatchString(line) {
			line = commandWord.ReplaceAllString(line, "${1}"+binaryName+"${2}")
		}
		b.WriteString(line)
	}
	return b.String()
}

func rewriteHelp(r io.Reader, w io.Writer) {
	b, _ := io.ReadAll(r)
	_, _ = io.WriteString(w, helpText(string(b)))
}

// plainLog copies r to w line by line, turning Caddy's JSON log lines into
// plain text (see plainLine).
func plainLog(r io.Reader, w io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		_, _ = io.WriteString(w, plainLine(sc.Text())+"\n")
	}
	// A line longer than the buffer: pass the rest through unchanged.
	_, _ = io.Copy(w, r)
}

// plainLine turns one JSON log line ({"level":"error","ts":...,"msg":"...",
// more fields}) into "error: msg (field: value, ...)"; info lines lose the
// level. Anything else (cobra's own "Error: ..." lines, plain output) is
// returned unchanged. Timestamps and logger names are left out: the reader
// is a person at a terminal or a CI log.
func plainLine(line string) string {
	trimmed := strings.TrimSpace(line)
	if !strings.HasPrefix(trimmed, "{") {
		return line
	}
	dec := json.NewDecoder(strings.NewReader(trimmed))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil || dec.More() {
		return line
	}
	level, ok1 := fields["level"].(string)
	msg, ok2 := fields["msg"].(string)
	if !ok1 || !ok2 {
		return line
	}
	var b strings.Builder
	switch strings.ToLower(level) {
	case "info", "debug":
	case "warn":
		b.WriteString("warning: ")
	default:
		b.WriteString(strings.ToLower(level) + ": ")
	}
	b.WriteString(helpText(msg))
	var keys []string
	for k := range fields {
		switch k {
		case "level", "ts", "msg", "logger", "caller", "stacktrace":
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		b.WriteString(" (")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s: %s", k, value(fields[k]))
		}
		b.WriteString(")")
	}
	return b.String()
}

func value(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(bytes.TrimSpace(b))
	}
}
