package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"
)

// A Spec is a Porcupine model plus how to read its operations from the history file.
type Spec struct {
	Model  porcupine.Model
	Decode func(op Op) (Decoded, error)
}

func specFor(h *History) (Spec, error) {
	switch h.Model {
	case "register":
		return registerSpec(), nil
	case "set":
		return setSpec(), nil
	case "counter":
		return counterSpec(), nil
	case "queue":
		return queueSpec(), nil
	case "bank":
		var p struct {
			Accounts int `json:"accounts"`
			Balance  int `json:"balance"`
		}
		if err := json.Unmarshal(h.Params, &p); err != nil || p.Accounts < 2 {
			return Spec{}, fmt.Errorf("bank needs params {accounts >= 2, balance}: %s", string(h.Params))
		}
		return bankSpec(p.Accounts, p.Balance), nil
	}
	return Spec{}, fmt.Errorf("unknown model %q", h.Model)
}

func decodeJSON(raw json.RawMessage, into interface{}) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return json.Unmarshal(raw, into)
}

// byKey partitions operations by their input's key (P-compositionality: the keys are independent).
func byKey(key func(input interface{}) string) func([]porcupine.Operation) [][]porcupine.Operation {
	return func(history []porcupine.Operation) [][]porcupine.Operation {
		groups := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			k := key(op.Input)
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], op)
		}
		sort.Strings(order)
		var out [][]porcupine.Operation
		for _, k := range order {
			out = append(out, groups[k])
		}
		return out
	}
}

// ---------------------------------------------------------------- register (CAS register with versions)

type regIn struct {
	Key     string `json:"key"`
	Op      string `json:"op"` // read, write, cas
	Value   string `json:"value"`
	Version int    `json:"version"` // cas: expected version
}

type regOut struct {
	Value      string `json:"value"`
	Version    int    `json:"version"`
	BadVersion bool   `json:"badVersion"`
	Unknown    bool   `json:"-"`
}

type regState struct {
	Value   string
	Version int
}

func registerSpec() Spec {
	return Spec{
		Model: porcupine.Model{
			Partition: byKey(func(in interface{}) string { return in.(regIn).Key }),
			Init:      func() interface{} { return regState{Value: "0", Version: 0} },
			Step: func(state, input, output interface{}) (bool, interface{}) {
				s := state.(regState)
				in := input.(regIn)
				out := output.(regOut)
				switch in.Op {
				case "read":
					return out.Value == s.Value && out.Version == s.Version, s
				case "write":
					next := regState{Value: in.Value, Version: s.Version + 1}
					if out.Unknown {
						return true, next
					}
					return out.Version == next.Version, next
				case "cas":
					matches := in.Version == s.Version
					next := regState{Value: in.Value, Version: s.Version + 1}
					switch {
					case out.Unknown && matches:
						return true, next
					case out.Unknown:
						return true, s // the condition does not hold here: no effect
					case out.BadVersion:
						return !matches, s
					default:
						return matches && out.Version == next.Version, next
					}
				}
				return false, s
			},
			DescribeOperation: func(input, output interface{}) string {
				in := input.(regIn)
				out := output.(regOut)
				result := fmt.Sprintf("v%d", out.Version)
				if out.Unknown {
					result = "?"
				} else if out.BadVersion {
					result = "BadVersion"
				}
				switch in.Op {
				case "read":
					return fmt.Sprintf("%s read -> %q v%d", in.Key, out.Value, out.Version)
				case "write":
					return fmt.Sprintf("%s write(%q) -> %s", in.Key, in.Value, result)
				default:
					return fmt.Sprintf("%s cas(v%d, %q) -> %s", in.Key, in.Version, in.Value, result)
				}
			},
			DescribeState: func(state interface{}) string {
				s := state.(regState)
				return fmt.Sprintf("%q v%d", s.Value, s.Version)
			},
		},
		Decode: func(op Op) (Decoded, error) {
			var in regIn
			var out regOut
			if err := decodeJSON(op.Input, &in); err != nil {
				return Decoded{}, err
			}
			if err := decodeJSON(op.Output, &out); err != nil {
				return Decoded{}, err
			}
			out.Unknown = op.Status == "info"
			keep := op.Status != "fail" || (in.Op == "cas" && out.BadVersion)
			if in.Op == "read" && op.Status != "ok" {
				keep = false
			}
			return Decoded{Input: in, Output: out, Keep: keep}, nil
		},
	}
}

// ---------------------------------------------------------------- set (add unique elements, read all)

type setIn struct {
	Key     string `json:"key"`
	Op      string `json:"op"` // add, read
	Element int    `json:"element"`
}

type setOut struct {
	Elements []int `json:"elements"`
	Unknown  bool  `json:"-"`
}

// setState is a sorted slice, never modified in place.
type setState []int

func setSpec() Spec {
	return Spec{
		Model: porcupine.Model{
			Partition: byKey(func(in interface{}) string { return in.(setIn).Key }),
			Init:      func() interface{} { return setState{} },
			Step: func(state, input, output interface{}) (bool, interface{}) {
				s := state.(setState)
				in := input.(setIn)
				out := output.(setOut)
				if in.Op == "read" {
					return equalInts(s, out.Elements), s
				}
				i := sort.SearchInts(s, in.Element)
				if i < len(s) && s[i] == in.Element {
					return true, s
				}
				next := make(setState, 0, len(s)+1)
				next = append(append(append(next, s[:i]...), in.Element), s[i:]...)
				return true, next
			},
			Equal: func(a, b interface{}) bool { return equalInts(a.(setState), b.(setState)) },
			Hash: func(state interface{}) uint64 {
				h := fnv.New64a()
				for _, e := range state.(setState) {
					fmt.Fprintf(h, "%d,", e)
				}
				return h.Sum64()
			},
			DescribeOperation: func(input, output interface{}) string {
				in := input.(setIn)
				out := output.(setOut)
				if in.Op == "read" {
					return fmt.Sprintf("%s read -> %d elements", in.Key, len(out.Elements))
				}
				if out.Unknown {
					return fmt.Sprintf("%s add(%d) -> ?", in.Key, in.Element)
				}
				return fmt.Sprintf("%s add(%d)", in.Key, in.Element)
			},
			DescribeState: func(state interface{}) string { return fmt.Sprintf("%d elements", len(state.(setState))) },
		},
		Decode: func(op Op) (Decoded, error) {
			var in setIn
			var out setOut
			if err := decodeJSON(op.Input, &in); err != nil {
				return Decoded{}, err
			}
			if err := decodeJSON(op.Output, &out); err != nil {
				return Decoded{}, err
			}
			out.Unknown = op.Status == "info"
			sort.Ints(out.Elements)
			return Decoded{Input: in, Output: out, Keep: op.Status != "fail"}, nil
		},
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------- counter (increments by CAS, reads)

type counterIn struct {
	Key string `json:"key"`
	Op  string `json:"op"` // incr, read
}

type counterOut struct {
	Value   int  `json:"value"`
	Unknown bool `json:"-"`
}

func counterSpec() Spec {
	return Spec{
		Model: porcupine.Model{
			Partition: byKey(func(in interface{}) string { return in.(counterIn).Key }),
			Init:      func() interface{} { return 0 },
			Step: func(state, input, output interface{}) (bool, interface{}) {
				s := state.(int)
				if input.(counterIn).Op == "read" {
					return output.(counterOut).Value == s, s
				}
				return true, s + 1
			},
			DescribeOperation: func(input, output interface{}) string {
				in := input.(counterIn)
				out := output.(counterOut)
				if in.Op == "read" {
					return fmt.Sprintf("%s read -> %d", in.Key, out.Value)
				}
				if out.Unknown {
					return fmt.Sprintf("%s incr -> ?", in.Key)
				}
				return fmt.Sprintf("%s incr", in.Key)
			},
		},
		Decode: func(op Op) (Decoded, error) {
			var in counterIn
			var out counterOut
			if err := decodeJSON(op.Input, &in); err != nil {
				return Decoded{}, err
			}
			if err := decodeJSON(op.Output, &out); err != nil {
				return Decoded{}, err
			}
			out.Unknown = op.Status == "info"
			return Decoded{Input: in, Output: out, Keep: op.Status != "fail"}, nil
		},
	}
}

// ---------------------------------------------------------------- queue (FIFO: enqueue, dequeue)

type queueIn struct {
	Op     string `json:"op"` // enqueue, dequeue
	Value  string `json:"value"`
	Target string `json:"target"` // dequeue with an unknown outcome: the value it tried to take
}

type queueOut struct {
	Value   string `json:"value"`
	Seq     int    `json:"seq"` // the item's sequence number (0: not known)
	Empty   bool   `json:"empty"`
	Unknown bool   `json:"-"`
}

// queueState is never modified in place. Sequence numbers are handed out in log order, so an
// enqueue whose number is known must come after every known one before it: this keeps the search
// from trying orders of concurrent enqueues that the numbers already rule out.
type queueState struct {
	Items  []string
	MaxSeq int
}

func queueSpec() Spec {
	return Spec{
		Model: porcupine.Model{
			Init: func() interface{} { return queueState{} },
			Step: func(state, input, output interface{}) (bool, interface{}) {
				s := state.(queueState)
				in := input.(queueIn)
				out := output.(queueOut)
				if in.Op == "enqueue" {
					if out.Seq != 0 && out.Seq <= s.MaxSeq {
						return false, s
					}
					next := queueState{Items: make([]string, len(s.Items), len(s.Items)+1), MaxSeq: max(s.MaxSeq, out.Seq)}
					copy(next.Items, s.Items)
					next.Items = append(next.Items, in.Value)
					return true, next
				}
				switch {
				case out.Unknown:
					// The delete of Target may or may not have happened: it takes the head if the
					// head is Target; if Target is not queued, the delete found nothing.
					if len(s.Items) > 0 && s.Items[0] == in.Target {
						return true, queueState{Items: s.Items[1:], MaxSeq: s.MaxSeq}
					}
					for _, v := range s.Items {
						if v == in.Target {
							return false, s
						}
					}
					return true, s
				case out.Empty:
					return len(s.Items) == 0, s
				default:
					if len(s.Items) == 0 || s.Items[0] != out.Value {
						return false, s
					}
					return true, queueState{Items: s.Items[1:], MaxSeq: s.MaxSeq}
				}
			},
			Equal: func(a, b interface{}) bool {
				x, y := a.(queueState), b.(queueState)
				if len(x.Items) != len(y.Items) || x.MaxSeq != y.MaxSeq {
					return false
				}
				for i := range x.Items {
					if x.Items[i] != y.Items[i] {
						return false
					}
				}
				return true
			},
			Hash: func(state interface{}) uint64 {
				s := state.(queueState)
				h := fnv.New64a()
				fmt.Fprintf(h, "%d|%s", s.MaxSeq, strings.Join(s.Items, ","))
				return h.Sum64()
			},
			DescribeOperation: func(input, output interface{}) string {
				in := input.(queueIn)
				out := output.(queueOut)
				if in.Op == "enqueue" {
					if out.Unknown {
						return fmt.Sprintf("enqueue(%s) -> ?", in.Value)
					}
					return fmt.Sprintf("enqueue(%s) -> #%d", in.Value, out.Seq)
				}
				switch {
				case out.Unknown:
					return fmt.Sprintf("dequeue(%s) -> ?", in.Target)
				case out.Empty:
					return "dequeue -> empty"
				}
				return fmt.Sprintf("dequeue -> %s #%d", out.Value, out.Seq)
			},
			DescribeState: func(state interface{}) string {
				s := state.(queueState)
				if len(s.Items) > 8 {
					return fmt.Sprintf("[%s ... %d more]", strings.Join(s.Items[:8], " "), len(s.Items)-8)
				}
				return "[" + strings.Join(s.Items, " ") + "]"
			},
		},
		Decode: func(op Op) (Decoded, error) {
			var in queueIn
			var out queueOut
			if err := decodeJSON(op.Input, &in); err != nil {
				return Decoded{}, err
			}
			if err := decodeJSON(op.Output, &out); err != nil {
				return Decoded{}, err
			}
			out.Unknown = op.Status == "info"
			if out.Unknown {
				out.Seq = 0
			}
			keep := op.Status != "fail"
			if in.Op == "dequeue" && out.Unknown && in.Target == "" {
				keep = false // failed before touching anything
			}
			return Decoded{Input: in, Output: out, Keep: keep}, nil
		},
	}
}

// ---------------------------------------------------------------- bank (multi transfers, multiRead)

type bankIn struct {
	Op          string `json:"op"` // transfer, read
	From        int    `json:"from"`
	To          int    `json:"to"`
	Amount      int    `json:"amount"`
	FromVersion int    `json:"fromVersion"`
	ToVersion   int    `json:"toVersion"`
}

type bankOut struct {
	Balances   []int `json:"balances"`
	Versions   []int `json:"versions"`
	BadVersion bool  `json:"badVersion"`
	Unknown    bool  `json:"-"`
}

type bankState struct {
	Balances []int
	Versions []int
}

func bankSpec(accounts, balance int) Spec {
	return Spec{
		Model: porcupine.Model{
			Init: func() interface{} {
				s := bankState{Balances: make([]int, accounts), Versions: make([]int, accounts)}
				for i := range s.Balances {
					s.Balances[i] = balance
				}
				return s
			},
			Step: func(state, input, output interface{}) (bool, interface{}) {
				s := state.(bankState)
				in := input.(bankIn)
				out := output.(bankOut)
				if in.Op == "read" {
					return equalInts(s.Balances, out.Balances) && equalInts(s.Versions, out.Versions), s
				}
				matches := s.Versions[in.From] == in.FromVersion && s.Versions[in.To] == in.ToVersion
				apply := func() bankState {
					next := bankState{Balances: append([]int(nil), s.Balances...), Versions: append([]int(nil), s.Versions...)}
					next.Balances[in.From] -= in.Amount
					next.Balances[in.To] += in.Amount
					next.Versions[in.From]++
					next.Versions[in.To]++
					return next
				}
				switch {
				case out.Unknown:
					if matches {
						return true, apply()
					}
					return true, s
				case out.BadVersion:
					return !matches, s
				default:
					if !matches {
						return false, s
					}
					return true, apply()
				}
			},
			Equal: func(a, b interface{}) bool {
				x, y := a.(bankState), b.(bankState)
				return equalInts(x.Balances, y.Balances) && equalInts(x.Versions, y.Versions)
			},
			Hash: func(state interface{}) uint64 {
				s := state.(bankState)
				h := fnv.New64a()
				fmt.Fprint(h, s.Balances, s.Versions)
				return h.Sum64()
			},
			DescribeOperation: func(input, output interface{}) string {
				in := input.(bankIn)
				out := output.(bankOut)
				if in.Op == "read" {
					return fmt.Sprintf("read -> %v v%v", out.Balances, out.Versions)
				}
				result := "ok"
				if out.Unknown {
					result = "?"
				} else if out.BadVersion {
					result = "BadVersion"
				}
				return fmt.Sprintf("transfer %d a%d(v%d) -> a%d(v%d): %s", in.Amount, in.From, in.FromVersion, in.To, in.ToVersion, result)
			},
			DescribeState: func(state interface{}) string {
				s := state.(bankState)
				return fmt.Sprintf("%v v%v", s.Balances, s.Versions)
			},
		},
		Decode: func(op Op) (Decoded, error) {
			var in bankIn
			var out bankOut
			if err := decodeJSON(op.Input, &in); err != nil {
				return Decoded{}, err
			}
			if err := decodeJSON(op.Output, &out); err != nil {
				return Decoded{}, err
			}
			out.Unknown = op.Status == "info"
			if in.Op != "read" && (in.From < 0 || in.From >= accounts || in.To < 0 || in.To >= accounts) {
				return Decoded{}, fmt.Errorf("transfer between accounts %d and %d of %d", in.From, in.To, accounts)
			}
			keep := op.Status != "fail" || (in.Op == "transfer" && out.BadVersion)
			if in.Op == "read" && op.Status != "ok" {
				keep = false
			}
			return Decoded{Input: in, Output: out, Keep: keep}, nil
		},
	}
}
