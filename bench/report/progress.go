package report

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progressEvery is how often a Progress that is not on a terminal prints a
// line: often enough to see a run is alive in a CI log, rarely enough that
// an hour's run stays a few hundred lines.
const progressEvery = 10 * time.Second

// Progress shows how a run is going while it goes on. On a terminal it
// keeps one line up to date, redrawn in place; written to anything else
// (a file, a pipe, a CI log) it prints a full line at most every 10 s of
// run time, and whenever the phase changes.
//
// A Progress is owned by one goroutine: its methods must not be called
// concurrently. Write errors are ignored, as progress is a courtesy and the
// run must go on without it.
type Progress struct {
	w   io.Writer
	tty bool

	// drawn is whether the terminal line holds an update not yet ended
	// by Done.
	drawn bool
	// printedAt and printedPhase are the run time and phase of the last
	// full line printed; pending is a newer line not printed yet.
	printed      bool
	printedAt    time.Duration
	printedPhase string
	pending      string
}

// NewProgress returns a Progress writing to w, redrawing one line in place
// if w is a terminal.
func NewProgress(w io.Writer) *Progress {
	return &Progress{w: w, tty: isTerminal(w)}
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Update shows the run as of s: its time, the phase running, the streams
// connected, the events received per second and their p99 latency over
// the last interval, and errs, the errors so far.
func (p *Progress) Update(s Sample, phase string, errs int64) {
	line := progressLine(s, phase, errs)
	if p.tty {
		// \r returns to the start of the line; ESC [ K clears what a
		// longer previous line left to the right.
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.drawn = true
		return
	}
	if p.printed && phase == p.printedPhase && s.At-p.printedAt < progressEvery {
		p.pending = line
		return
	}
	fmt.Fprintln(p.w, line)
	p.printed, p.printedAt, p.printedPhase, p.pending = true, s.At, phase, ""
}

// Done ends the progress display: it ends the terminal line, or prints the
// last update if it was held back, so that the final state is always
// shown. The Progress may be updated again afterwards.
func (p *Progress) Done() {
	switch {
	case p.tty && p.drawn:
		fmt.Fprintln(p.w)
		p.drawn = false
	case p.pending != "":
		fmt.Fprintln(p.w, p.pending)
		p.pending = ""
	}
}

// progressLine renders one update, short enough for an 80-column terminal
// in the common case; a terminal line that wraps cannot be redrawn.
func progressLine(s Sample, phase string, errs int64) string {
	p99 := dash
	if s.Latency.Count > 0 {
		p99 = fmtDuration(s.Latency.P99)
	}
	return fmt.Sprintf("%7s  %-14s  streams %s  events/s %s  p99 %s  errors %s",
		fmtElapsed(s.At), oneLine(phase), fmtCount(int64(s.Connected)), fmtRate(s.DeliveriesPerSec), p99, fmtCount(errs))
}
