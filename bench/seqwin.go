package bench

// seqWindow checks the sequence numbers of one topic as one stream receives
// them, the way an anti-replay window does: it remembers which of the 64
// numbers below the next expected one have arrived, so a late event can be
// told apart from a repeat.
//
// Counts are exact while events are less than 64 below the highest one
// received; an event older than that counts as reordered, never as
// duplicated, and if it filled a gap, that gap stays counted as lost: the
// window no longer knows which it was.
type seqWindow struct {
	next uint64 // the lowest sequence number not yet received in order; 0 before the first
	seen uint64 // bit i set: next-1-i has arrived

	lost       int64 // gaps skipped over, less those filled late
	duplicated int64
	reordered  int64
}

// receive records the arrival of seq (numbers start at 1).
func (w *seqWindow) receive(seq uint64) {
	if w.next == 0 {
		w.next = 1
	}
	switch {
	case seq >= w.next:
		gap := seq - w.next
		w.lost += int64(gap)
		if gap+1 >= 64 {
			w.seen = 0
		} else {
			w.seen <<= gap + 1
		}
		w.seen |= 1
		w.next = seq + 1
	default:
		back := w.next - 1 - seq
		switch {
		case back >= 64:
			w.reordered++
		case w.seen&(1<<back) != 0:
			w.duplicated++
		default:
			w.seen |= 1 << back
			w.lost--
			w.reordered++
		}
	}
}

// missing returns the events up to final not received: the gaps, plus the
// tail after the last one received.
func (w *seqWindow) missing(final uint64) int64 {
	next := max(w.next, 1)
	if final < next {
		return w.lost
	}
	return w.lost + int64(final-next+1)
}
