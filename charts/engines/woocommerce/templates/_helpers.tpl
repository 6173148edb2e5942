{{/* Labels every object carries; the provisioner adds the platform's own on top. */}}
{{- define "woo.labels" -}}
app.kubernetes.io/name: woocommerce
app.kubernetes.io/instance: {{ required "store.slug is required" .root.Values.store.slug | quote }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: storefleet
{{- end }}

{{/* Pod selector of one component; stable across chart versions. */}}
{{- define "woo.selector" -}}
app.kubernetes.io/name: woocommerce
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "woo.secret" -}}
{{ required "secretName is required" .Values.secretName }}
{{- end }}

{{/* Pod-level security context shared by every pod: non-root, RuntimeDefault seccomp. */}}
{{- define "woo.podSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security context: nothing to escalate to, nothing writable but volumes. */}}
{{- define "woo.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The WordPress configuration shared by the web pod and the wp-cli pods. */}}
{{- define "woo.wordpressEnv" -}}
- name: WORDPRESS_DB_HOST
  value: "mariadb:3306"
- name: WORDPRESS_DB_NAME
  value: {{ .Values.database.name | quote }}
- name: WORDPRESS_DB_USER
  value: {{ .Values.database.user | quote }}
- name: WORDPRESS_DB_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "woo.secret" . }}, key: database-password}}
{{- range $env, $key := dict "WORDPRESS_AUTH_KEY" "auth-key" "WORDPRESS_SECURE_AUTH_KEY" "secure-auth-key" "WORDPRESS_LOGGED_IN_KEY" "logged-in-key" "WORDPRESS_NONCE_KEY" "nonce-key" "WORDPRESS_AUTH_SALT" "auth-salt" "WORDPRESS_SECURE_AUTH_SALT" "secure-auth-salt" "WORDPRESS_LOGGED_IN_SALT" "logged-in-salt" "WORDPRESS_NONCE_SALT" "nonce-salt" }}
- name: {{ $env }}
  valueFrom: {secretKeyRef: {name: {{ include "woo.secret" $ }}, key: {{ $key }}}}
{{- end }}
- name: STORE_URL
  value: {{ required "store.url is required" .Values.store.url | quote }}
- name: WORDPRESS_CONFIG_EXTRA
  value: |
    define('WP_HOME', getenv('STORE_URL'));
    define('WP_SITEURL', getenv('STORE_URL'));
    // The CronJob runs WP-Cron and the Action Scheduler; page loads do not.
    define('DISABLE_WP_CRON', true);
    // Core comes from the image; plugins and uploads live on the content volume.
    define('WP_AUTO_UPDATE_CORE', false);
    define('FS_METHOD', 'direct');
    {{- if .Values.wordpress.disallowFileMods }}
    // The operator's choice: no plugin or theme installs, updates or edits from wp-admin.
    define('DISALLOW_FILE_MODS', true);
    {{- end }}
    // TLS ends at the ingress controller: trust its X-Forwarded-Proto, or HTTPS loops.
    if (isset($_SERVER['HTTP_X_FORWARDED_PROTO']) && strpos($_SERVER['HTTP_X_FORWARDED_PROTO'], 'https') !== false) {
      $_SERVER['HTTPS'] = 'on';
    }
{{- if .Values.smtp.secretName }}
{{- range $env, $key := dict "SMTP_HOST" "host" "SMTP_PORT" "port" "SMTP_USERNAME" "username" "SMTP_PASSWORD" "password" "SMTP_FROM" "from" }}
- name: {{ $env }}
  valueFrom: {secretKeyRef: {name: {{ $.Values.smtp.secretName }}, key: {{ $key }}}}
{{- end }}
{{- end }}
{{- end }}

{{/* Schedules a wp-cli pod next to the web pod when the content volume is ReadWriteOnce. */}}
{{- define "woo.colocate" -}}
{{- if and .Values.wordpress.colocate (eq .Values.wordpress.contentAccessMode "ReadWriteOnce") }}
affinity:
  podAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "woo.selector" (dict "component" "web") | nindent 12 }}
{{- end }}
{{- end }}

{{/*
A pod running wp-cli against the store: an init container copies WordPress core out of
the pinned wordpress image (the cli image has none), then wp-cli runs with core in an
emptyDir and wp-content on the store's volume, as uid 33 like the web pod.
*/}}
{{- define "woo.wpcliPod" -}}
{{- $root := .root -}}
metadata:
  labels:
    {{- include "woo.labels" (dict "root" $root "component" .component) | nindent 4 }}
spec:
  restartPolicy: Never
  serviceAccountName: woocommerce
  automountServiceAccountToken: false
  enableServiceLinks: false
  securityContext:
    {{- include "woo.podSecurity" (dict "uid" 33) | nindent 4 }}
  {{- include "woo.colocate" $root | nindent 2 }}
  initContainers:
    - name: wordpress-core
      image: {{ $root.Values.images.wordpress }}
      imagePullPolicy: {{ $root.Values.images.pullPolicy }}
      command: ["sh", "-c", "tar -C /usr/src/wordpress --exclude=./wp-content -cf - . | tar -C /core -xf - && cp /usr/src/wordpress/wp-config-docker.php /core/wp-config.php"]
      resources: {{- toYaml .resources | nindent 8 }}
      securityContext: {{- include "woo.containerSecurity" . | nindent 8 }}
      volumeMounts:
        - {name: core, mountPath: /core}
  containers:
    - name: wp-cli
      image: {{ $root.Values.images.cli }}
      imagePullPolicy: {{ $root.Values.images.pullPolicy }}
      command: ["sh", "/scripts/{{ .script }}"]
      workingDir: /var/www/html
      env:
        {{- include "woo.wordpressEnv" $root | nindent 8 }}
        - {name: HOME, value: /tmp}
        - {name: WP_CLI_CACHE_DIR, value: /tmp/wp-cli-cache}
        {{- with .env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      resources: {{- toYaml .resources | nindent 8 }}
      securityContext: {{- include "woo.containerSecurity" . | nindent 8 }}
      # wp-cli runs to completion; these only catch a hung run of a long setup.
      startupProbe:
        exec: {command: ["sh", "-c", "test -d /var/www/html/wp-includes"]}
        periodSeconds: 5
      livenessProbe:
        exec: {command: ["sh", "-c", "test -d /var/www/html/wp-includes"]}
        periodSeconds: 30
        failureThreshold: 3
      readinessProbe:
        exec: {command: ["sh", "-c", "test -d /var/www/html/wp-includes"]}
        periodSeconds: 10
      volumeMounts:
        - {name: core, mountPath: /var/www/html}
        - {name: content, mountPath: /var/www/html/wp-content}
        - {name: scripts, mountPath: /scripts, readOnly: true}
        - {name: tmp, mountPath: /tmp}
  volumes:
    - {name: core, emptyDir: {sizeLimit: 256Mi}}
    - {name: content, persistentVolumeClaim: {claimName: wordpress-content}}
    - {name: scripts, configMap: {name: wordpress-scripts}}
    - {name: tmp, emptyDir: {sizeLimit: 512Mi}}  # wp-cli's downloads (WooCommerce)
{{- end }}
