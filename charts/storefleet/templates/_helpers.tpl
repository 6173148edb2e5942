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

{{- define "storefleet.natsUrl" -}}
{{- if include "storefleet.natsBuiltIn" . }}
{{- printf "nats://%s-nats.%s.svc:4222" (include "storefleet.fullname" .) .Release.Namespace }}
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
["gateway", "auditor", "reaper"]
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
{{- if .Values.stores.plans }}
{{ include "storefleet.setting" (dict "name" "PLANS" "value" (toJson .Values.stores.plans)) }}
{{- end }}
{{ include "storefleet.setting" (dict "name" "RATE_LIMIT_STORAGE" "value" $g.rateLimitStorage) }}
{{ include "storefleet.setting" (dict "name" "COOKIE_SECURE" "value" $g.cookieSecure) }}
{{ include "storefleet.setting" (dict "name" "TRUSTED_PROXIES" "value" (toJson $g.trustedProxies)) }}
{{ include "storefleet.setting" (dict "name" "WEB_DIST" "value" "/app/web/dist") }}
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
{{- if $s.plans }}
{{ include "storefleet.setting" (dict "name" "PLANS" "value" (toJson $s.plans)) }}
{{- end }}
{{- if $s.smtp.host }}
{{ include "storefleet.setting" (dict "name" "SMTP_HOST" "value" $s.smtp.host) }}
{{ include "storefleet.setting" (dict "name" "SMTP_PORT" "value" $s.smtp.port) }}
{{ include "storefleet.setting" (dict "name" "SMTP_USERNAME" "value" $s.smtp.username) }}
{{ include "storefleet.setting" (dict "name" "SMTP_FROM" "value" $s.smtp.from) }}
- name: STOREFLEET_SMTP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "storefleet.secretName" . }}
      key: smtp-password
      optional: true
{{- end }}
{{- end }}
