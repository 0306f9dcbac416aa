package transport

import (
	"encoding/json"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/transport/sse"
)

// ResetEvent is the event name sent when a resume point cannot be served
// (docs/protocol.md#resets).
const ResetEvent = "ssehub.reset"

// Reasons carried by the ssehub.reset event.
const (
	// ResetExpired: events after the resume point were dropped by
	// retention (count or age).
	ResetExpired = "expired"
	// ResetHistoryLost: the resume point is from a history this broker
	// does not have (for the embedded broker: from before a restart; for
	// Redis: from before Redis lost its data).
	ResetHistoryLost = "history_lost"
	// ResetUnknownID: the resume point is not an id this hub issued.
	ResetUnknownID = "unknown_id"
)

// encodeReset builds the ssehub.reset event: JSON data
// {"reason": ..., "lastEventId": ...} with id head (none if head is zero).
func encodeReset(reason, lastEventID string, head eventid.ID) *broker.Message {
	var id string
	if !head.IsZero() {
		id = head.String()
	}
	return &broker.Message{ID: head, Frame: resetFrame(reason, lastEventID, id)}
}

// resetFrame is the ssehub.reset event's frame, with id if not empty.
func resetFrame(reason, lastEventID, id string) []byte {
	return partialResetFrame(reason, lastEventID, id, nil, nil)
}

// partialResetFrame is resetFrame naming the topics and patterns the
// reset is about, if any (PartialReset).
func partialResetFrame(reason, lastEventID, id string, topics, patterns []string) []byte {
	data, _ := json.Marshal(struct {
		Reason      string   `json:"reason"`
		LastEventID string   `json:"lastEventId"`
		Topics      []string `json:"topics,omitempty"`
		Patterns    []string `json:"patterns,omitempty"`
	}{reason, lastEventID, topics, patterns})
	return sse.AppendEvent(nil, id, ResetEvent, data)
}

// PartialReset is the ssehub.reset event of a partitioned broker whose
// resume point can be served in some partitions but not in others: it
// names the selection's topics in those, and its patterns (which span
// every partition), and carries the cursor at: the heads of those
// partitions, the resume point in the others, whose events follow it in
// the replay (docs/protocol.md#resets).
func PartialReset(reason, lastEventID string, at eventid.Cursor, topics, patterns []string) *broker.Message {
	return &broker.Message{Cursor: at, Frame: partialResetFrame(reason, lastEventID, at.StreamID(), topics, patterns)}
}

// ResetReplay is a broker's answer to a resume point it cannot serve. The
// event carries id head, so a client that reconnects before any newer
// event resumes from there rather than being reset again.
func ResetReplay(reason, lastEventID string, head eventid.ID) broker.Replay {
	return broker.Replay{Reset: encodeReset(reason, lastEventID, head), Head: head}
}

// ResetReplayAt is ResetReplay on a partitioned broker: the event's id is
// the cursor of the partitions' heads.
func ResetReplayAt(reason, lastEventID string, heads eventid.Cursor) broker.Replay {
	reset := &broker.Message{Cursor: heads, Frame: resetFrame(reason, lastEventID, heads.StreamID())}
	return broker.Replay{Reset: reset, HeadCursor: heads}
}
