// Command printversion prints version.String(), for TestStampedBinary,
// which builds it with -ldflags -X as `make release` builds ssehub.
package main

import (
	"fmt"

	"github.com/ssehub/ssehub/internal/version"
)

func main() {
	fmt.Println(version.String())
}
