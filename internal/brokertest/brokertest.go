// Package brokertest has helpers for tests of the brokers (the packages
// under transport/) and of what runs on them: a sink that records what a
// broker delivered, and readers of replay answers.
package brokertest

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/internal/testenv"
)

// Recorder is a broker.Sink that keeps what it was given. Its zero value
// is ready to use; it is safe for concurrent use.
type Recorder struct {
	mu         sync.Mutex
	msgs       []*broker.Message
	subscribed map[string]bool
	lost       int
}

// Deliver implements broker.Sink.
func (r *Recorder) Deliver(m *broker.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
}

// Subscribed implements broker.Sink.
func (r *Recorder) Subscribed(name string, _ bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.subscribed == nil {
		r.subscribed = make(map[string]bool)
	}
	r.subscribed[name] = true
}

// Observed implements broker.Sink; a Recorder has no cursor to move.
func (r *Recorder) Observed(int, eventid.ID) {}

// Lost implements broker.Sink.
func (r *Recorder) Lost() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lost++
}

// Subscribe subscribes sub to each name (a pattern if it contains '*') and
// waits until every subscription is active, failing t if one is refused or
// not confirmed in time.
func (r *Recorder) Subscribe(t testing.TB, sub broker.Subscriber, names ...string) {
	t.Helper()
	for _, name := range names {
		subscribe := sub.Subscribe
		if strings.Contains(name, "*") {
			subscribe = sub.PSubscribe
		}
		active, err := subscribe(name)
		if err != nil {
			t.Fatalf("subscribe %q: %v", name, err)
		}
		if !active {
			testenv.WaitFor(t, "subscription "+name, func() bool {
				r.mu.Lock()
				defer r.mu.Unlock()
				return r.subscribed[name]
			})
		}
	}
}

// Messages returns what was delivered so far, in delivery order.
func (r *Recorder) Messages() []*broker.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*broker.Message(nil), r.msgs...)
}

// IDs returns the ids of what was delivered so far, in delivery order.
func (r *Recorder) IDs() []eventid.ID { return ids(r.Messages()) }

// LostCalls returns how often Lost was called.
func (r *Recorder) LostCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lost
}

// ReplayIDs returns the ids of a replay's messages, in order.
func ReplayIDs(r broker.Replay) []eventid.ID { return ids(r.Messages) }

func ids(msgs []*broker.Message) []eventid.ID {
	var out []eventid.ID
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

// ResetReason returns the reason of a reset replay, or "" for a replay
// that serves messages. It fails t if the reset event's data is not the
// documented JSON.
func ResetReason(t testing.TB, r broker.Replay) string {
	t.Helper()
	if r.Reset == nil {
		return ""
	}
	frame := string(r.Reset.Frame)
	_, rest, ok := strings.Cut(frame, "data: ")
	data, _, _ := strings.Cut(rest, "\n")
	var reset struct{ Reason string }
	if err := json.Unmarshal([]byte(data), &reset); !ok || err != nil {
		t.Fatalf("reset frame %q: no JSON data line (%v)", frame, err)
	}
	return reset.Reason
}

// Pub returns a publication of data to topics.
func Pub(data string, topics ...string) broker.Publication {
	return broker.Publication{Topics: topics, Data: []byte(data)}
}

// Listen subscribes a new Recorder to names on b, each active by the time
// it returns, and closes the subscription when the test ends.
func Listen(t testing.TB, b broker.Broker, names ...string) (*Recorder, broker.Subscriber) {
	t.Helper()
	r := &Recorder{}
	sub, err := b.NewSubscriber(r)
	if err != nil {
		t.Fatalf("NewSubscriber: %v", err)
	}
	t.Cleanup(sub.Close)
	r.Subscribe(t, sub, names...)
	return r, sub
}
