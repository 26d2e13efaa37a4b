//go:build tools

// Package tools pins the Pulumi CLI this project builds (`make setup`): go.mod/go.sum fix its
// version and every dependency. pkg/v3's own go.mod has replace directives, so `go install
// pkg@version` refuses it; a dependency of this module is built with `go build` instead.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
