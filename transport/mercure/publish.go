package mercure

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/ssehub/ssehub/hub/topic/mercuremap"
	"github.com/ssehub/ssehub/internal/clip"
	"github.com/ssehub/ssehub/transport/sse"
)

// DefaultMaxTopics is how many topics one update may have when
// PublishLimits.MaxTopics is zero.
const DefaultMaxTopics = 64

// PublishLimits bound what an update may carry.
type PublishLimits struct {
	// MaxTopics is the most topics of one draft-07 update (draft-08 has
	// one). Zero means DefaultMaxTopics.
	MaxTopics int
}

// Update is a parsed publication form (draft-07 §5, draft-08 §5).
type Update struct {
	// Topics are the update's topics in form order, the first canonical;
	// exactly one in draft-08.
	Topics []string
	// Data is the payload; absent, the update has one empty data line.
	Data string
	// Private is set by the presence of the private field, whatever its
	// value.
	Private bool
	// ID is the id the publisher chose, or empty for the hub's.
	ID string
	// Type is the SSE event type, or empty.
	Type string
	// Retry is the reconnection time in milliseconds, 0 for none.
	Retry int
}

// MaxIDLen bounds a publisher's id. Browsers send the id back in a
// Last-Event-ID header, and one past the server's header limit would get
// a 431, after which EventSource never reconnects.
const MaxIDLen = 1024

// MaxRetry bounds an update's retry, in milliseconds: a day. Beyond it a
// reconnection delay is a mistake, and far beyond, an overflow.
const MaxRetry = 24 * 60 * 60 * 1000

// reservedEventPrefix starts the event types the hub itself sends
// (ssehub.reset and the like): a publisher may not use it, so that a
// client can trust them.
const reservedEventPrefix = "ssehub."

// ParseUpdate parses a publication form body of generation gen. Unknown
// fields are ignored (draft-08 §5). A field value is checked before
// anything is published: topics as mercuremap.Validate says (a topic too
// long is 413, draft-08 §5), ids and types with no line breaks, an id
// neither starting with "#" (the hub's ids) nor "earliest", a retry of
// digits only.
func ParseUpdate(body string, gen Generation, limits PublishLimits) (Update, error) {
	maxTopics := limits.MaxTopics
	if maxTopics <= 0 {
		maxTopics = DefaultMaxTopics
	}
	var u Update
	var fields [8]formField
	for _, f := range parseForm(body, fields[:0]) {
		switch f.name {
		case "topic":
			if len(u.Topics) == maxTopics {
				return u, badRequest("more than %d topics", maxTopics)
			}
			if err := mercuremap.Validate(f.value); err != nil {
				if len(f.value) > mercuremap.MaxTopicLen {
					return u, &Error{Status: http.StatusRequestEntityTooLarge, Message: err.Error()}
				}
				return u, badRequest("topic: %v", err)
			}
			u.Topics = append(u.Topics, f.value)
		case "data":
			u.Data = f.value
		case "private":
			u.Private = true
		case "id":
			switch {
			case f.value == "":
			case strings.HasPrefix(f.value, "#"):
				return u, badRequest("id %s: ids starting with # are the hub's", clip.Quote(f.value))
			case f.value == "earliest":
				return u, badRequest("id earliest is reserved for reconnection (draft-08 §7)")
			case len(f.value) > MaxIDLen:
				return u, badRequest("id of %d bytes: at most %d", len(f.value), MaxIDLen)
			case hasControl(f.value):
				return u, badRequest("id %s holds a control character", clip.Quote(f.value))
			}
			u.ID = f.value
		case "type":
			switch {
			case sse.ValidateField(f.value) != nil:
				return u, badRequest("type %s holds a line break or NUL", clip.Quote(f.value))
			case strings.HasPrefix(f.value, reservedEventPrefix):
				return u, badRequest("type %s: the ssehub. prefix is reserved for the hub's own events", clip.Quote(f.value))
			}
			u.Type = f.value
		case "retry":
			ms, err := strconv.Atoi(f.value)
			if err != nil || ms < 0 || ms > MaxRetry || strings.ContainsAny(f.value, "+-") {
				return u, badRequest("retry %s: want milliseconds, digits only, at most %d", clip.Quote(f.value), MaxRetry)
			}
			u.Retry = ms
		}
	}
	switch {
	case len(u.Topics) == 0:
		return u, badRequest("no topic: publish with topic=...")
	case gen == Draft08 && len(u.Topics) > 1:
		return u, badRequest("%d topics: a draft-08 update has exactly one (draft-08 §5)", len(u.Topics))
	}
	return u, nil
}

// hasControl reports whether s holds an ASCII control character (C0 or
// DEL), which has no place in an id that goes into a header and a frame.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}
