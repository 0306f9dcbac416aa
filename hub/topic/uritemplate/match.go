package uritemplate

import (
	"math/bits"
	"strings"
)

// matchPlan matches the middle of a template (Template.matchAfterPrefix)
// with its single-scan plan: each expression takes the longest run of value
// bytes at the cursor, which makePlan made the only run that can be
// followed by the next literal. O(len(m)), no allocation.
func (t *Template) matchPlan(m string) bool {
	p := 0
	for _, st := range t.plan {
		if st.first == 0 || p < len(m) && m[p] == st.first {
			if st.first != 0 {
				p++
			}
			p = scanRun(m, p, st.class)
		}
		if !strings.HasPrefix(m[p:], st.lit) {
			return false
		}
		p += len(st.lit)
	}
	return p == len(m)
}

// scanRun returns the end of the run of bytes of class and percent-encoded
// triplets that starts at m[p].
func scanRun(m string, p int, class uint16) int {
	for p < len(m) {
		if byteClass[m[p]]&class != 0 {
			p++
		} else if pctAt(m, p) {
			p += 3
		} else {
			break
		}
	}
	return p
}

// threadSet is the set of instructions the VM is at, after some number of
// bytes: a bit per instruction, and for instructions of counted values the
// smallest character count among the threads there. A thread with a
// smaller count can do everything one with a larger count can, so keeping
// the minimum loses no match, and keeps the set at one entry per
// instruction.
type threadSet struct {
	bits  []uint64
	count []uint16 // valid where the bit is set
}

func (ts *threadSet) reset(n int) {
	words := (n + 63) / 64
	if cap(ts.bits) < words {
		ts.bits = make([]uint64, words)
		ts.count = make([]uint16, words*64)
	}
	ts.bits = ts.bits[:words]
	clear(ts.bits)
}

func (ts *threadSet) has(pc uint16) bool {
	return ts.bits[pc/64]&(1<<(pc%64)) != 0
}

// vm is the scratch space of one matchProg call.
type vm struct {
	cur, next threadSet
	stack     []thread // add's work list
}

// thread is a place in the program, with its character count.
type thread struct {
	pc, count uint16
}

// matchProg matches the middle of a template with its automaton, a Pike VM
// over the bytes of m: after each byte, the set of instructions some way of
// reading the bytes so far has reached. Each byte costs O(P) for a program
// of P instructions, so the whole match is O(len(m)·P), with no
// backtracking; adding a thread costs O(1) except where it lowers the count
// of a counted value's thread, which revisits the few empty transitions
// inside that value.
func (t *Template) matchProg(m string) bool {
	p := &t.prog
	n := len(p.insts)
	// Take the template's scratch space; a goroutine that finds it taken
	// matches with its own. Either way the space goes back for the next
	// call: steady use from one goroutine, a shard's, does not allocate.
	v := t.vm.Swap(nil)
	if v == nil {
		v = new(vm)
	}
	defer t.vm.Store(v)
	cur, next := &v.cur, &v.next
	cur.reset(n)
	next.reset(n)
	v.add(p, cur, thread{pc: p.entry})
	for i := 0; i < len(m); i++ {
		c := m[i]
		class := byteClass[c]
		alive := false
		for w, word := range cur.bits {
			for word != 0 {
				pc := uint16(w*64 + bits.TrailingZeros64(word))
				word &= word - 1
				in := &p.insts[pc]
				to := in.x
				switch in.op {
				case iByte:
					if c != in.b {
						continue
					}
				case iClass:
					if class&in.class == 0 {
						continue
					}
				case iRun:
					if class&in.class == 0 {
						if c != '%' {
							continue
						}
						to = in.y
					}
				default:
					continue
				}
				count := cur.count[pc]
				if in.inc {
					if count++; count > in.limit {
						continue
					}
				}
				v.add(p, next, thread{pc: to, count: count})
				alive = true
			}
		}
		if !alive {
			return false
		}
		cur, next = next, cur
		clear(next.bits)
	}
	return cur.has(matchPC)
}

// add adds th to ts, with the threads its empty transitions lead to.
// Outside counted values the count is meaningless and kept at 0, so that
// those instructions are added at most once per byte.
func (v *vm) add(p *prog, ts *threadSet, th thread) {
	stack := append(v.stack[:0], th)
	for len(stack) > 0 {
		th := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for {
			in := &p.insts[th.pc]
			if !in.counted {
				th.count = 0
			}
			w, bit := th.pc/64, uint64(1)<<(th.pc%64)
			if ts.bits[w]&bit != 0 {
				if th.count >= ts.count[th.pc] {
					break
				}
			} else {
				ts.bits[w] |= bit
			}
			ts.count[th.pc] = th.count
			switch in.op {
			case iSplit:
				stack = append(stack, thread{pc: in.y, count: th.count})
				th.pc = in.x
				continue
			case iReset:
				th.pc, th.count = in.x, 0
				continue
			case iRun:
				if in.z != noPC {
					th.pc = in.z
					continue
				}
			}
			break
		}
	}
	v.stack = stack
}
