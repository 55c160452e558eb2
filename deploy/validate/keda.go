package validate

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The KEDA objects of deploy/kubernetes/keda.yaml (keda.sh/v1alpha1), mirrored field for
// field, JSON names included, from KEDA's own API types (github.com/kedacore/keda/v2,
// apis/keda/v1alpha1), for the fields these manifests use. KEDA's module is not imported:
// its API package links controller-runtime, an expression language and KEDA's metrics,
// and the module brings hundreds of others (every cloud's SDK) into go.sum. Decoding
// strictly into these types refuses a field they lack, so a typo or a field that KEDA
// does not have fails the test; a field that KEDA has and the manifests start to use
// is added here, with the same JSON name.

// ScaledObject mirrors v1alpha1.ScaledObject.
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ScaledObjectSpec `json:"spec"`
}

// ScaledObjectSpec mirrors v1alpha1.ScaledObjectSpec.
type ScaledObjectSpec struct {
	ScaleTargetRef   *ScaleTarget    `json:"scaleTargetRef"`
	PollingInterval  *int32          `json:"pollingInterval,omitempty"`
	CooldownPeriod   *int32          `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount *int32          `json:"idleReplicaCount,omitempty"`
	MinReplicaCount  *int32          `json:"minReplicaCount,omitempty"`
	MaxReplicaCount  *int32          `json:"maxReplicaCount,omitempty"`
	Advanced         *AdvancedConfig `json:"advanced,omitempty"`
	Triggers         []ScaleTriggers `json:"triggers"`
}

// AdvancedConfig mirrors v1alpha1.AdvancedConfig.
type AdvancedConfig struct {
	HorizontalPodAutoscalerConfig *HorizontalPodAutoscalerConfig `json:"horizontalPodAutoscalerConfig,omitempty"`
	RestoreToOriginalReplicaCount bool                           `json:"restoreToOriginalReplicaCount,omitempty"`
}

// HorizontalPodAutoscalerConfig mirrors v1alpha1.HorizontalPodAutoscalerConfig; its
// behavior is Kubernetes's own type, as in KEDA.
type HorizontalPodAutoscalerConfig struct {
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
	Name     string                                         `json:"name,omitempty"`
}

// ScaleTarget mirrors v1alpha1.ScaleTarget.
type ScaleTarget struct {
	Name       string `json:"name"`
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// ScaleTriggers mirrors v1alpha1.ScaleTriggers: one scaler. Metadata is the scaler's
// own settings (for rabbitmq: protocol, vhostName, queueName, mode, value), which KEDA
// takes as strings.
type ScaleTriggers struct {
	Type              string                         `json:"type"`
	Name              string                         `json:"name,omitempty"`
	UseCachedMetrics  bool                           `json:"useCachedMetrics,omitempty"`
	Metadata          map[string]string              `json:"metadata"`
	AuthenticationRef *AuthenticationRef             `json:"authenticationRef,omitempty"`
	MetricType        autoscalingv2.MetricTargetType `json:"metricType,omitempty"`
}

// AuthenticationRef mirrors v1alpha1.AuthenticationRef.
type AuthenticationRef struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// TriggerAuthentication mirrors v1alpha1.TriggerAuthentication, with the one way of
// authenticating that keda.yaml uses: parameters read from Secrets.
type TriggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec TriggerAuthenticationSpec `json:"spec"`
}

// TriggerAuthenticationSpec mirrors v1alpha1.TriggerAuthenticationSpec.
type TriggerAuthenticationSpec struct {
	SecretTargetRef []AuthSecretTargetRef `json:"secretTargetRef,omitempty"`
}

// AuthSecretTargetRef mirrors v1alpha1.AuthSecretTargetRef: the scaler parameter
// Parameter takes the value of key Key of Secret Name.
type AuthSecretTargetRef struct {
	Parameter string `json:"parameter"`
	Name      string `json:"name"`
	Key       string `json:"key"`
}
