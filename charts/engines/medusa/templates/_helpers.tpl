{{/* Labels every object carries; the provisioner adds the platform's own on top. */}}
{{- define "medusa.labels" -}}
app.kubernetes.io/name: medusa
app.kubernetes.io/instance: {{ required "store.slug is required" .root.Values.store.slug | quote }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: storefleet
{{- end }}

{{/* Pod selector of one component; stable across chart versions. */}}
{{- define "medusa.selector" -}}
app.kubernetes.io/name: medusa
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "medusa.secret" -}}
{{ required "secretName is required" .Values.secretName }}
{{- end }}

{{/* Pod-level security context shared by every pod: non-root, RuntimeDefault seccomp. */}}
{{- define "medusa.podSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security context: nothing to escalate to, nothing writable but volumes. */}}
{{- define "medusa.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The Medusa configuration shared by the server and the setup Job (engines/medusa/README.md).
DATABASE_URL and REDIS_URL are composed from the Secret by the kubelet ($(VAR) expansion);
the passwords are URL-safe tokens.
*/}}
{{- define "medusa.env" -}}
- name: DATABASE_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "medusa.secret" . }}, key: database-password}}
- name: DATABASE_URL
  value: {{ printf "postgres://%s:$(DATABASE_PASSWORD)@postgres:5432/%s?sslmode=disable" .Values.postgres.user .Values.postgres.database | quote }}
- name: JWT_SECRET
  valueFrom: {secretKeyRef: {name: {{ include "medusa.secret" . }}, key: jwt-secret}}
- name: COOKIE_SECRET
  valueFrom: {secretKeyRef: {name: {{ include "medusa.secret" . }}, key: cookie-secret}}
- name: STORE_URL
  value: {{ required "store.url is required" .Values.store.url | quote }}
{{- if .Values.redis.enabled }}
- name: REDIS_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "medusa.secret" . }}, key: redis-password}}
- name: REDIS_URL
  value: "redis://:$(REDIS_PASSWORD)@redis:6379"
{{- end }}
- name: ADMIN_UI_ENABLED
  value: {{ .Values.medusa.adminUi | toString | quote }}
- name: MEDUSA_DISABLE_TELEMETRY
  value: "true"
- name: XDG_CONFIG_HOME
  value: /tmp
{{- end }}
