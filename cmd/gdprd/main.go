// Command gdprd is the GDPR back office of an online service. See
// `gdprd help` and the README.
package main

import (
	"context"
	"os"

	"github.com/gdprd/gdprd/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.Env{}))
}
