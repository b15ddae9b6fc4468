package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// op builds a history operation; ret < 0 means an unknown outcome.
func op(process int, call, ret int64, status string, input, output interface{}) Op {
	in, _ := json.Marshal(input)
	out, _ := json.Marshal(output)
	o := Op{Process: process, Call: call, Status: status, Input: in, Output: out}
	if ret >= 0 {
		o.Return = &ret
	}
	return o
}

func verdict(t *testing.T, h *History) porcupine.CheckResult {
	t.Helper()
	spec, err := specFor(h)
	if err != nil {
		t.Fatal(err)
	}
	ops, _, err := toPorcupine(h, spec.Decode)
	if err != nil {
		t.Fatal(err)
	}
	return porcupine.CheckOperationsTimeout(spec.Model, ops, 10*time.Second)
}

type m = map[string]interface{}

func TestRegister(t *testing.T) {
	cases := []struct {
		name string
		ops  []Op
		want porcupine.CheckResult
	}{
		{"write then read", []Op{
			op(0, 0, 10, "ok", m{"key": "k", "op": "write", "value": "a"}, m{"version": 1}),
			op(1, 20, 30, "ok", m{"key": "k", "op": "read"}, m{"value": "a", "version": 1}),
		}, porcupine.Ok},
		{"stale read after a completed write", []Op{
			op(0, 0, 10, "ok", m{"key": "k", "op": "write", "value": "a"}, m{"version": 1}),
			op(1, 20, 30, "ok", m{"key": "k", "op": "read"}, m{"value": "0", "version": 0}),
		}, porcupine.Illegal},
		{"unknown write seen later", []Op{
			op(0, 0, -1, "info", m{"key": "k", "op": "write", "value": "a"}, nil),
			op(1, 50, 60, "ok", m{"key": "k", "op": "read"}, m{"value": "a", "version": 1}),
		}, porcupine.Ok},
		{"unknown write never seen", []Op{
			op(0, 0, -1, "info", m{"key": "k", "op": "write", "value": "a"}, nil),
			op(1, 50, 60, "ok", m{"key": "k", "op": "read"}, m{"value": "0", "version": 0}),
		}, porcupine.Ok},
		{"a failed write must not be seen", []Op{
			op(0, 0, 10, "fail", m{"key": "k", "op": "write", "value": "a"}, nil),
			op(1, 50, 60, "ok", m{"key": "k", "op": "read"}, m{"value": "a", "version": 1}),
		}, porcupine.Illegal},
		{"cas succeeds at the right version", []Op{
			op(0, 0, 10, "ok", m{"key": "k", "op": "cas", "value": "a", "version": 0}, m{"version": 1}),
			op(0, 20, 30, "ok", m{"key": "k", "op": "cas", "value": "b", "version": 1}, m{"version": 2}),
			op(1, 40, 50, "ok", m{"key": "k", "op": "read"}, m{"value": "b", "version": 2}),
		}, porcupine.Ok},
		{"cas cannot succeed twice at one version", []Op{
			op(0, 0, 10, "ok", m{"key": "k", "op": "cas", "value": "a", "version": 0}, m{"version": 1}),
			op(1, 20, 30, "ok", m{"key": "k", "op": "cas", "value": "b", "version": 0}, m{"version": 1}),
		}, porcupine.Illegal},
		{"bad version when the version matched all along", []Op{
			op(0, 0, 10, "fail", m{"key": "k", "op": "cas", "value": "a", "version": 0}, m{"badVersion": true}),
		}, porcupine.Illegal},
		{"keys are independent", []Op{
			op(0, 0, 10, "ok", m{"key": "k", "op": "write", "value": "a"}, m{"version": 1}),
			op(1, 20, 30, "ok", m{"key": "j", "op": "read"}, m{"value": "0", "version": 0}),
		}, porcupine.Ok},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := verdict(t, &History{Model: "register", Operations: c.ops}); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestSet(t *testing.T) {
	lost := []Op{
		op(0, 0, 10, "ok", m{"key": "s", "op": "add", "element": 1}, nil),
		op(1, 20, 30, "ok", m{"key": "s", "op": "read"}, m{"elements": []int{}}),
	}
	if got := verdict(t, &History{Model: "set", Operations: lost}); got != porcupine.Illegal {
		t.Fatalf("a lost add: got %s", got)
	}
	ok := []Op{
		op(0, 0, -1, "info", m{"key": "s", "op": "add", "element": 2}, nil),
		op(0, 5, 10, "ok", m{"key": "s", "op": "add", "element": 1}, nil),
		op(1, 20, 30, "ok", m{"key": "s", "op": "read"}, m{"elements": []int{1}}),
		op(1, 40, 50, "ok", m{"key": "s", "op": "read"}, m{"elements": []int{1, 2}}),
	}
	if got := verdict(t, &History{Model: "set", Operations: ok}); got != porcupine.Ok {
		t.Fatalf("an unknown add seen late: got %s", got)
	}
	flicker := append(ok, op(1, 60, 70, "ok", m{"key": "s", "op": "read"}, m{"elements": []int{1}}))
	if got := verdict(t, &History{Model: "set", Operations: flicker}); got != porcupine.Illegal {
		t.Fatalf("an element that vanishes again: got %s", got)
	}
}

func TestCounter(t *testing.T) {
	h := []Op{
		op(0, 0, 10, "ok", m{"key": "c", "op": "incr"}, nil),
		op(1, 0, -1, "info", m{"key": "c", "op": "incr"}, nil),
		op(2, 20, 30, "ok", m{"key": "c", "op": "read"}, m{"value": 2}),
		op(2, 40, 50, "ok", m{"key": "c", "op": "read"}, m{"value": 2}),
	}
	if got := verdict(t, &History{Model: "counter", Operations: h}); got != porcupine.Ok {
		t.Fatalf("got %s", got)
	}
	h = append(h, op(2, 60, 70, "ok", m{"key": "c", "op": "read"}, m{"value": 3}))
	if got := verdict(t, &History{Model: "counter", Operations: h}); got != porcupine.Illegal {
		t.Fatalf("a third increment from nowhere: got %s", got)
	}
}

func TestQueue(t *testing.T) {
	fifo := []Op{
		op(0, 0, 10, "ok", m{"op": "enqueue", "value": "a"}, m{"seq": 1}),
		op(0, 20, 30, "ok", m{"op": "enqueue", "value": "b"}, m{"seq": 2}),
		op(1, 40, 50, "ok", m{"op": "dequeue"}, m{"value": "a"}),
		op(1, 60, 70, "ok", m{"op": "dequeue"}, m{"value": "b"}),
		op(1, 80, 90, "ok", m{"op": "dequeue"}, m{"empty": true}),
	}
	if got := verdict(t, &History{Model: "queue", Operations: fifo}); got != porcupine.Ok {
		t.Fatalf("fifo: got %s", got)
	}
	lifo := []Op{fifo[0], fifo[1], op(1, 40, 50, "ok", m{"op": "dequeue"}, m{"value": "b"})}
	if got := verdict(t, &History{Model: "queue", Operations: lifo}); got != porcupine.Illegal {
		t.Fatalf("out of order: got %s", got)
	}
	unknown := []Op{
		fifo[0], fifo[1],
		op(1, 40, -1, "info", m{"op": "dequeue", "target": "a"}, nil),
		op(2, 60, 70, "ok", m{"op": "dequeue"}, m{"value": "b"}),
		op(2, 80, 90, "ok", m{"op": "dequeue"}, m{"empty": true}),
	}
	if got := verdict(t, &History{Model: "queue", Operations: unknown}); got != porcupine.Ok {
		t.Fatalf("unknown dequeue that happened: got %s", got)
	}
	twice := []Op{fifo[0], op(1, 20, 30, "ok", m{"op": "dequeue"}, m{"value": "a"}), op(2, 40, 50, "ok", m{"op": "dequeue"}, m{"value": "a"})}
	if got := verdict(t, &History{Model: "queue", Operations: twice}); got != porcupine.Illegal {
		t.Fatalf("dequeued twice: got %s", got)
	}
	// Concurrent enqueues are ordered by their sequence numbers, whatever their times.
	concurrent := []Op{
		op(0, 0, 100, "ok", m{"op": "enqueue", "value": "a"}, m{"seq": 2}),
		op(1, 0, 100, "ok", m{"op": "enqueue", "value": "b"}, m{"seq": 1}),
		op(2, 200, 210, "ok", m{"op": "dequeue"}, m{"value": "a", "seq": 2}),
	}
	if got := verdict(t, &History{Model: "queue", Operations: concurrent}); got != porcupine.Illegal {
		t.Fatalf("taken out of sequence order: got %s", got)
	}
}

func TestBank(t *testing.T) {
	params := json.RawMessage(`{"accounts": 2, "balance": 10}`)
	h := []Op{
		op(0, 0, 10, "ok", m{"op": "transfer", "from": 0, "to": 1, "amount": 3, "fromVersion": 0, "toVersion": 0}, nil),
		op(1, 20, 30, "ok", m{"op": "read"}, m{"balances": []int{7, 13}, "versions": []int{1, 1}}),
		op(0, 40, 50, "fail", m{"op": "transfer", "from": 0, "to": 1, "amount": 3, "fromVersion": 0, "toVersion": 0}, m{"badVersion": true}),
	}
	if got := verdict(t, &History{Model: "bank", Params: params, Operations: h}); got != porcupine.Ok {
		t.Fatalf("got %s", got)
	}
	torn := append(h, op(1, 60, 70, "ok", m{"op": "read"}, m{"balances": []int{7, 10}, "versions": []int{1, 0}}))
	if got := verdict(t, &History{Model: "bank", Params: params, Operations: torn}); got != porcupine.Illegal {
		t.Fatalf("half a transfer: got %s", got)
	}
}
