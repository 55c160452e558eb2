// Package validate checks the deployment manifests of deploy/ against the code they
// deploy: deploy/compose.yaml through compose-spec's own loader, deploy/kubernetes/
// decoded strictly into the Kubernetes API types (and KEDA's, mirrored in keda.go), the
// handler queues against handlers.Table(), and the config and secrets they hand the
// workers against the worker's own loaders.
//
// It is a module of its own so that compose-go and k8s.io/api stay out of the
// service's go.mod; `make test` runs it and `make lint` vets it.
package validate
