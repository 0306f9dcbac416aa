package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// errVersion is returned by parseConfig when --version was asked for.
var errVersion = errors.New("version requested")

// parseFlags sets the flags of fs from args as the flag package would
// (--name value, --name=value, one dash or two, a bool flag without a
// value meaning true, "--" or the first non-flag argument ending the
// flags), but it carries on past a bad flag, so that every problem is
// reported at once, and prints nothing: the caller says how to get help.
// It returns the arguments after the flags, errHelp for -h or --help and
// errVersion for --version.
func parseFlags(fs *flag.FlagSet, args []string) (rest []string, err error) {
	var errs []error
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return args[i+1:], errors.Join(errs...)
		}
		if len(arg) < 2 || arg[0] != '-' {
			return args[i:], errors.Join(errs...)
		}
		name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
		value, hasValue := "", false
		if at := strings.IndexByte(name, '='); at >= 0 {
			name, value, hasValue = name[:at], name[at+1:], true
		}
		switch {
		case (name == "h" || name == "help") && !isFalse(value, hasValue):
			return nil, errHelp
		case name == "version" && !isFalse(value, hasValue):
			return nil, errVersion
		case name == "h" || name == "help" || name == "version":
			continue // --help=false asks for nothing
		}
		fl := fs.Lookup(name)
		if fl == nil || name == "" || name[0] == '-' {
			errs = append(errs, fmt.Errorf("unknown flag %s%s", arg, suggest(fs, name)))
			// Its value, most likely: not worth a second complaint.
			if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
			}
			continue
		}
		if !hasValue {
			if isBool(fl) {
				value, hasValue = "true", true
			} else if i+1 < len(args) {
				i++
				value, hasValue = args[i], true
			}
		}
		if !hasValue {
			errs = append(errs, fmt.Errorf("--%s needs a value (%s)", name, example(fl)))
			continue
		}
		if err := setFlag(fl, value); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", name, err))
			continue
		}
		_ = fs.Set(name, value) // valid now; recorded for fs.Visit
	}
	return nil, errors.Join(errs...)
}

// setFlag sets fl to value, or leaves it as it was and explains why value
// does not suit it. (The flag package's own Set zeroes a duration or a
// number it cannot parse, and the zero would then fail validation too,
// reporting one mistake twice.)
func setFlag(fl *flag.Flag, value string) error {
	was := fl.Value.String()
	if err := fl.Value.Set(value); err != nil {
		_ = fl.Value.Set(was)
		return valueError(fl, value)
	}
	return nil
}

// isFalse reports whether a flag was given the value false.
func isFalse(value string, given bool) bool {
	b, err := strconv.ParseBool(value)
	return given && err == nil && !b
}

// isBool reports whether fl is a boolean flag, which takes no value.
func isBool(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// valueError explains why value does not suit fl, with an example of one
// that does.
func valueError(fl *flag.Flag, value string) error {
	return fmt.Errorf("invalid value %q: want %s", value, example(fl))
}

// example describes the values fl takes, with an example.
func example(fl *flag.Flag) string {
	switch fl.Value.(flag.Getter).Get().(type) {
	case time.Duration:
		return "a duration with its unit, such as 15s, 500ms or 2m"
	case bool:
		return "true or false"
	case int:
		if sizeFlags[fl.Name] {
			return "a whole number of bytes, such as 1048576 for 1 MiB"
		}
		return "a whole number, such as " + fl.DefValue
	}
	return "a string"
}

// sizeFlags are the integer flags that count bytes (tagged unit:"bytes"),
// for their examples.
var sizeFlags = func() map[string]bool {
	sizes := map[string]bool{}
	for _, f := range configFields() {
		if f.Tag.Get("unit") == "bytes" {
			sizes[f.Tag.Get("flag")] = true
		}
	}
	return sizes
}()

// suggest returns " (did you mean --NAME?)" for the flag of fs closest to
// name, if one is close enough to be a likely typo; otherwise "".
func suggest(fs *flag.FlagSet, name string) string {
	if best := closest(name, flagNames(fs)); best != "" {
		return " (did you mean --" + best + "?)"
	}
	return "; run 'ssehub --help' for every flag"
}

// flagNames lists the names of fs's flags.
func flagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(fl *flag.Flag) { names = append(names, fl.Name) })
	return names
}

// closest returns the name among names nearest to s by edit distance, if
// it is at most a third of s's length (at least 1) away; otherwise "".
func closest(s string, names []string) string {
	best, bestDist := "", max(len(s)/3, 1)+1
	for _, n := range names {
		if d := editDistance(s, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
