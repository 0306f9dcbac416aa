package transport

import (
	"slices"

	"github.com/ssehub/ssehub/hub/broker"
	"github.com/ssehub/ssehub/hub/eventid"
	"github.com/ssehub/ssehub/transport/sse"
)

// NewMessage encodes an event once for all of its recipients: the
// returned message's Frame is the complete SSE frame, shared by every
// shard and stream. The message takes ownership of topics.
func NewMessage(id eventid.ID, event string, topics []string, data []byte) *broker.Message {
	ids := id.String()
	frame := make([]byte, 0, sse.EventSize(ids, event, data))
	return &broker.Message{ID: id, Topics: topics, Frame: sse.AppendEvent(frame, ids, event, data)}
}

// CursorFrame is body, an event encoded without an id, under the id cur:
// a partitioned broker's frame (docs/fleet-design.md#cursors).
func CursorFrame(cur eventid.Cursor, body []byte) []byte {
	frame := make([]byte, 0, sse.IDLineSize(eventid.MaxCursorLen(len(cur)))+len(body))
	frame = sse.AppendIDLine(frame, cur.AppendStreamID)
	return append(frame, body...)
}

// InIDOrder sorts msgs, collected from the histories of several topics,
// by id and drops repeats: an event published to two followed topics is
// in both histories, and a stream must get it once
// (docs/protocol.md#delivery-semantics).
func InIDOrder(msgs []*broker.Message) []*broker.Message {
	slices.SortFunc(msgs, func(x, y *broker.Message) int { return x.ID.Compare(y.ID) })
	return slices.CompactFunc(msgs, func(x, y *broker.Message) bool { return x.ID == y.ID })
}
