// Command mayfly is the Mayfly portal: on-demand ephemeral environments.
//
//	mayfly [serve] [flags]   run the portal (default)
//	mayfly migrate [flags]   apply database migrations and exit
//	mayfly sample-app ...    the sample shop the sample catalog runs
//	mayfly probe URL         exit 0 if URL answers 2xx (container healthchecks)
//	mayfly env ...           the command line client: launch, get, list, ...
//	mayfly template ...      publish a template version
//	mayfly version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mayflyhq/mayfly/catalog/shop"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, getenv, stderr)
	case "migrate":
		return migrateCmd(args, getenv, stdout, stderr)
	case "sample-app":
		return shop.Main(args, stdout, stderr)
	case "probe":
		return probe(args, stdout, stderr)
	case "env":
		return envCmd(args, getenv, stdout, stderr)
	case "template":
		return templateCmd(args, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "mayfly", version)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "mayfly: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  mayfly [serve] [flags]   run the portal (default; see "mayfly serve -h" for flags)
  mayfly migrate [flags]   apply database migrations and exit
  mayfly sample-app ...    run the sample shop used by the sample catalog
  mayfly env COMMAND       the command line client: launch, get, list, extend, destroy,
                           logs, events (see "mayfly env help"; MAYFLY_URL, MAYFLY_TOKEN)
  mayfly template publish FILE   publish a template version
  mayfly probe URL         exit 0 if URL answers 2xx (healthchecks in the distroless image)
  mayfly version           print the version
`)
}

func serve(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := ParseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "mayfly:", err)
		return 2
	}
	// Before anything else runs: stack processes (and anyone else on the
	// host) must not find the secrets in this process's /proc files.
	hideErr := hideSecrets(&cfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain(cfg)
	if hideErr != nil {
		m.Log.Warn("could not hide every secret from other processes", "err", hideErr)
	}
	if err := m.Run(ctx); err != nil {
		m.Log.Error("start failed", "err", err)
		fmt.Fprintln(stderr, "mayfly:", err)
		m.Close()
		return 1
	}
	m.Log.Info("Mayfly is running", "url", m.URL(), "data_dir", cfg.DataDir)
	<-ctx.Done()
	m.Log.Info("shutting down")
	if err := m.Close(); err != nil {
		m.Log.Error("shutdown", "err", err)
		return 1
	}
	return 0
}

func migrateCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := ParseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "mayfly:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m := NewMain(cfg)
	defer m.Close()
	if err := m.openDatabase(ctx); err != nil {
		fmt.Fprintln(stderr, "mayfly:", err)
		return 1
	}
	fmt.Fprintln(stdout, "migrations applied")
	return 0
}
