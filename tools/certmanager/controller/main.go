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

// Command controller is cert-manager's controller, for storefleet's local clusters:
// the module proxy serves cert-manager v1.21's main module but not its nested
// cmd/controller module, so this is our own main over the main module's packages,
// adapted from cert-manager cmd/controller/app (main.go, start.go, controller.go and
// the defaults of internal/apis/config/controller/v1alpha1).
//
// It runs the controllers that issue certificates from ACME, CA and self-signed
// issuers (see enabledControllers); Vault, Venafi, the Gateway API shim and the
// CertificateSigningRequest controllers are left out, as are the webhook and
// cainjector, so nothing defaults or validates resources server-side.
//
// Flags keep upstream's names where upstream has them; the options a test sets are
// --kubeconfig, --cluster-resource-namespace and --acme-http01-solver-image.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"

	cm "github.com/cert-manager/cert-manager/pkg/apis/certmanager"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
)

// options are the controller's settings, from flags.
type options struct {
	APIServerHost      string
	Kubeconfig         string
	KubernetesAPIQPS   float32
	KubernetesAPIBurst int
	Namespace          string

	ClusterResourceNamespace        string
	ClusterIssuerAmbientCredentials bool
	IssuerAmbientCredentials        bool

	Controllers               []string
	NumberOfConcurrentWorkers int
	MaxConcurrentChallenges   int

	LeaderElect             bool
	LeaderElectionNamespace string
	LeaseDuration           time.Duration
	RenewDeadline           time.Duration
	RetryPeriod             time.Duration

	MetricsListenAddress string
	HealthzListenAddress string

	ACMEHTTP01SolverImage              string
	ACMEHTTP01SolverRunAsNonRoot       bool
	ACMEHTTP01SolverResourceRequestCPU string
	ACMEHTTP01SolverResourceRequestMem string
	ACMEHTTP01SolverResourceLimitsCPU  string
	ACMEHTTP01SolverResourceLimitsMem  string
	ACMEHTTP01SolverNameservers        []string
	DNS01RecursiveNameservers          []string
	DNS01RecursiveNameserversOnly      bool
	DNS01CheckRetryPeriod              time.Duration
	DefaultIssuerName                  string
	DefaultIssuerKind                  string
	DefaultIssuerGroup                 string
	DefaultAutoCertificateAnnotations  []string
	EnableCertificateOwnerRef          bool
	CertificateRequestMinimumBackoff   time.Duration
	CertificateRequestMaximumBackoff   time.Duration
	FeatureGates                       map[string]bool
	Logging                            *logsapi.LoggingConfiguration
}

func addFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.APIServerHost, "master", "", "The address of the Kubernetes API server (overrides the kubeconfig's).")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "Path to a kubeconfig; empty means in-cluster configuration.")
	fs.Float32Var(&o.KubernetesAPIQPS, "kube-api-qps", 20, "Queries per second to the API server (when it has no API Priority and Fairness).")
	fs.IntVar(&o.KubernetesAPIBurst, "kube-api-burst", 50, "Burst of queries to the API server.")
	fs.StringVar(&o.Namespace, "namespace", "", "Only watch this namespace; empty means all (ClusterIssuers need all).")

	fs.StringVar(&o.ClusterResourceNamespace, "cluster-resource-namespace", "kube-system",
		"Namespace holding the Secrets ClusterIssuers refer to (the ACME account key among them).")
	fs.BoolVar(&o.ClusterIssuerAmbientCredentials, "cluster-issuer-ambient-credentials", true,
		"Whether ClusterIssuers may use ambient credentials (cloud metadata) for DNS-01.")
	fs.BoolVar(&o.IssuerAmbientCredentials, "issuer-ambient-credentials", false,
		"Whether Issuers may use ambient credentials (cloud metadata) for DNS-01.")

	fs.StringSliceVar(&o.Controllers, "controllers", []string{"*"},
		fmt.Sprintf("Controllers to run: '*' for all of %s; 'name' adds one, '-name' removes one.", strings.Join(enabledControllers, ", ")))
	fs.IntVar(&o.NumberOfConcurrentWorkers, "concurrent-workers", 5, "Workers for each controller.")
	fs.IntVar(&o.MaxConcurrentChallenges, "max-concurrent-challenges", 60, "ACME challenges being processed at once, at most.")

	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "Take a Lease before running the controllers (off: one controller a cluster).")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "kube-system", "Namespace of the leader election Lease.")
	fs.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", 60*time.Second, "Leader election lease duration.")
	fs.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", 40*time.Second, "Leader election renew deadline.")
	fs.DurationVar(&o.RetryPeriod, "leader-election-retry-period", 15*time.Second, "Leader election retry period.")

	fs.StringVar(&o.MetricsListenAddress, "metrics-listen-address", "", "Address of the Prometheus metrics server (upstream: 0.0.0.0:9402); empty: none.")
	fs.StringVar(&o.HealthzListenAddress, "healthz-listen-address", "", "Address of the /livez server (upstream: 0.0.0.0:9403); empty: none.")

	fs.StringVar(&o.ACMEHTTP01SolverImage, "acme-http01-solver-image", "docker.io/storefleet/acmesolver:"+util.AppVersion,
		"Image of the pods that answer HTTP-01 challenges (pulled IfNotPresent).")
	fs.BoolVar(&o.ACMEHTTP01SolverRunAsNonRoot, "acme-http01-solver-run-as-non-root", true, "Set runAsNonRoot on the solver pods.")
	fs.StringVar(&o.ACMEHTTP01SolverResourceRequestCPU, "acme-http01-solver-resource-request-cpu", "10m", "Solver pods' CPU request.")
	fs.StringVar(&o.ACMEHTTP01SolverResourceRequestMem, "acme-http01-solver-resource-request-memory", "64Mi", "Solver pods' memory request.")
	fs.StringVar(&o.ACMEHTTP01SolverResourceLimitsCPU, "acme-http01-solver-resource-limits-cpu", "100m", "Solver pods' CPU limit.")
	fs.StringVar(&o.ACMEHTTP01SolverResourceLimitsMem, "acme-http01-solver-resource-limits-memory", "64Mi", "Solver pods' memory limit.")
	fs.StringSliceVar(&o.ACMEHTTP01SolverNameservers, "acme-http01-solver-nameservers", nil,
		"host:port of DNS servers the HTTP-01 self-check resolves the domain with; empty: the system's.")
	fs.StringSliceVar(&o.DNS01RecursiveNameservers, "dns01-recursive-nameservers", nil, "host:port of DNS servers for DNS-01 checks; empty: resolv.conf's.")
	fs.BoolVar(&o.DNS01RecursiveNameserversOnly, "dns01-recursive-nameservers-only", false, "Use only the recursive nameservers for DNS-01 checks.")
	fs.DurationVar(&o.DNS01CheckRetryPeriod, "dns01-check-retry-period", 10*time.Second, "Time between DNS-01 propagation checks.")

	fs.StringVar(&o.DefaultIssuerName, "default-issuer-name", "", "Issuer for Ingresses annotated kubernetes.io/tls-acme.")
	fs.StringVar(&o.DefaultIssuerKind, "default-issuer-kind", "Issuer", "Kind of the default issuer.")
	fs.StringVar(&o.DefaultIssuerGroup, "default-issuer-group", cm.GroupName, "API group of the default issuer.")
	fs.StringSliceVar(&o.DefaultAutoCertificateAnnotations, "auto-certificate-annotations", []string{"kubernetes.io/tls-acme"},
		"Ingress annotations that ask for a certificate from the default issuer.")
	fs.BoolVar(&o.EnableCertificateOwnerRef, "enable-certificate-owner-ref", false, "Make Certificates owners of their Secrets.")
	fs.DurationVar(&o.CertificateRequestMinimumBackoff, "certificate-request-minimum-backoff-duration", time.Hour,
		"First wait before retrying a failed CertificateRequest (doubles each failure).")
	fs.DurationVar(&o.CertificateRequestMaximumBackoff, "certificate-request-maximum-backoff-duration", 32*time.Hour,
		"Longest wait before retrying a failed CertificateRequest.")
	fs.Var(cliflag.NewMapStringBool(&o.FeatureGates), "feature-gates", "Feature gates, as key=true|false pairs separated by commas.")
	logf.AddFlagsNonDeprecated(o.Logging, fs)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	logf.InitLogs()
	defer logf.FlushLogs()
	ctx = logf.NewContext(ctx, logf.Log, "controller")

	o := &options{Logging: logsapi.NewLoggingConfiguration()}
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	addFlags(fs, o)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == pflag.ErrHelp {
			return
		}
		os.Exit(2)
	}
	if err := logf.ValidateAndApply(o.Logging); err != nil {
		fmt.Fprintf(os.Stderr, "invalid logging flags: %v\n", err)
		os.Exit(2)
	}
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(o.FeatureGates); err != nil {
		fmt.Fprintf(os.Stderr, "invalid --feature-gates: %v\n", err)
		os.Exit(2)
	}
	if err := run(ctx, o); err != nil {
		logf.Log.Error(err, "error executing command")
		logf.FlushLogs()
		os.Exit(1)
	}
}
