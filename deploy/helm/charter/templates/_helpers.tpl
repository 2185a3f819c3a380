{{- define "charter.labels" -}}
app.kubernetes.io/name: charter
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "charter.selector" -}}
app.kubernetes.io/name: charter
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "charter.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "charter.containerSecurity" -}}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
{{- end }}

{{- define "charter.env" -}}
- name: CHARTER_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secret.name }}
      key: {{ .Values.secret.databaseUrlKey }}
- name: CHARTER_MASTER_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secret.name }}
      key: {{ .Values.secret.masterKeyKey }}
- name: CHARTER_HOME
  value: /var/lib/charter
- name: CHARTER_ISSUER
  value: {{ .Values.issuer | quote }}
- name: CHARTER_LOG_FORMAT
  value: json
{{- end }}

{{- define "charter.volumeMounts" -}}
- name: home
  mountPath: /var/lib/charter
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "charter.volumes" -}}
- name: home
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- end }}
