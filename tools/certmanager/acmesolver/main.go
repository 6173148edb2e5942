/*
Copyright 2020 The cert-manager Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command acmesolver answers one ACME HTTP-01 challenge: the program the solver pods
// cert-manager's controller creates run, with --listen-port, --domain, --token and
// --key. Adapted from cert-manager cmd/acmesolver (main.go and app/app.go, v1.21),
// whose nested module the Go module proxy does not serve; the HTTP handler is the main
// module's pkg/issuer/acme/http/solver.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/component-base/logs"

	"github.com/cert-manager/cert-manager/pkg/issuer/acme/http/solver"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	logf.InitLogs()
	defer logf.FlushLogs()
	ctx = logf.NewContext(ctx, logf.Log, "acmesolver")
	log := logf.FromContext(ctx)

	s := new(solver.HTTP01Solver)
	logOptions := logs.NewOptions()
	fs := pflag.NewFlagSet("acmesolver", pflag.ContinueOnError)
	fs.IntVar(&s.ListenPort, "listen-port", 8089, "the port number to listen on for connections")
	fs.StringVar(&s.Domain, "domain", "", "the domain name to verify")
	fs.StringVar(&s.Token, "token", "", "the challenge token to verify against")
	fs.StringVar(&s.Key, "key", "", "the challenge key to respond with")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == pflag.ErrHelp {
			return
		}
		os.Exit(2)
	}
	if err := logf.ValidateAndApply(logOptions); err != nil {
		fmt.Fprintf(os.Stderr, "error validating options: %v\n", err)
		os.Exit(2)
	}

	completed := make(chan struct{})
	go func() {
		defer close(completed)
		<-ctx.Done()
		// allow a timeout for graceful shutdown
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(shutdownCtx); err != nil {
			log.Error(err, "error shutting down acmesolver server")
		}
	}()

	if err := s.Listen(log); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error(err, "error executing command")
		logf.FlushLogs()
		os.Exit(1)
	}
	<-completed
}
