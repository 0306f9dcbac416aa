package uritemplate

// Byte classes, as bits of byteClass, for the characters a value may hold
// unencoded (RFC 3986 section 2) and for the digits of percent-encoded
// triplets.
const (
	clsUnreserved = 1 << iota // A-Z a-z 0-9 - . _ ~
	clsReserved               // : / ? # [ ] @ ! $ & ' ( ) * + , ; =
	clsComma                  // , which joins list members in {var}
	clsHex                    // 0-9 A-F a-f
	clsHexASCII               // 0-7: the low digit after F in a 4-byte lead (F0-F7)
	clsHexLead2               // C D: the high digit of the lead of a 2-byte UTF-8 sequence
	clsHexLead3               // E: ... of a 3-byte sequence
	clsHexLead4               // F: ... of a 4-byte sequence
	clsHexCont                // 8 9 A B: ... of a continuation byte
)

var byteClass = func() (t [256]uint16) {
	set := func(chars string, cls uint16) {
		for i := 0; i < len(chars); i++ {
			t[chars[i]] |= cls
		}
	}
	set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~", clsUnreserved)
	set(":/?#[]@!$&'()*+,;=", clsReserved)
	set(",", clsComma)
	set("0123456789ABCDEFabcdef", clsHex)
	set("01234567", clsHexASCII)
	set("CDcd", clsHexLead2)
	set("Ee", clsHexLead3)
	set("Ff", clsHexLead4)
	set("89ABab", clsHexCont)
	return t
}()

// valueClass returns the bytes a value of the operator may hold unencoded.
func (info opInfo) valueClass() uint16 {
	if info.reserved {
		return clsUnreserved | clsReserved
	}
	return clsUnreserved
}

// A planStep is one expression of a template matched by a single scan,
// and the literal after it.
type planStep struct {
	// first is the operator's prefix character, 0 for none. The
	// expression matches the empty string, or first followed by any run
	// of value bytes.
	first byte
	// class is the bytes the run may hold unencoded; percent-encoded
	// triplets may appear too.
	class uint16
	// lit is the literal that follows the expression: never empty, and
	// never starting with first, "%" or a byte of class, so that the run
	// must stop exactly where lit starts. It is "" for the last step,
	// whose run must reach the end.
	lit string
}

// compile prepares t for Match: the plan if every expression in the middle
// of the template fits a single scan, the automaton otherwise.
func (t *Template) compile() {
	for _, l := range t.lits {
		t.minLen += len(l)
	}
	if len(t.exprs) == 0 {
		return
	}
	if t.plan = t.makePlan(); t.plan == nil {
		t.prog = compileProg(t)
	}
}

// makePlan returns the single-scan plan for t, or nil if t has an
// expression whose extent the next byte does not decide. The middle of t
// (the template less its first and last literal, which Match compares
// first) must alternate expressions of the form ε | first·run with
// literals that cannot continue the run.
func (t *Template) makePlan() []planStep {
	plan := make([]planStep, len(t.exprs))
	for i, e := range t.exprs {
		st, ok := scannable(e)
		if !ok {
			return nil
		}
		if i < len(t.exprs)-1 {
			lit := t.lits[i+1]
			if lit == "" || lit[0] == '%' || lit[0] == st.first || byteClass[lit[0]]&st.class != 0 {
				return nil
			}
			st.lit = lit
		}
		plan[i] = st
	}
	return plan
}

// scannable reports whether e's expansions are exactly the empty string
// and first followed by any run of value bytes, and which first and bytes.
func scannable(e expression) (planStep, bool) {
	info := opInfos[e.op]
	for _, v := range e.vars {
		if v.prefix > 0 {
			return planStep{}, false
		}
		// Exploding an associative array writes key=value members, with
		// "=" outside the class of U-only operators.
		if v.explode && !info.reserved {
			return planStep{}, false
		}
	}
	switch e.op {
	case opSimple, opLabel:
		// Lists are joined with ","; {.a,b} joins variables with ".",
		// which is unreserved, so any number of them is one run.
		return planStep{first: info.first, class: clsUnreserved | clsComma}, true
	case opReserved, opFragment:
		// "," joins members and variables, and is reserved.
		return planStep{first: info.first, class: clsUnreserved | clsReserved}, true
	case opPath:
		// "/" joins variables and is not a value byte: one variable only.
		if len(e.vars) == 1 {
			return planStep{first: info.first, class: clsUnreserved | clsComma}, true
		}
	}
	return planStep{}, false
}

// The automaton is a program in the style of Thompson's construction, run
// by a Pike VM (match.go): each instruction either consumes one byte or is
// an empty transition.
type instOp uint8

const (
	iMatch instOp = iota // the whole middle has been read
	iByte                // consume the byte b, then go to x
	iClass               // consume a byte of the classes in class, then go to x
	// iRun reads an uncounted value one unit at a time: a byte of class
	// goes to x, "%" to y (the triplet's two hex digits, which return to
	// x). Unless z is noPC, the value may also end here and continue at
	// z without consuming.
	iRun
	iSplit // continue at both x and y
	iReset // set the counter to 0 and continue at x
)

// inst is one instruction. A prefix modifier ({var:3}) limits a value to a
// number of characters, which the VM counts with one counter per thread:
// instructions of a counted value have counted set, and consuming ones
// that complete a character have inc set and fail a thread whose count
// would pass limit.
type inst struct {
	op      instOp
	counted bool
	inc     bool
	b       byte
	class   uint16
	limit   uint16
	x, y, z uint16
}

// noPC marks a missing instruction address while building.
const noPC = 1<<16 - 1

// prog is a compiled automaton for the middle of a template.
type prog struct {
	insts []inst
	entry uint16
}

const matchPC = 0 // the iMatch instruction, emitted first

// builder emits a program back to front: each piece is compiled knowing the
// address of what follows it, and returns its own entry address.
type builder struct {
	insts []inst
}

func (b *builder) emit(in inst) uint16 {
	b.insts = append(b.insts, in)
	if len(b.insts) >= noPC {
		// Parse's limits keep programs to a few thousand instructions.
		panic("uritemplate: program too large")
	}
	return uint16(len(b.insts) - 1)
}

func (b *builder) char(c byte, next uint16) uint16 {
	return b.emit(inst{op: iByte, b: c, x: next})
}

func (b *builder) split(x, y uint16) uint16 {
	return b.emit(inst{op: iSplit, x: x, y: y})
}

func (b *builder) literal(s string, next uint16) uint16 {
	for i := len(s) - 1; i >= 0; i-- {
		next = b.char(s[i], next)
	}
	return next
}

func compileProg(t *Template) prog {
	b := &builder{}
	next := b.emit(inst{op: iMatch})
	for i := len(t.exprs) - 1; i >= 0; i-- {
		next = b.expression(t.exprs[i], next)
		if i > 0 {
			next = b.literal(t.lits[i], next)
		}
	}
	return prog{insts: b.insts, entry: next}
}

// expression compiles e (RFC 6570 section 3.2.1): nothing if no variable
// is defined, else first, then the items of the defined variables, in
// template order, joined with sep.
func (b *builder) expression(e expression, next uint16) uint16 {
	info := opInfos[e.op]
	// choose is the address from which any variable at index i or later
	// may come next: choose_i = split(item_i, choose_i+1).
	choose := uint16(noPC)
	for i := len(e.vars) - 1; i >= 0; i-- {
		after := next
		if choose != noPC {
			after = b.split(next, b.char(info.sep, choose))
		}
		item := b.item(info, e.vars[i], after)
		if choose == noPC {
			choose = item
		} else {
			choose = b.split(item, choose)
		}
	}
	body := choose
	if info.first != 0 {
		body = b.char(info.first, body)
	}
	return b.split(next, body)
}

// item compiles the expansion of one defined variable v: a string, a list
// or an associative array, as RFC 6570 appendix A writes each.
func (b *builder) item(info opInfo, v varspec, next uint16) uint16 {
	class := info.valueClass()
	if !info.named {
		switch {
		case v.prefix > 0:
			// Prefix modifiers apply to strings only (section 2.4.1).
			return b.value(class, v.prefix, false, next)
		case !v.explode:
			// A string; list members or key,value pairs joined by ",".
			return b.value(class|clsComma, 0, false, next)
		case info.reserved:
			// Exploded members are joined with ",", and key=value
			// pairs use "=": both reserved, so one value covers them.
			return b.value(class, 0, false, next)
		}
		list := b.repeat(info.sep, next, func(next uint16) uint16 {
			return b.value(class, 0, false, next)
		})
		assoc := b.repeat(info.sep, next, func(next uint16) uint16 {
			value := b.value(class, 0, false, next)
			return b.value(class, 0, true, b.char('=', value))
		})
		return b.split(list, assoc)
	}

	switch {
	case v.prefix > 0:
		return b.literal(v.name, b.namedValue(info, class, v.prefix, next))
	case !v.explode:
		return b.literal(v.name, b.namedValue(info, class|clsComma, 0, next))
	}
	// Exploded: name=member for each list member, key=value for each
	// pair; the keys of an associative array replace the name, so any
	// non-empty key matches (section 3.2.1).
	return b.repeat(info.sep, next, func(next uint16) uint16 {
		return b.value(class, 0, true, b.namedValue(info, class, 0, next))
	})
}

// namedValue compiles what follows a name in a named expansion: "=" and
// the value, which ; writes as nothing at all when it is empty, and ? and
// & as "=" alone.
func (b *builder) namedValue(info opInfo, class uint16, limit int, next uint16) uint16 {
	if info.ifemp {
		return b.char('=', b.value(class, limit, false, next))
	}
	return b.split(next, b.char('=', b.value(class, limit, true, next)))
}

// repeat compiles one or more items joined with sep: item (sep item)*.
func (b *builder) repeat(sep byte, next uint16, item func(next uint16) uint16) uint16 {
	after := b.split(next, noPC)
	entry := item(after)
	b.insts[after].y = b.char(sep, entry)
	return entry
}

// value compiles an encoded value: bytes of class and percent-encoded
// triplets; at least one of them if nonEmpty; at most limit characters if
// limit > 0.
func (b *builder) value(class uint16, limit int, nonEmpty bool, next uint16) uint16 {
	if limit > 0 {
		return b.countedValue(class, uint16(limit), nonEmpty, next)
	}
	// run is the value between two units: it may end, or read one more.
	run := b.emit(inst{op: iRun, class: class, z: next})
	hex1 := b.emit(inst{op: iClass, class: clsHex, x: b.emit(inst{op: iClass, class: clsHex, x: run})})
	b.insts[run].x, b.insts[run].y = run, hex1
	if nonEmpty {
		// The first unit, which may not be the end.
		return b.emit(inst{op: iRun, class: class, x: run, y: hex1, z: noPC})
	}
	return run
}

// countedValue is value with a limit, counted in characters of the
// decoded value (RFC 6570 section 2.4.1): a byte of class is one
// character, and so is a percent-encoded UTF-8 sequence (a lead byte and
// its continuation bytes). Any other triplet counts as one character too:
// {+var} passes triplets in the value through unencoded, and the three
// characters of one then count as one here, which errs towards matching.
func (b *builder) countedValue(class, limit uint16, nonEmpty bool, next uint16) uint16 {
	emit := func(in inst) uint16 {
		in.counted = true
		in.limit = limit
		return b.emit(in)
	}
	hex := func(class uint16, inc bool, next uint16) uint16 {
		return emit(inst{op: iClass, class: class, inc: inc, x: next})
	}
	pct := func(next uint16) uint16 { return emit(inst{op: iByte, b: '%', x: next}) }
	split := func(x, y uint16) uint16 { return emit(inst{op: iSplit, x: x, y: y}) }

	boundary := split(noPC, next) // between two characters: stop, or read one more
	raw := hex(class, true, boundary)
	// need[k] reads the k continuation triplets still owed, then returns
	// to boundary.
	need := [4]uint16{boundary}
	for k := 1; k <= 3; k++ {
		need[k] = pct(hex(clsHexCont, false, hex(clsHex, false, need[k-1])))
	}
	// After "%": any triplet, or the lead of a sequence, whose high digit
	// says how many continuation triplets follow. The low digit of the
	// first triplet completes the count.
	single := hex(clsHex, false, hex(clsHex, true, boundary))
	lead2 := hex(clsHexLead2, false, hex(clsHex, true, need[1]))
	lead3 := hex(clsHexLead3, false, hex(clsHex, true, need[2]))
	lead4 := hex(clsHexLead4, false, hex(clsHexASCII, true, need[3])) // F0-F7
	afterPct := split(single, split(lead2, split(lead3, lead4)))
	unit := split(raw, pct(afterPct))
	b.insts[boundary].x = unit
	entry := boundary
	if nonEmpty {
		entry = unit
	}
	return emit(inst{op: iReset, x: entry})
}
