package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/anishathalye/porcupine"
)

// History is the JSON file the Node harness writes (e2e/nemesis/checker.ts).
type History struct {
	Model      string          `json:"model"`
	Params     json.RawMessage `json:"params"`
	Operations []Op            `json:"operations"`
}

// Op is one client operation. Times are microseconds on the harness's monotonic clock. Status is
// "ok" (happened, with Output), "fail" (certainly did not happen) or "info" (outcome unknown:
// Return is null and the operation may take effect at any point after Call, or never).
type Op struct {
	Process int             `json:"process"`
	Call    int64           `json:"call"`
	Return  *int64          `json:"return"`
	Status  string          `json:"status"`
	Input   json.RawMessage `json:"input"`
	Output  json.RawMessage `json:"output"`
}

func readHistory(path string) (*History, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var h History
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &h, nil
}

// Decoded is an operation's typed input and output, as a model decodes them.
type Decoded struct {
	Input  interface{}
	Output interface{}
	// Keep is false for operations the model leaves out (failed reads: they had no effect).
	Keep bool
}

// toPorcupine turns a history into Porcupine operations. Unknown-outcome operations get a return
// time after every other event of the history, which is how Porcupine models "may have taken effect
// at any point after its call, or not at all" (an operation linearized at the very end is
// invisible to every other operation).
func toPorcupine(h *History, decode func(op Op) (Decoded, error)) ([]porcupine.Operation, int, error) {
	var end int64
	for _, op := range h.Operations {
		if op.Call > end {
			end = op.Call
		}
		if op.Return != nil && *op.Return > end {
			end = *op.Return
		}
	}
	infinity := end + 1
	if infinity >= math.MaxInt64/2 {
		return nil, 0, fmt.Errorf("timestamps out of range")
	}
	var ops []porcupine.Operation
	unknown := 0
	for i, op := range h.Operations {
		d, err := decode(op)
		if err != nil {
			return nil, 0, fmt.Errorf("operation %d: %w", i, err)
		}
		if !d.Keep {
			continue
		}
		ret := infinity
		switch op.Status {
		case "info":
			unknown++
		case "ok", "fail":
			if op.Return == nil {
				return nil, 0, fmt.Errorf("operation %d: %s without a return time", i, op.Status)
			}
			ret = *op.Return
		default:
			return nil, 0, fmt.Errorf("operation %d: unknown status %q", i, op.Status)
		}
		ops = append(ops, porcupine.Operation{ClientId: op.Process, Input: d.Input, Call: op.Call, Output: d.Output, Return: ret})
	}
	return ops, unknown, nil
}
