package main

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"time"

	"github.com/BurntSushi/toml"
)

// The configuration file is TOML with one top-level key per flag, named as
// the flag, and a value of the flag's type: a string, an integer, a boolean,
// or a duration as a string ("15s"):
//
//	listen = ":8080"
//	redis-url = "redis://10.0.0.5:6379/0"
//	heartbeat = "20s"
//	history-size = 5000
//
// Each value is set through its flag, as an environment variable's is, so
// the file, the environment and the flags share one parser per field.

// sources says where a configuration value came from, by flag name: "--NAME"
// for a flag, "SSEHUB_NAME" for the environment, "FILE: NAME" for the
// configuration file. A name not in it has its default.
type sources map[string]string

// label names the setting of flag name for an error message: as the user
// wrote it, and always with the flag's name.
func (s sources) label(name string) string {
	switch from := s[name]; from {
	case "", "--" + name:
		return "--" + name
	case envName(name):
		return from + " (--" + name + ")"
	default:
		return from
	}
}

// applyFile sets the flags of fs named by the keys of the TOML file at path,
// and records them in src. Unknown keys, values of the wrong type and values
// the flag refuses are errors naming the key; all of them are reported.
func applyFile(fs *flag.FlagSet, path string, src sources) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var values map[string]any
	if _, err := toml.Decode(string(data), &values); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(values)) {
		if err := setFromFile(fs, key, values[key]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		src[key] = path + ": " + key
	}
	return errors.Join(errs...)
}

// fileKeys are the flags that the file may set: all but those whose field
// is tagged file:"-".
var fileKeys = func() map[string]bool {
	keys := map[string]bool{}
	for _, f := range configFields() {
		if f.Tag.Get("file") != "-" {
			keys[f.Tag.Get("flag")] = true
		}
	}
	return keys
}()

// setFromFile sets the flag key to the TOML value v.
func setFromFile(fs *flag.FlagSet, key string, v any) error {
	fl := fs.Lookup(key)
	if fl == nil || !fileKeys[key] {
		if fl != nil {
			return fmt.Errorf("key %q cannot be set in a configuration file", key)
		}
		return fmt.Errorf("unknown key %q", key)
	}
	var text string
	ok := false
	switch fl.Value.(flag.Getter).Get().(type) {
	case string:
		text, ok = v.(string)
	case time.Duration:
		text, ok = v.(string)
		if !ok {
			return fmt.Errorf("%s: want a duration string such as \"15s\", got %s", key, describeTOML(v))
		}
	case int:
		var n int64
		n, ok = v.(int64)
		text = fmt.Sprint(n)
	case bool:
		var b bool
		b, ok = v.(bool)
		text = fmt.Sprint(b)
	}
	if !ok {
		return fmt.Errorf("%s: want %s, got %s", key, flagKind(fl), describeTOML(v))
	}
	if err := setFlag(fl, text); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// flagKind says what value a flag takes, as TOML calls it.
func flagKind(fl *flag.Flag) string {
	switch fl.Value.(flag.Getter).Get().(type) {
	case int:
		return "an integer"
	case bool:
		return "a boolean (true or false)"
	default:
		return "a string"
	}
}

// describeTOML names a decoded TOML value's type, with the value if short.
func describeTOML(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("string %q", v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %v", v)
	case time.Time:
		return "datetime " + v.Format(time.RFC3339)
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// configFields returns the fields of Config, in order.
func configFields() []reflect.StructField {
	typ := reflect.TypeFor[Config]()
	fields := make([]reflect.StructField, typ.NumField())
	for i := range fields {
		fields[i] = typ.Field(i)
	}
	return fields
}
