{{/* Chart name, truncated to a DNS label. */}}
{{- define "cpip.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart unless the release name already contains the chart name. */}}
{{- define "cpip.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "cpip.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "cpip.labels" -}}
helm.sh/chart: {{ include "cpip.chart" . }}
{{ include "cpip.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cpip
{{- end }}

{{/* Labels that select the release's pods (add app.kubernetes.io/component per workload). */}}
{{- define "cpip.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cpip.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cpip.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cpip.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The migration hook runs before the release's own objects exist, so it has its own account. */}}
{{- define "cpip.migrationServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- printf "%s-migrate" (include "cpip.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- include "cpip.serviceAccountName" . }}
{{- end }}
{{- end }}

{{- define "cpip.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "cpip.configMapName" -}}
{{- printf "%s-config" (include "cpip.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cpip.exportsClaimName" -}}
{{- default (printf "%s-exports" (include "cpip.fullname" .)) .Values.exports.persistence.existingClaim }}
{{- end }}

{{/*
Non-secret settings as a flat map of CPIP_* variables: the ConfigMap and the migration hook (which
runs before the ConfigMap exists) render from this one definition.
*/}}
{{- define "cpip.settings" -}}
CPIP_ENV: {{ .Values.env | quote }}
CPIP_LOG_LEVEL: {{ .Values.logLevel | quote }}
CPIP_MAX_BODY_BYTES: {{ .Values.maxBodyBytes | int64 | quote }}
CPIP_DATABASE_POOL_SIZE: {{ .Values.database.poolSize | int | quote }}
{{- with .Values.keycloak.serverUrl }}
CPIP_OIDC_SERVER_URL: {{ . | quote }}
{{- end }}
CPIP_OIDC_REALM: {{ .Values.keycloak.realm | quote }}
CPIP_OIDC_AUDIENCE: {{ .Values.keycloak.audience | quote }}
CPIP_OIDC_LEEWAY_SECONDS: {{ .Values.keycloak.leewaySeconds | int | quote }}
CPIP_SEARCH_BACKEND: {{ .Values.search.backend | quote }}
{{- if and (eq .Values.search.backend "elasticsearch") (not .Values.search.elasticsearch.existingSecret) }}
CPIP_ELASTICSEARCH_URL: {{ .Values.search.elasticsearch.url | quote }}
{{- end }}
{{- if and .Values.redis.url (not .Values.redis.existingSecret) }}
CPIP_REDIS_URL: {{ .Values.redis.url | quote }}
{{- end }}
CPIP_EXPORT_DIR: {{ .Values.exports.mountPath | quote }}
CPIP_WORKER_CONCURRENCY: {{ .Values.worker.concurrency | int | quote }}
CPIP_JOB_LEASE_SECONDS: {{ .Values.worker.jobLeaseSeconds | int | quote }}
{{- end }}

{{/* Secret settings: references only (secretKeyRef), never values. */}}
{{- define "cpip.secretEnv" -}}
{{- if .Values.database.existingSecret }}
- name: CPIP_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret | quote }}
      key: {{ .Values.database.urlKey | quote }}
{{- end }}
{{- with .Values.appSecrets }}
{{- if .existingSecret }}
- name: CPIP_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .secretKeyKey | quote }}
- name: CPIP_AUDIT_HMAC_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .auditHmacKeyKey | quote }}
- name: CPIP_AUDIT_SIGNING_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .auditSigningKeyKey | quote }}
{{- if .previousSecretKeysKey }}
- name: CPIP_PREVIOUS_SECRET_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret | quote }}
      key: {{ .previousSecretKeysKey | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (eq .Values.search.backend "elasticsearch") .Values.search.elasticsearch.existingSecret }}
- name: CPIP_ELASTICSEARCH_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.search.elasticsearch.existingSecret | quote }}
      key: {{ .Values.search.elasticsearch.urlKey | quote }}
{{- end }}
{{- if .Values.redis.existingSecret }}
- name: CPIP_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret | quote }}
      key: {{ .Values.redis.urlKey | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The restrictive container securityContext every container gets. */}}
{{- define "cpip.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "cpip.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "cpip.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit | quote }}
{{- end }}

{{- define "cpip.exportsVolume" -}}
- name: exports
{{- if .Values.exports.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ include "cpip.exportsClaimName" . }}
{{- else }}
  emptyDir:
    sizeLimit: {{ .Values.exports.emptyDir.sizeLimit | quote }}
{{- end }}
{{- end }}

{{/* Restarts pods when the non-secret settings change. */}}
{{- define "cpip.configChecksum" -}}
checksum/config: {{ include "cpip.settings" . | sha256sum }}
{{- end }}
