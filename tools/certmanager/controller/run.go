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

package main

// Adapted from cert-manager cmd/controller/app/controller.go (v1.21): the same
// context factory, leader election and controller start-up, without the TLS
// certificate source for metrics and the profiler.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	dnsutil "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
)

// healthzLeaderElectionTimeout is upstream's default (as kube-controller-manager's).
const healthzLeaderElectionTimeout = 20 * time.Second

func run(rootCtx context.Context, opts *options) error {
	rootCtx, cancelContext := context.WithCancel(rootCtx)
	defer cancelContext()

	log := logf.FromContext(rootCtx)
	g, rootCtx := errgroup.WithContext(rootCtx)

	enabled, err := selectControllers(opts.Controllers, opts.Namespace)
	if err != nil {
		return err
	}
	ctxFactory, err := buildControllerContextFactory(rootCtx, opts)
	if err != nil {
		return err
	}
	// The base controller context, for the informer factories all controllers share.
	ctx, err := ctxFactory.Build()
	if err != nil {
		return err
	}
	log.Info(fmt.Sprintf("enabled controllers: %s", sets.List(enabled)))

	if opts.MetricsListenAddress != "" {
		if err := serveMetrics(rootCtx, g, ctx, opts.MetricsListenAddress); err != nil {
			return err
		}
	}
	healthzServer := healthz.NewServer(healthzLeaderElectionTimeout)
	if opts.HealthzListenAddress != "" {
		healthzListener, err := net.Listen("tcp", opts.HealthzListenAddress)
		if err != nil {
			return fmt.Errorf("failed to listen on healthz address %s: %v", opts.HealthzListenAddress, err)
		}
		g.Go(func() error {
			log.V(logf.InfoLevel).Info("starting healthz server", "address", healthzListener.Addr())
			return healthzServer.Start(rootCtx, healthzListener)
		})
	}

	elected := make(chan struct{})
	if opts.LeaderElect {
		g.Go(func() error { return leadOrWait(rootCtx, opts, ctxFactory, healthzServer, elected) })
	} else {
		close(elected)
	}

	select {
	case <-rootCtx.Done(): // shutting down, or the errgroup has already failed
		return g.Wait()
	case <-elected:
	}

	for n, fn := range controller.Known() {
		log := log.WithValues("controller", n)
		if !enabled.Has(n) {
			log.V(logf.InfoLevel).Info("skipping disabled controller")
			continue
		}
		iface, err := fn(ctxFactory)
		if err != nil {
			err = fmt.Errorf("error starting controller: %v", err)
			cancelContext()
			if err2 := g.Wait(); err2 != nil {
				return utilerrors.NewAggregate([]error{err, err2})
			}
			return err
		}
		g.Go(func() error {
			log.V(logf.InfoLevel).Info("starting controller")
			return iface.Run(opts.NumberOfConcurrentWorkers, rootCtx)
		})
	}

	log.V(logf.DebugLevel).Info("starting shared informer factories")
	ctx.SharedInformerFactory.Start(rootCtx.Done())
	ctx.KubeSharedInformerFactory.Start(rootCtx.Done())
	ctx.HTTP01ResourceMetadataInformersFactory.Start(rootCtx.Done())

	if err := g.Wait(); err != nil {
		return fmt.Errorf("error starting controller: %v", err)
	}
	log.V(logf.InfoLevel).Info("control loops exited")
	ctx.HTTP01ResourceMetadataInformersFactory.Shutdown()
	ctx.KubeSharedInformerFactory.Shutdown()
	ctx.SharedInformerFactory.Shutdown()
	return nil
}

func serveMetrics(rootCtx context.Context, g *errgroup.Group, ctx *controller.Context, address string) error {
	log := logf.FromContext(rootCtx)
	metricsLn, err := net.Listen("tcp", address)
	if err != nil {
		return fmt.Errorf("failed to listen on prometheus address %s: %v", address, err)
	}
	metricsServer := ctx.Metrics.NewServer(metricsLn)
	g.Go(func() error {
		<-rootCtx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return metricsServer.Shutdown(shutdownCtx) //nolint:contextcheck
	})
	g.Go(func() error {
		log.V(logf.InfoLevel).Info("starting metrics server", "address", metricsLn.Addr())
		if err := metricsServer.Serve(metricsLn); err != http.ErrServerClosed {
			return err
		}
		return nil
	})
	return nil
}

// leadOrWait takes part in leader election, closing elected once this process leads.
func leadOrWait(rootCtx context.Context, opts *options, ctxFactory *controller.ContextFactory, healthzServer *healthz.Server, elected chan struct{}) error {
	logf.FromContext(rootCtx).V(logf.InfoLevel).Info("starting leader election")
	ctx, err := ctxFactory.Build("leader-election")
	if err != nil {
		return err
	}
	errorCh := make(chan error, 1)
	callbacks := leaderelection.LeaderCallbacks{
		OnStartedLeading: func(_ context.Context) { close(elected) },
		OnStoppedLeading: func() {
			select {
			case <-rootCtx.Done():
			default:
				errorCh <- errors.New("leader election lost")
			}
		},
	}
	if err := startLeaderElection(rootCtx, opts, ctx.Client, ctx.Recorder, callbacks, healthzServer.LeaderHealthzAdaptor); err != nil {
		return err
	}
	select {
	case err := <-errorCh:
		return err
	default:
		return nil
	}
}

// buildControllerContextFactory builds the factory of the controller contexts each
// controller gets its clients from.
func buildControllerContextFactory(ctx context.Context, opts *options) (*controller.ContextFactory, error) {
	log := logf.FromContext(ctx)

	nameservers := opts.DNS01RecursiveNameservers
	if len(nameservers) == 0 {
		nameservers = dnsutil.RecursiveNameservers
	}
	log.V(logf.InfoLevel).WithName("build-context").
		WithValues("nameservers", nameservers).
		Info("configured acme dns01 nameservers")

	quantities := map[string]*resource.Quantity{}
	for name, value := range map[string]string{
		"request-cpu":    opts.ACMEHTTP01SolverResourceRequestCPU,
		"request-memory": opts.ACMEHTTP01SolverResourceRequestMem,
		"limits-cpu":     opts.ACMEHTTP01SolverResourceLimitsCPU,
		"limits-memory":  opts.ACMEHTTP01SolverResourceLimitsMem,
	} {
		q, err := resource.ParseQuantity(value)
		if err != nil {
			return nil, fmt.Errorf("error parsing --acme-http01-solver-resource-%s: %w", name, err)
		}
		quantities[name] = &q
	}

	return controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig:         opts.Kubeconfig,
		KubernetesAPIQPS:   opts.KubernetesAPIQPS,
		KubernetesAPIBurst: opts.KubernetesAPIBurst,
		APIServerHost:      opts.APIServerHost,
		Namespace:          opts.Namespace,

		ACMEOptions: controller.ACMEOptions{
			HTTP01SolverResourceRequestCPU:    *quantities["request-cpu"],
			HTTP01SolverResourceRequestMemory: *quantities["request-memory"],
			HTTP01SolverResourceLimitsCPU:     *quantities["limits-cpu"],
			HTTP01SolverResourceLimitsMemory:  *quantities["limits-memory"],
			ACMEHTTP01SolverRunAsNonRoot:      opts.ACMEHTTP01SolverRunAsNonRoot,
			HTTP01SolverImage:                 opts.ACMEHTTP01SolverImage,
			HTTP01SolverNameservers:           opts.ACMEHTTP01SolverNameservers,

			DNS01Nameservers:        nameservers,
			DNS01CheckRetryPeriod:   opts.DNS01CheckRetryPeriod,
			DNS01CheckAuthoritative: !opts.DNS01RecursiveNameserversOnly,
		},

		SchedulerOptions: controller.SchedulerOptions{
			MaxConcurrentChallenges: opts.MaxConcurrentChallenges,
		},

		IssuerOptions: controller.IssuerOptions{
			ClusterIssuerAmbientCredentials: opts.ClusterIssuerAmbientCredentials,
			IssuerAmbientCredentials:        opts.IssuerAmbientCredentials,
			ClusterResourceNamespace:        opts.ClusterResourceNamespace,
		},

		IngressShimOptions: controller.IngressShimOptions{
			DefaultIssuerName:                 opts.DefaultIssuerName,
			DefaultIssuerKind:                 opts.DefaultIssuerKind,
			DefaultIssuerGroup:                opts.DefaultIssuerGroup,
			DefaultAutoCertificateAnnotations: opts.DefaultAutoCertificateAnnotations,
		},

		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:                           opts.EnableCertificateOwnerRef,
			CertificateRequestMinimumBackoffDuration: opts.CertificateRequestMinimumBackoff,
			CertificateRequestMaximumBackoffDuration: opts.CertificateRequestMaximumBackoff,
		},
	})
}

func startLeaderElection(ctx context.Context, opts *options, client kubernetes.Interface, recorder record.EventRecorder, callbacks leaderelection.LeaderCallbacks, healthzAdaptor *leaderelection.HealthzAdaptor) error {
	id, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("error getting hostname: %v", err)
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock,
		opts.LeaderElectionNamespace,
		"cert-manager-controller",
		client.CoreV1(),
		client.CoordinationV1(),
		resourcelock.ResourceLockConfig{
			Identity:      id + "-external-cert-manager-controller",
			EventRecorder: recorder,
		},
	)
	if err != nil {
		return fmt.Errorf("error creating leader election lock: %v", err)
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   opts.LeaseDuration,
		RenewDeadline:   opts.RenewDeadline,
		RetryPeriod:     opts.RetryPeriod,
		ReleaseOnCancel: true,
		Callbacks:       callbacks,
		WatchDog:        healthzAdaptor,
	})
	if err != nil {
		return err
	}
	elector.Run(ctx)
	return nil
}
