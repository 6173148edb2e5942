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
The uploads claim's access mode. Anything but ReadWriteMany is mounted by one node at a
time: ReadWriteOncePod allows a single replica only.
*/}}
{{- define "medusa.uploadsAccessMode" -}}
{{- $mode := .Values.medusa.uploadsAccessMode }}
{{- if not (has $mode (list "ReadWriteOnce" "ReadWriteOncePod" "ReadWriteMany")) }}
{{- fail (printf "medusa.uploadsAccessMode must be ReadWriteOnce, ReadWriteOncePod or ReadWriteMany, not %q" $mode) }}
{{- end }}
{{- if and (eq $mode "ReadWriteOncePod") (gt (int .Values.medusa.replicas) 1) }}
{{- fail "medusa.uploadsAccessMode ReadWriteOncePod allows one replica only: set medusa.replicas to 1" }}
{{- end }}
{{- $mode }}
{{- end }}

{{/*
How the web pods share the uploads claim when one node mounts it at a time: a rollout
stops the old pods before it starts new ones (a RollingUpdate's new pod would wait for a
volume the old pod still holds, or cross nodes and never get it), and more than one
replica run on one node, the one the volume is attached to.
*/}}
{{- define "medusa.uploadsStrategy" -}}
{{- if ne (include "medusa.uploadsAccessMode" .) "ReadWriteMany" }}
strategy: {type: Recreate}
{{- end }}
{{- end }}

{{- define "medusa.uploadsAffinity" -}}
{{- if and (ne (include "medusa.uploadsAccessMode" .) "ReadWriteMany") (gt (int .Values.medusa.replicas) 1) }}
affinity:
  podAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "medusa.selector" (dict "component" "web") | nindent 12 }}
{{- end }}
{{- end }}

{{/*
The origins a browser may call the Store, Admin and Auth APIs from: the store's address
(store.url: its primary domain's once its owner chose one) and its own host's
(store.platformUrl), which keeps answering.
*/}}
{{- define "medusa.origins" -}}
{{- $origins := list .Values.store.url }}
{{- with .Values.store.platformUrl }}
{{- $origins = append $origins . }}
{{- end }}
{{- $origins | uniq | join "," }}
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
{{- $origins := include "medusa.origins" . }}
- name: STORE_CORS
  value: {{ $origins | quote }}
- name: ADMIN_CORS
  value: {{ $origins | quote }}
- name: AUTH_CORS
  value: {{ $origins | quote }}
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
