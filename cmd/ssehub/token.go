package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ssehub/ssehub/transport/auth"
)

// runToken is `ssehub token`: it mints an HS256 token for development and
// tests, signed with --jwt-secret (or SSEHUB_JWT_SECRET), and prints it.
func runToken(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ssehub token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret, _ := lookupEnv(envName("jwt-secret"))
	fs.StringVar(&secret, "jwt-secret", secret, "HS256 secret, as given to the hub (env "+envName("jwt-secret")+")")
	sub := fs.String("sub", "", "subject: the user, who also gets the private topic user/<sub>")
	subscribe := fs.String("subscribe", "", "comma-separated topics and patterns the token may subscribe to")
	publish := fs.String("publish", "", "comma-separated topics and patterns the token may publish to")
	ttl := fs.Duration("ttl", auth.DefaultMintTTL, "how long the token is valid")
	issuer := fs.String("iss", "", "iss claim")
	audience := fs.String("aud", "", "aud claim")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ssehub token [flags]\n\nMints a development token signed with the hub's HS256 secret.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if secret == "" {
		fmt.Fprintln(stderr, "ssehub token: --jwt-secret (or SSEHUB_JWT_SECRET) is required")
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
		fmt.Fprintf(stderr, "ssehub token: %v\n", err)
		return 2
	}
	fmt.Fprintln(stdout, tok)
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
