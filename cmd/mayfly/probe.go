package main

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// probe is `mayfly probe URL`: GET the URL and exit 0 on a 2xx answer, 1
// otherwise. The container image is distroless (no shell, curl or wget), so
// a Docker or Compose healthcheck runs the binary itself against /readyz.
func probe(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: mayfly probe URL (e.g. http://127.0.0.1:8080/readyz)")
		return 2
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "mayfly probe:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(stderr, "mayfly probe: %s: %s %s\n", args[0], resp.Status, body)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", body)
	return 0
}
