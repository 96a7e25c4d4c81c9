// A look-alike of traefik/whoami v1.10.3, the sticky backend of the project's examples.
//
// Why not the real one: github.com/traefik/whoami is not served by the Go module proxy reachable here, so
// the image named traefik/whoami:v1.10.3 is built from this file instead (standard library only). It
// answers like whoami where the examples and tests look, and like the project's own sticky backend
// (test/harness/sticky-backend.ts) where they depend on more:
//
//   - GET /        "Name:" (with --name), "Hostname:", one "IP:" per address, "RemoteAddr:", then the
//     request as received;
//   - GET /api     the same as JSON;
//   - GET /health  the current health status code; POST /health with a status code as the body sets it
//     (to fail a readiness probe on purpose);
//   - GET /bench   "1";  GET /data?size=N&unit=kb|mb|gb  N units of filler;
//   - every answer carries X-Served-By: <hostname>, which the project's tests read (whoami does not send
//     it);
//   - flags --port (default 80, or $WHOAMI_PORT_NUMBER), --name ($WHOAMI_NAME), --verbose, --cert/--key
//     (HTTPS); SIGTERM stops accepting, lets requests in flight finish and exits 0.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	port    = flag.String("port", envOr("WHOAMI_PORT_NUMBER", "80"), "port to listen on")
	name    = flag.String("name", os.Getenv("WHOAMI_NAME"), "a name to include in answers")
	verbose = flag.Bool("verbose", false, "log every request")
	cert    = flag.String("cert", "", "TLS certificate file (with --key: serve HTTPS)")
	key     = flag.String("key", "", "TLS key file")

	health atomic.Int64
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

func ips() []string {
	var out []string
	ifaces, _ := net.Interfaces()
	for _, i := range ifaces {
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				out = append(out, n.IP.String())
			}
		}
	}
	return out
}

func whoami(w http.ResponseWriter, r *http.Request) {
	if d, err := time.ParseDuration(r.URL.Query().Get("wait")); err == nil {
		time.Sleep(d)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if *name != "" {
		fmt.Fprintln(w, "Name:", *name)
	}
	fmt.Fprintln(w, "Hostname:", hostname())
	for _, ip := range ips() {
		fmt.Fprintln(w, "IP:", ip)
	}
	fmt.Fprintln(w, "RemoteAddr:", r.RemoteAddr)
	_ = r.Write(w)
}

func api(w http.ResponseWriter, r *http.Request) {
	answer := map[string]any{
		"hostname": hostname(), "ip": ips(), "headers": r.Header, "url": r.URL.RequestURI(),
		"host": r.Host, "method": r.Method, "remoteAddr": r.RemoteAddr,
	}
	if *name != "" {
		answer["name"] = *name
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer)
}

func healthHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64))
		code, err := strconv.Atoi(strings.TrimSpace(string(body)))
		if err != nil || code < 100 || code > 599 {
			http.Error(w, "the body must be an HTTP status code", http.StatusBadRequest)
			return
		}
		health.Store(int64(code))
		log.Printf("health status code set to %d", code)
		return
	}
	w.WriteHeader(int(health.Load()))
}

func data(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size, err := strconv.ParseInt(q.Get("size"), 10, 64)
	if err != nil || size < 0 {
		size = 1
	}
	switch strings.ToLower(q.Get("unit")) {
	case "kb":
		size <<= 10
	case "mb":
		size <<= 20
	case "gb":
		size <<= 30
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	chunk := []byte(strings.Repeat("|ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 1024))
	for size > 0 {
		n := min(size, int64(len(chunk)))
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		size -= n
	}
}

func main() {
	flag.Parse()
	health.Store(http.StatusOK)
	self := hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/api", api)
	mux.HandleFunc("/health", healthHandler)
	mux.HandleFunc("/bench", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "1") })
	mux.HandleFunc("/data", data)
	mux.HandleFunc("/", whoami)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", self)
		mux.ServeHTTP(w, r)
		if *verbose {
			log.Printf("%s %s %s %s", r.RemoteAddr, r.Method, r.URL.Path, r.Proto)
		}
	})
	srv := &http.Server{Addr: ":" + *port, Handler: handler, ReadHeaderTimeout: 10 * time.Second}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		<-stop
		log.Printf("stopping: finishing requests in flight")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		close(done)
	}()

	log.Printf("Starting up on port %s", *port)
	var err error
	if *cert != "" && *key != "" {
		err = srv.ListenAndServeTLS(*cert, *key)
	} else {
		err = srv.ListenAndServe()
	}
	if !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	<-done
}
