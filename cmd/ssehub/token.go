package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ssehub/ssehub/transport/auth"
)

// runToken is `ssehub token`: it mints an HS256 token for development and
// tests, signed with --jwt-secret (or SSEHUB_JWT_SECRET), and prints it.
func runToken(args []string, p procIO) int {
	fs := flag.NewFlagSet("ssehub token", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	secret, _ := p.lookupEnv(envName("jwt-secret"))
	fs.StringVar(&secret, "jwt-secret", secret, "HS256 secret, as given to the hub (env "+envName("jwt-secret")+")")
	sub := fs.String("sub", "", "subject: the user, who also gets the private topic user/<sub>")
	subscribe := fs.String("subscribe", "", "comma-separated topics and patterns the token may subscribe to")
	publish := fs.String("publish", "", "comma-separated topics and patterns the token may publish to")
	ttl := fs.Duration("ttl", auth.DefaultMintTTL, "how long the token is valid")
	issuer := fs.String("iss", "", "iss claim")
	audience := fs.String("aud", "", "aud claim")
	rest, err := parseFlags(fs, args)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprintf(p.stdout, "Usage: ssehub token [flags]\n\nMints a development token signed with the hub's HS256 secret.\n\nFlags:\n")
		fs.VisitAll(func(fl *flag.Flag) {
			typ, usage := flag.UnquoteUsage(fl)
			fmt.Fprintf(p.stdout, "  --%s %s\n    \t%s (default %q)\n", fl.Name, typ, usage, fl.DefValue)
		})
		return 0
	case errors.Is(err, errVersion):
		fmt.Fprintln(p.stdout, versionLine())
		return 0
	case err == nil && len(rest) > 0:
		err = fmt.Errorf("unexpected argument %q", rest[0])
	case err == nil && *ttl <= 0:
		err = fmt.Errorf("--ttl: must be positive, got %s", *ttl)
	case err == nil && secret == "":
		err = errors.New("--jwt-secret (or SSEHUB_JWT_SECRET) is required")
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(p.stderr, "ssehub token: %s\n", line)
		}
		fmt.Fprintln(p.stderr, "Run 'ssehub token --help' for its flags.")
		return 2
	}
	tok, err := auth.Mint(auth.KeyConfig{Algorithm: auth.HS256, Secret: secret}, auth.MintClaims{
		Subject:   *sub,
		Subscribe: splitList(*subscribe),
		Publish:   splitList(*publish),
		TTL:       *ttl,
		Issuer:    *issuer,
		Audience:  *audience,
	})
	if err != nil {
		fmt.Fprintf(p.stderr, "ssehub token: %v\n", err)
		return 2
	}
	fmt.Fprintln(p.stdout, tok)
	return 0
}

// splitList splits a comma-separated list, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
