// Command checker checks client histories written by the Conclave nemesis harness for
// linearizability with Porcupine (github.com/anishathalye/porcupine).
//
//	checker [-timeout 5m] [-vis-dir DIR] history.json...
//
// For each history it prints one JSON line: the model, the verdict (Ok, Illegal or Unknown when the
// search timed out), how many operations were checked and how many had an unknown outcome, and for
// an Illegal history the path of Porcupine's HTML visualisation. The exit status is 0 when every
// history is Ok, 1 when one is Illegal or Unknown, 2 on bad input.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Result is what the harness reads back.
type Result struct {
	File          string `json:"file"`
	Model         string `json:"model"`
	Result        string `json:"result"`
	Operations    int    `json:"operations"`
	Unknown       int    `json:"unknown"`
	Partitions    int    `json:"partitions"`
	Visualization string `json:"visualization,omitempty"`
	Millis        int64  `json:"millis"`
	Error         string `json:"error,omitempty"`
}

func main() {
	timeout := flag.Duration("timeout", 5*time.Minute, "give up on one history after this long (verdict Unknown)")
	visDir := flag.String("vis-dir", "", "where to write the HTML visualisation of an Illegal history (default: next to the history)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: checker [-timeout 5m] [-vis-dir DIR] history.json...")
		os.Exit(2)
	}
	status := 0
	encoder := json.NewEncoder(os.Stdout)
	for _, file := range flag.Args() {
		r := check(file, *timeout, *visDir)
		if r.Error != "" {
			status = 2
		} else if r.Result != string(porcupine.Ok) && status == 0 {
			status = 1
		}
		if err := encoder.Encode(r); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	os.Exit(status)
}

func check(file string, timeout time.Duration, visDir string) Result {
	started := time.Now()
	r := Result{File: file}
	h, err := readHistory(file)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Model = h.Model
	spec, err := specFor(h)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	ops, unknown, err := toPorcupine(h, spec.Decode)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Operations = len(ops)
	r.Unknown = unknown
	if spec.Model.Partition != nil {
		r.Partitions = len(spec.Model.Partition(ops))
	} else {
		r.Partitions = 1
	}
	result := porcupine.CheckOperationsTimeout(spec.Model, ops, timeout)
	r.Result = string(result)
	if result == porcupine.Illegal {
		// Check again, keeping what the visualisation needs (slower, so only on failure).
		_, info := porcupine.CheckOperationsVerbose(spec.Model, ops, timeout)
		dir := visDir
		if dir == "" {
			dir = filepath.Dir(file)
		}
		path := filepath.Join(dir, strings.TrimSuffix(filepath.Base(file), ".json")+".html")
		if err := porcupine.VisualizePath(spec.Model, info, path); err != nil {
			r.Error = fmt.Sprintf("visualisation: %v", err)
		} else {
			r.Visualization = path
		}
	}
	r.Millis = time.Since(started).Milliseconds()
	return r
}
