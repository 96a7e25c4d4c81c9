{{/*
Names are fixed, as in deploy/: the chart is installed once per cluster (its ClusterRoles and its
MutatingWebhookConfiguration are cluster-wide), and the README's commands name these objects.
*/}}
{{- define "hps.webhookName" -}}haproxy-peer-sync-webhook{{- end }}
{{- define "hps.configName" -}}haproxy-peer-sync{{- end }}

{{/* The labels deploy/ puts on every object of a component, plus Helm's standard ones. */}}
{{- define "hps.labels" -}}
app.kubernetes.io/name: haproxy-peer-sync
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: haproxy-peer-sync
{{ include "hps.helmLabels" .root }}
{{- end }}

{{/* Helm's standard labels: the only difference with deploy/ that the drift test allows. */}}
{{- define "hps.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selects the webhook's pods: no release label in it, so the selector equals deploy/'s. */}}
{{- define "hps.selectorLabels" -}}
app.kubernetes.io/name: haproxy-peer-sync
app.kubernetes.io/component: webhook
{{- end }}

{{- define "hps.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "hps.selfManaged" -}}
{{- if eq .Values.certificates.mode "self-managed" }}true{{ end }}
{{- end }}

{{- define "hps.certificateName" -}}haproxy-peer-sync-webhook{{- end }}
