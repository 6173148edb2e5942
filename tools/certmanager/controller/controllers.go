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

// Which controllers run: adapted from cert-manager's DefaultEnabledControllers
// (internal/apis/config/controller/v1alpha1/defaults.go) and the --controllers flag of
// cmd/controller/app/options, less Vault and Venafi. Each controller registers itself
// with pkg/controller in its package's init; the issuer packages (pkg/issuer/...)
// register the issuer implementations the issuers and clusterissuers controllers call.

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/cert-manager/cert-manager/pkg/controller/acmechallenges"
	"github.com/cert-manager/cert-manager/pkg/controller/acmeorders"
	shimingresses "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/ingresses"
	cracme "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/acme"
	"github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	certificatesmetrics "github.com/cert-manager/cert-manager/pkg/controller/certificates/metrics"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"

	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// enabledControllers are the controllers "*" stands for.
var enabledControllers = []string{
	issuers.ControllerName,
	clusterissuers.ControllerName,
	certificatesmetrics.ControllerName,
	shimingresses.ControllerName,
	acmeorders.ControllerName,
	acmechallenges.ControllerName,
	cracme.CRControllerName,
	approver.ControllerName,
	crca.CRControllerName,
	crselfsigned.CRControllerName,
	trigger.ControllerName,
	issuing.ControllerName,
	keymanager.ControllerName,
	requestmanager.ControllerName,
	readiness.ControllerName,
	revisionmanager.ControllerName,
}

// selectControllers reads --controllers as upstream does: "*" is every enabled
// controller, "name" adds one, "-name" removes one.
func selectControllers(names []string, namespace string) (sets.Set[string], error) {
	known := sets.New(enabledControllers...)
	selected := sets.New[string]()
	for _, name := range names {
		switch {
		case name == "*":
			selected.Insert(enabledControllers...)
		case strings.HasPrefix(name, "-"):
			selected.Delete(strings.TrimPrefix(name, "-"))
		case known.Has(name):
			selected.Insert(name)
		default:
			return nil, fmt.Errorf("unknown controller %q (known: %s)", name, strings.Join(enabledControllers, ", "))
		}
	}
	// A controller scoped to one namespace cannot watch cluster-scoped issuers.
	if namespace != "" {
		selected.Delete(clusterissuers.ControllerName)
	}
	return selected, nil
}
