package transport

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/transport/sse"
)

// NewMercureMessage is NewMessage for an update of the Mercure front door
// (docs/mercure-design.md): its frame's id is the publisher's
// (MercureEventID), and it asks for meta.Retry when that is set. The
// message takes ownership of topics and meta.
func NewMercureMessage(id eventid.ID, event string, topics []string, data []byte, meta *broker.Mercure) *broker.Message {
	sseID := MercureEventID(meta, id)
	size := sse.EventSize(sseID, event, data)
	var retry []byte
	if meta.Retry > 0 {
		retry = sse.AppendRetry(nil, time.Duration(meta.Retry)*time.Millisecond)
		size += len(retry)
	}
	frame := sse.AppendEvent(make([]byte, 0, size), sseID, event, data)
	if retry != nil {
		// Before the blank line that ends the event: a retry field is
		// part of the event it comes with.
		frame = slices.Insert(frame, len(frame)-1, retry...)
	}
	return &broker.Message{ID: id, Topics: topics, Frame: frame, Mercure: meta}
}

// MercureEventID is the SSE id a Mercure subscriber sees for the event id
// carrying meta: the publisher's id, or the hub's id as a fragment
// ("#<id>"), which no publisher id may be (the Mercure door refuses them)
// and both protocol generations allow.
func MercureEventID(meta *broker.Mercure, id eventid.ID) string {
	if meta.ID != "" {
		return meta.ID
	}
	return "#" + id.String()
}

// mercureWire is broker.Mercure as the Redis broker stores and sends it:
// short names, since it goes with every event.
type mercureWire struct {
	Topics  []string `json:"t"`
	ID      string   `json:"i,omitempty"`
	Private bool     `json:"p,omitempty"`
	Retry   int      `json:"r,omitempty"`
}

// EncodeMercure is meta as one line of JSON (no line break: strings
// escape theirs), for brokers that send or store events as text.
func EncodeMercure(meta *broker.Mercure) string {
	b, err := json.Marshal(mercureWire{Topics: meta.Topics, ID: meta.ID, Private: meta.Private, Retry: meta.Retry})
	if err != nil { // strings and ints only: cannot fail
		panic(fmt.Sprintf("transport: encoding Mercure metadata: %v", err))
	}
	return string(b)
}

// maxMercureRetry is the largest retry, in milliseconds, another hub's
// metadata may carry: the Mercure door's bound (a day).
const maxMercureRetry = 24 * 60 * 60 * 1000

// errMercureMeta is returned for metadata that is not EncodeMercure's.
var errMercureMeta = errors.New("transport: malformed Mercure metadata")

// DecodeMercure parses what EncodeMercure wrote. It came over the network
// from another hub, so it is checked: an update has topics.
func DecodeMercure(s string) (*broker.Mercure, error) {
	var w mercureWire
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return nil, fmt.Errorf("%w: %w", errMercureMeta, err)
	}
	// The door bounds retry at a day; far larger would overflow a
	// time.Duration.
	if len(w.Topics) == 0 || w.Retry < 0 || w.Retry > maxMercureRetry {
		return nil, errMercureMeta
	}
	// The id goes into the frame as it is: a line break would let it
	// write fields of its own.
	if err := sse.ValidateField(w.ID); err != nil {
		return nil, fmt.Errorf("%w: id: %w", errMercureMeta, err)
	}
	return &broker.Mercure{Topics: w.Topics, ID: w.ID, Private: w.Private, Retry: w.Retry}, nil
}
