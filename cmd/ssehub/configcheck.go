package main

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/BurntSushi/toml"
)

// runConfig runs `ssehub config check FILE [flags]`: it loads the
// configuration as `ssehub --config FILE [flags]` would in this environment,
// runs the same checks start runs, and prints the effective configuration,
// or every problem with it. It returns the exit code: 0 valid, 1 invalid,
// 2 a usage error.
func runConfig(args []string, p procIO) int {
	const usage = "Usage: ssehub config check FILE [flags]\n\n" +
		"Checks the configuration file FILE, with the SSEHUB_* environment and the flags given, as start\n" +
		"would, and prints the configuration in effect (secrets redacted)."
	switch {
	case len(args) > 0 && isHelp(args[0]), len(args) > 1 && args[0] == "check" && isHelp(args[1]):
		fmt.Fprintln(p.stdout, usage)
		return 0
	case len(args) == 0 || args[0] != "check":
		fmt.Fprintf(p.stderr, "ssehub config: want the subcommand check\n%s\n", usage)
		return 2
	case len(args) < 2 || strings.HasPrefix(args[1], "-"):
		fmt.Fprintf(p.stderr, "ssehub config check: missing FILE, the configuration file to check\n%s\n", usage)
		return 2
	}
	file := args[1]
	cfg, src, err := loadConfig(append([]string{"--config", file}, args[2:]...), p.lookupEnv, p.stdout)
	for _, w := range unknownEnv(p.environ) {
		fmt.Fprintf(p.stderr, "warning: %s\n", w)
	}
	if answered(err, p) {
		return 0
	}
	if err != nil {
		reportInvalid(p.stderr, "ssehub config check "+file, err)
		return 1
	}
	if err := writeConfig(p.stdout, cfg, src); err != nil {
		fmt.Fprintf(p.stderr, "ssehub config check: %v\n", err)
		return 1
	}
	return 0
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

// writeConfig writes cfg as a configuration file, each key with where its
// value came from. Secrets are redacted.
func writeConfig(w io.Writer, cfg Config, src sources) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "# ssehub effective configuration; precedence: flags > SSEHUB_* environment > file > defaults")
	v := reflect.ValueOf(cfg)
	for i, f := range configFields() {
		name := f.Tag.Get("flag")
		if f.Tag.Get("file") == "-" {
			continue
		}
		val := v.Field(i).Interface()
		if d, ok := val.(time.Duration); ok {
			val = d.String()
		}
		if f.Tag.Get("secret") != "" && val != "" {
			val = "(redacted)"
		}
		// One key at a time, so that they keep Config's order.
		line, err := toml.Marshal(map[string]any{name: val})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		from := strings.TrimSuffix(cmp.Or(src[name], "default"), ": "+name)
		fmt.Fprintf(tw, "%s\t# %s\n", bytes.TrimSuffix(line, []byte("\n")), from)
	}
	return tw.Flush()
}
