{{/*
Names, labels and the pieces every storefleet Deployment shares.
*/}}

{{- define "storefleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "storefleet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "storefleet.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "storefleet.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Cluster-scoped objects (ClusterRoles, the admission policy) carry the namespace too,
so two releases of the same name in different namespaces do not collide. */}}
{{- define "storefleet.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "storefleet.fullname" .) }}
{{- end }}

{{- define "storefleet.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "storefleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: storefleet
{{- end }}

{{/* Labels of one component: (dict "root" $ "component" "gateway"). */}}
{{- define "storefleet.componentLabels" -}}
{{ include "storefleet.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "storefleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "storefleet.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "storefleet.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "storefleet.serviceAccountName" -}}
{{- printf "%s-%s" (include "storefleet.fullname" .root) .component }}
{{- end }}

{{/* The username the API server gives a component's service account. */}}
{{- define "storefleet.serviceAccountUser" -}}
{{- printf "system:serviceaccount:%s:%s" .root.Release.Namespace (include "storefleet.serviceAccountName" .) }}
{{- end }}

{{/* -- Secrets -------------------------------------------------------------------- */}}

{{- define "storefleet.secretName" -}}
{{- default (printf "%s-secrets" (include "storefleet.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/* -- NATS ----------------------------------------------------------------------- */}}

{{- define "storefleet.natsBuiltIn" -}}
{{- if has .Values.nats.mode (list "single" "cluster") }}true{{ else if eq .Values.nats.mode "external" }}{{ else }}{{ fail (printf "nats.mode must be single, cluster or external, not %q" .Values.nats.mode) }}{{ end }}
{{- end }}

{{- define "storefleet.natsReplicas" -}}
{{- if eq .Values.nats.mode "cluster" }}{{ int .Values.nats.clusterSize }}{{ else }}1{{ end }}
{{- end }}

{{/* The services with a NATS user of their own (shared/nats_access.py SERVICES), as JSON. */}}
{{- define "storefleet.natsUsers" -}}
{{- if .Values.nats.auth.enabled }}{{ keys (.Files.Get "files/nats-permissions.json" | fromJson) | sortAlpha | toJson }}{{ else }}[]{{ end }}
{{- end }}

{{/* The Secret holding the NATS server certificate and its CA. */}}
{{- define "storefleet.natsTlsSecret" -}}
{{- default (printf "%s-nats-tls" (include "storefleet.fullname" .)) .Values.nats.tls.secretName }}
{{- end }}

{{- define "storefleet.natsUrl" -}}
{{- if include "storefleet.natsBuiltIn" . }}
{{- printf "%s://%s-nats.%s.svc:4222" (ternary "tls" "nats" .Values.nats.tls.enabled) (include "storefleet.fullname" .) .Release.Namespace }}
{{- else }}
{{- required "nats.external.url is required when nats.mode is external" .Values.nats.external.url }}
{{- end }}
{{- end }}

{{- define "storefleet.streamReplicas" -}}
{{- $replicas := .Values.stream.replicas | toString }}
{{- if and (eq .Values.nats.mode "external") (eq $replicas "") }}
{{- fail "stream.replicas is required when nats.mode is external" }}
{{- end }}
{{- $n := ternary (include "storefleet.natsReplicas" .) $replicas (eq $replicas "") | int }}
{{- if and (include "storefleet.natsBuiltIn" .) (gt $n (include "storefleet.natsReplicas" . | int)) }}
{{- fail (printf "stream.replicas %d is more than the %s built-in NATS servers" $n (include "storefleet.natsReplicas" .)) }}
{{- end }}
{{- $n }}
{{- end }}

{{/* -- Postgres ------------------------------------------------------------------- */}}

{{- define "storefleet.postgresHost" -}}
{{- printf "%s-postgres.%s.svc" (include "storefleet.fullname" .) .Release.Namespace }}
{{- end }}

{{/* The services that log in to Postgres, each as its own role (migration 0007), as a
JSON list. */}}
{{- define "storefleet.databaseServices" -}}
{{- if include "storefleet.mailRelay" . }}["gateway", "auditor", "reaper", "webhooks", "mailrelay"]{{ else }}["gateway", "auditor", "reaper", "webhooks"]{{ end }}
{{- end }}

{{/* The login role of one service in the generated Secret: (include ... "gateway"). */}}
{{- define "storefleet.databaseLogin" -}}
{{- printf "storefleet_%s_login" . }}
{{- end }}

{{/* A setting taken from one key of the platform Secret: (dict "root" $ "name" "DATABASE_URL" "key" "database-url"). */}}
{{- define "storefleet.secretSetting" -}}
- name: STOREFLEET_{{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "storefleet.secretName" .root }}
      key: {{ .key }}
{{- end }}

{{/* The gateway pod's init container: the migrations, then each service's Postgres login
(`python -m shared.db_roles`), as the migration owner. The only container given the
owner's DSN; the services get their own (docs/security.md). */}}
{{- define "storefleet.databaseSetup" -}}
- name: database-setup
  image: {{ include "storefleet.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: [python, -m, shared.db_roles]
  env:
    {{- include "storefleet.setting" (dict "name" "LOG_LEVEL" "value" .Values.logLevel) | nindent 4 }}
    {{- include "storefleet.secretSetting" (dict "root" . "name" "DATABASE_URL" "key" "database-url") | nindent 4 }}
    {{- range $service := include "storefleet.databaseServices" . | fromJsonArray }}
    {{- include "storefleet.secretSetting" (dict "root" $ "name" (printf "%s_DATABASE_URL" (upper $service)) "key" (printf "%s-database-url" $service)) | nindent 4 }}
    {{- end }}
  resources:
    {{- toYaml .Values.gateway.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - {name: tmp, mountPath: /tmp}
{{- end }}

{{/* -- Backups' object store --------------------------------------------------------- */}}

{{/* The S3 endpoint of the backups: the bundled object store's Service by its full name
(pre-signed URLs carry the host, and the provisioner and a store's backup Job, in
different namespaces, use the same URL), or the operator's backups.s3.endpoint. */}}
{{- define "storefleet.backupS3Endpoint" -}}
{{- if .Values.backups.objectStore.bundled }}
{{- printf "http://%s-objectstore.%s.svc:7070" (include "storefleet.fullname" .) .Release.Namespace }}
{{- else }}
{{- .Values.backups.s3.endpoint }}
{{- end }}
{{- end }}

{{/* The bucket of the backups: backups.s3.bucket; with the bundled object store, which
makes it at start as a directory of its volume, by default storefleet-backups (as
devtools/objectstore.py), and only a name S3 allows (shared/settings.py). */}}
{{- define "storefleet.backupS3Bucket" -}}
{{- if .Values.backups.objectStore.bundled }}
{{- $bucket := .Values.backups.s3.bucket | default "storefleet-backups" }}
{{- if not (regexMatch "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$" $bucket) }}
{{- fail (printf "backups.s3.bucket %q is not an S3 bucket name" $bucket) }}
{{- end }}
{{- $bucket }}
{{- else }}
{{- required "backups.s3.bucket is required when backups.enabled" .Values.backups.s3.bucket }}
{{- end }}
{{- end }}

{{/* -- Pods ----------------------------------------------------------------------- */}}

{{/* An environment variable for one STOREFLEET_ setting; values are always strings. */}}
{{- define "storefleet.setting" -}}
- name: STOREFLEET_{{ .name }}
  value: {{ .value | toString | quote }}
{{- end }}

{{/* Settings every service reads (shared/settings.py CommonSettings). */}}
{{- define "storefleet.commonEnv" -}}
{{- $root := .root }}
{{- include "storefleet.setting" (dict "name" "NATS_URL" "value" (include "storefleet.natsUrl" $root)) }}
{{ include "storefleet.setting" (dict "name" "STREAM_NAME" "value" $root.Values.stream.name) }}
{{ include "storefleet.setting" (dict "name" "STREAM_REPLICAS" "value" (include "storefleet.streamReplicas" $root)) }}
{{ include "storefleet.setting" (dict "name" "STREAM_MAX_AGE_DAYS" "value" $root.Values.stream.maxAgeDays) }}
{{ include "storefleet.setting" (dict "name" "LOG_LEVEL" "value" $root.Values.logLevel) }}
{{ include "storefleet.setting" (dict "name" "SHUTDOWN_GRACE_SECONDS" "value" (sub (int $root.Values.terminationGracePeriodSeconds) 10)) }}
{{- if has .component (include "storefleet.natsUsers" $root | fromJsonArray) }}
{{ include "storefleet.setting" (dict "name" "NATS_USER" "value" .component) }}
- name: STOREFLEET_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "storefleet.secretName" $root }}
      key: nats-{{ .component }}-password
{{- end }}
{{- if $root.Values.nats.tls.enabled }}
{{ include "storefleet.setting" (dict "name" "NATS_CA_FILE" "value" "/etc/storefleet/nats-ca/ca.crt") }}
{{- end }}
{{- if .database }}
{{/* Each service's own role (migration 0007), never the migration owner's DSN. */}}
{{ include "storefleet.secretSetting" (dict "root" $root "name" "DATABASE_URL" "key" (printf "%s-database-url" .component)) }}
{{- end }}
{{- if .kube }}
{{ include "storefleet.setting" (dict "name" "KUBE_QPS" "value" .values.kube.qps) }}
{{ include "storefleet.setting" (dict "name" "KUBE_BURST" "value" .values.kube.burst) }}
{{- end }}
{{- end }}

{{/* The operator's extra settings of one component, NAME: value without the prefix. */}}
{{- define "storefleet.extraEnv" -}}
{{- range $name, $value := .settings }}
{{- $v := $value }}
{{- if or (kindIs "map" $value) (kindIs "slice" $value) }}{{ $v = toJson $value }}{{ end }}
{{ include "storefleet.setting" (dict "name" (upper $name | trimPrefix "STOREFLEET_") "value" $v) }}
{{- end }}
{{- end }}

{{- define "storefleet.tlsIssuer" -}}
{{- default .Values.tls.clusterIssuer .Values.stores.tlsIssuer }}
{{- end }}

{{/* The gateway's own settings (services/gateway/settings.py). */}}
{{- define "storefleet.gatewayEnv" -}}
{{- $g := .Values.gateway }}
{{- include "storefleet.setting" (dict "name" "HTTP_PORT" "value" 8080) }}
{{ include "storefleet.setting" (dict "name" "ENGINES" "value" (toJson .Values.stores.engines)) }}
{{ include "storefleet.setting" (dict "name" "CHARTS_DIR" "value" "/app/charts/engines") }}
{{- if .Values.stores.plans }}
{{ include "storefleet.setting" (dict "name" "PLANS" "value" (toJson .Values.stores.plans)) }}
{{- end }}
{{ include "storefleet.setting" (dict "name" "RATE_LIMIT_STORAGE" "value" $g.rateLimitStorage) }}
{{ include "storefleet.setting" (dict "name" "COOKIE_SECURE" "value" $g.cookieSecure) }}
{{ include "storefleet.setting" (dict "name" "TRUSTED_PROXIES" "value" (toJson $g.trustedProxies)) }}
{{ include "storefleet.setting" (dict "name" "WEB_DIST" "value" "/app/web/dist") }}
{{ include "storefleet.setting" (dict "name" "PAUSED_PORT" "value" .Values.stores.pausedPage.port) }}
{{- $d := .Values.stores.domains }}
{{ include "storefleet.setting" (dict "name" "BASE_DOMAIN" "value" .Values.stores.baseDomain) }}
{{ include "storefleet.setting" (dict "name" "PLATFORM_DOMAINS" "value" (toJson (prepend ($d.reservedDomains | default list) .Values.dashboard.host))) }}
{{ include "storefleet.setting" (dict "name" "INGRESS_HOST" "value" $d.ingressHost) }}
{{- if $d.ingressAddress }}
{{ include "storefleet.setting" (dict "name" "INGRESS_ADDRESS" "value" $d.ingressAddress) }}
{{- end }}
{{- with $g.oidc }}{{ if .issuer }}
{{ include "storefleet.oidcEnv" (dict "oidc" . "root" $) }}
{{- end }}{{ end }}
{{- end }}

{{/* Single sign-on (services/gateway/settings.py, oidc_*): only with an issuer. The client
secret comes from the platform Secret's optional oidc-client-secret. */}}
{{- define "storefleet.oidcEnv" -}}
{{- $o := .oidc }}
{{- $scheme := ternary "https" "http" .root.Values.gateway.cookieSecure }}
{{- include "storefleet.setting" (dict "name" "OIDC_ISSUER" "value" $o.issuer) }}
{{ include "storefleet.setting" (dict "name" "OIDC_CLIENT_ID" "value" $o.clientId) }}
{{ include "storefleet.setting" (dict "name" "OIDC_REDIRECT_URL" "value" (printf "%s://%s/api/v1/auth/oidc/callback" $scheme .root.Values.dashboard.host)) }}
{{ include "storefleet.setting" (dict "name" "OIDC_SCOPES" "value" $o.scopes) }}
{{ include "storefleet.setting" (dict "name" "OIDC_USERNAME_CLAIM" "value" $o.usernameClaim) }}
{{ include "storefleet.setting" (dict "name" "OIDC_ADMIN_CLAIM" "value" $o.adminClaim) }}
{{ include "storefleet.setting" (dict "name" "OIDC_ADMIN_VALUES" "value" (join "," $o.adminValues)) }}
{{ include "storefleet.setting" (dict "name" "OIDC_CLOCK_SKEW_SECONDS" "value" $o.clockSkewSeconds) }}
{{ include "storefleet.setting" (dict "name" "OIDC_DISPLAY_NAME" "value" $o.displayName) }}
{{ include "storefleet.setting" (dict "name" "LOCAL_LOGIN" "value" $o.localLogin) }}
- name: STOREFLEET_OIDC_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "storefleet.secretName" .root }}
      key: oidc-client-secret
      optional: true
{{- end }}

{{/* Where a suspended store's Ingress sends visitors: the gateway's Service, by its DNS
name unless stores.pausedPage.host says otherwise (its fixed IP, for an ingress controller
on the host that cannot resolve cluster names). */}}
{{- define "storefleet.pausedHost" -}}
{{- .Values.stores.pausedPage.host | default (printf "%s-gateway.%s.svc.%s" (include "storefleet.fullname" .) .Release.Namespace .Values.stores.pausedPage.clusterDomain) }}
{{- end }}

{{/* The provisioner's own settings (services/provisioner/settings.py). */}}
{{- define "storefleet.provisionerEnv" -}}
{{- $s := .Values.stores }}
{{- include "storefleet.setting" (dict "name" "WORKERS" "value" .Values.provisioner.workers) }}
{{ include "storefleet.setting" (dict "name" "HELM_BINARY" "value" "/usr/local/bin/helm") }}
{{ include "storefleet.setting" (dict "name" "CHARTS_DIR" "value" "/app/charts/engines") }}
{{ include "storefleet.setting" (dict "name" "ENGINE_VALUES" "value" $s.engineValues) }}
{{ include "storefleet.setting" (dict "name" "BASE_DOMAIN" "value" $s.baseDomain) }}
{{- if $s.publicPort }}
{{ include "storefleet.setting" (dict "name" "PUBLIC_PORT" "value" $s.publicPort) }}
{{- end }}
{{ include "storefleet.setting" (dict "name" "INGRESS_CLASS" "value" $s.ingressClass) }}
{{ include "storefleet.setting" (dict "name" "INGRESS_NAMESPACE" "value" $s.ingressNamespace) }}
{{ include "storefleet.setting" (dict "name" "DNS_NAMESPACE" "value" $s.dnsNamespace) }}
{{ include "storefleet.setting" (dict "name" "PLATFORM_NAMESPACE" "value" .Release.Namespace) }}
{{ include "storefleet.setting" (dict "name" "STORAGE_CLASS" "value" $s.storageClass) }}
{{ include "storefleet.setting" (dict "name" "TLS_ISSUER" "value" (include "storefleet.tlsIssuer" .)) }}
{{ include "storefleet.setting" (dict "name" "STORE_COUNTRY" "value" $s.country) }}
{{ include "storefleet.setting" (dict "name" "STORE_CURRENCY" "value" $s.currency) }}
{{ include "storefleet.setting" (dict "name" "PAUSED_HOST" "value" (include "storefleet.pausedHost" .)) }}
{{ include "storefleet.setting" (dict "name" "PAUSED_PORT" "value" $s.pausedPage.port) }}
{{- if $s.plans }}
{{ include "storefleet.setting" (dict "name" "PLANS" "value" (toJson $s.plans)) }}
{{- end }}
{{- if include "storefleet.mailRelay" . }}
{{ include "storefleet.setting" (dict "name" "MAIL_RELAY_HOST" "value" (include "storefleet.mailRelayHost" .)) }}
{{ include "storefleet.setting" (dict "name" "MAIL_RELAY_PORT" "value" .Values.mailrelay.port) }}
{{ include "storefleet.setting" (dict "name" "MAIL_FROM" "value" $s.smtp.from) }}
{{ include "storefleet.mailRelayKey" . }}
{{- end }}
{{- if .Values.backups.enabled }}
{{ include "storefleet.objectStoreEnv" . }}
{{ include "storefleet.setting" (dict "name" "BACKUP_IMAGE" "value" .Values.backups.image) }}
{{ include "storefleet.setting" (dict "name" "BACKUP_VERIFY" "value" .Values.backups.verify) }}
{{ include "storefleet.setting" (dict "name" "BACKUP_JOB_DEADLINE_SECONDS" "value" .Values.backups.jobDeadlineSeconds) }}
{{- with .Values.backups.egressCIDRs }}
{{ include "storefleet.setting" (dict "name" "BACKUP_EGRESS_CIDRS" "value" (toJson .)) }}
{{- end }}
{{- end }}
{{- end }}

{{/* -- Backups ---------------------------------------------------------------------- */}}

{{/* The Secret holding the object storage's key pair. */}}
{{- define "storefleet.backupSecretName" -}}
{{- if .Values.backups.existingSecret }}{{ .Values.backups.existingSecret }}
{{- else if .Values.secrets.existingSecret }}{{ .Values.secrets.existingSecret }}
{{- else if .Values.backups.objectStore.bundled }}{{ include "storefleet.secretName" . }}
{{- else }}{{ fail "backups.enabled needs the object storage's key pair: set backups.existingSecret, or secrets.existingSecret, to a Secret with the keys backup-s3-access-key and backup-s3-secret-key" }}
{{- end }}
{{- end }}

{{/* Where backups go (shared/settings.py ObjectStoreSettings): for the provisioner, which
writes them, and the reaper, which schedules and expires them. The key pair comes from a
Secret only, never a value. */}}
{{- define "storefleet.objectStoreEnv" -}}
{{- $b := .Values.backups }}
{{- include "storefleet.setting" (dict "name" "BACKUP_S3_ENDPOINT" "value" (required "backups.s3.endpoint is required when backups.enabled" (include "storefleet.backupS3Endpoint" .))) }}
{{ include "storefleet.setting" (dict "name" "BACKUP_S3_BUCKET" "value" (include "storefleet.backupS3Bucket" .)) }}
{{ include "storefleet.setting" (dict "name" "BACKUP_S3_REGION" "value" $b.s3.region) }}
{{ include "storefleet.setting" (dict "name" "BACKUP_S3_PREFIX" "value" $b.s3.prefix) }}
{{ include "storefleet.setting" (dict "name" "BACKUP_S3_ADDRESSING_STYLE" "value" $b.s3.addressingStyle) }}
{{- range $name, $key := dict "BACKUP_S3_ACCESS_KEY" "backup-s3-access-key" "BACKUP_S3_SECRET_KEY" "backup-s3-secret-key" }}
- name: STOREFLEET_{{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "storefleet.backupSecretName" $ }}
      key: {{ $key }}
{{- end }}
{{- end }}

{{/* The reaper's own settings (services/reaper/settings.py). */}}
{{- define "storefleet.reaperEnv" -}}
{{- include "storefleet.setting" (dict "name" "SWEEP_INTERVAL_SECONDS" "value" .Values.reaper.sweepIntervalSeconds) }}
{{ include "storefleet.setting" (dict "name" "DNS_RESOLVERS" "value" .Values.stores.domains.resolvers) }}
{{- $certs := .Values.stores.domains.certificates }}
{{ include "storefleet.setting" (dict "name" "INGRESS_CLASS" "value" .Values.stores.ingressClass) }}
{{ include "storefleet.setting" (dict "name" "DOMAIN_CERT_ISSUER" "value" (default (include "storefleet.tlsIssuer" .) $certs.issuer)) }}
{{ include "storefleet.setting" (dict "name" "DOMAIN_CERT_ISSUER_KIND" "value" $certs.issuerKind) }}
{{ include "storefleet.setting" (dict "name" "DOMAIN_CERT_MAX_PENDING" "value" $certs.maxPending) }}
{{ include "storefleet.setting" (dict "name" "DOMAIN_CERT_ORDERS_PER_HOUR" "value" $certs.ordersPerHour) }}
{{ include "storefleet.setting" (dict "name" "DOMAIN_CERT_TIMEOUT_MINUTES" "value" $certs.timeoutMinutes) }}
{{ include "storefleet.setting" (dict "name" "PAUSED_PORT" "value" .Values.stores.pausedPage.port) }}
{{- if .Values.stores.plans }}
{{ include "storefleet.setting" (dict "name" "PLANS" "value" (toJson .Values.stores.plans)) }}
{{- end }}
{{- if .Values.backups.enabled }}
{{ include "storefleet.setting" (dict "name" "BACKUPS_ENABLED" "value" "true") }}
{{ include "storefleet.setting" (dict "name" "BACKUP_PASS_SECONDS" "value" .Values.reaper.backupPassSeconds) }}
{{ include "storefleet.objectStoreEnv" . }}
{{- end }}
{{- end }}

{{/* The webhooks service's own settings (services/webhooks/settings.py). */}}
{{- define "storefleet.webhooksEnv" -}}
{{- $w := .Values.webhooks }}
{{- include "storefleet.setting" (dict "name" "WEBHOOK_ALLOWED_NETWORKS" "value" (join "," ($w.allowedNetworks | default list))) }}
{{ include "storefleet.setting" (dict "name" "WEBHOOK_TIMEOUT_SECONDS" "value" $w.timeoutSeconds) }}
{{- end }}

{{/* -- Mail ------------------------------------------------------------------------- */}}

{{/* The platform's services, space separated: the five, and the mail relay when it runs. */}}
{{- define "storefleet.services" -}}
gateway provisioner reaper auditor webhooks{{ if include "storefleet.mailRelay" . }} mailrelay{{ end }}
{{- end }}

{{/* "true" when the platform runs its mail relay (an upstream relay is configured). */}}
{{- define "storefleet.mailRelay" -}}
{{- if .Values.stores.smtp.host }}true{{ end }}
{{- end }}

{{/* The relay's Service as store pods reach it. */}}
{{- define "storefleet.mailRelayHost" -}}
{{- printf "%s-mailrelay.%s.svc" (include "storefleet.fullname" .) .Release.Namespace }}
{{- end }}

{{- define "storefleet.mailRelayKey" -}}
- name: STOREFLEET_MAIL_RELAY_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "storefleet.secretName" . }}
      key: mail-relay-key
{{- end }}

{{/* The mail relay's own settings (services/mailrelay/settings.py): the only pod that
gets the upstream relay's password. */}}
{{- define "storefleet.mailRelayEnv" -}}
{{- $m := .Values.mailrelay }}
{{- $u := .Values.stores.smtp }}
{{- include "storefleet.setting" (dict "name" "LISTEN_PORT" "value" $m.port) }}
{{ include "storefleet.mailRelayKey" . }}
{{ include "storefleet.setting" (dict "name" "BASE_DOMAIN" "value" .Values.stores.baseDomain) }}
{{ include "storefleet.setting" (dict "name" "MAIL_FROM" "value" $u.from) }}
{{ include "storefleet.setting" (dict "name" "MAX_MESSAGE_BYTES" "value" (int64 $m.maxMessageBytes)) }}
{{ include "storefleet.setting" (dict "name" "MAX_RECIPIENTS" "value" $m.maxRecipients) }}
{{ include "storefleet.setting" (dict "name" "MAIL_RATE_LIMIT" "value" $m.rateLimit) }}
{{ include "storefleet.setting" (dict "name" "RATE_LIMIT_STORAGE" "value" $m.rateLimitStorage) }}
{{ include "storefleet.setting" (dict "name" "UPSTREAM_HOST" "value" $u.host) }}
{{ include "storefleet.setting" (dict "name" "UPSTREAM_PORT" "value" $u.port) }}
{{ include "storefleet.setting" (dict "name" "UPSTREAM_SECURITY" "value" $u.security) }}
{{ include "storefleet.setting" (dict "name" "UPSTREAM_USERNAME" "value" $u.username) }}
- name: STOREFLEET_UPSTREAM_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "storefleet.secretName" . }}
      key: smtp-password
      optional: true
{{- end }}
