#!/usr/bin/env bash
# Builds the pinned Kubernetes control plane (kube-apiserver, kube-controller-manager, kubectl), etcd and
# Helm from the published Go modules through the Go module proxy, into $HPS_BIN. Each binary is built to a
# temporary name and renamed only when the build succeeded, with a stamp naming its version, so an
# interrupted build is never mistaken for a good one.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v go >/dev/null || die "Go is missing: install Go 1.24+ (the Kubernetes and etcd builds need it)"
mkdir -p "$HPS_BIN" "$HPS_CACHE/src"
# Kubernetes' go.mod pins an older toolchain directive; keep the machine's Go rather than downloading one.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

built() { [ -x "$HPS_BIN/$1" ] && [ "$(cat "$HPS_BIN/$1.version" 2>/dev/null)" = "$2" ]; }

install_binary() { # name version tmpfile
  chmod 0755 "$3"; mv -f "$3" "$HPS_BIN/$1"; echo "$2" >"$HPS_BIN/$1.version"
}

# The control plane, the node (kubelet, kube-proxy) and the scheduler that places pods on it.
KUBE_BINARIES="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl"

build_kubernetes() {
  local v="$KUBERNETES_VERSION" all=1 b
  for b in $KUBE_BINARIES; do built "$b" "$v" || all=0; done
  [ "$all" = 1 ] && { say "kubernetes $v: cached"; return; }
  local dir="$HPS_CACHE/src/kube-$v"
  rm -rf "$dir"; mkdir -p "$dir"
  say "kubernetes $v: fetching k8s.io/kubernetes through the Go module proxy"
  local mod
  mod=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p') \
    || die "could not download k8s.io/kubernetes@$v (is the Go module proxy reachable?)"
  [ -f "$mod" ] || die "k8s.io/kubernetes@$v: no go.mod came back from the Go module proxy"
  local minor="${v#v1.}"; minor="${minor%%.*}"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with local paths; a
  # wrapper module replaces each with the published k8s.io/<name> v0.<minor>.<patch> instead.
  {
    echo "module hps.local/kube"
    echo
    grep -E '^go [0-9.]+$' "$mod"
    grep -E '^godebug ' "$mod" || true
    echo
    echo "require k8s.io/kubernetes $v"
    echo
    grep -oE '^\s*k8s.io/[a-z0-9-]+ => ./staging' "$mod" | awk -v pv="v0.${v#v1.}" '{print "replace " $1 " => " $1 " " pv}'
  } >"$dir/go.mod"
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
  (cd "$dir" && go mod tidy -e >/dev/null 2>"$dir/tidy.log") || { cat "$dir/tidy.log" >&2; die "go mod tidy failed for kubernetes $v"; }
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$v"
  for b in $KUBE_BINARIES; do
    built "$b" "$v" && continue
    say "kubernetes $v: building $b (cold builds take a while on 2 cores)"
    (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$HPS_BIN/.$b.tmp" "k8s.io/kubernetes/cmd/$b") \
      || { rm -f "$HPS_BIN/.$b.tmp"; die "building $b $v failed"; }
    install_binary "$b" "$v" "$HPS_BIN/.$b.tmp"
  done
}

build_etcd() {
  local v="$ETCD_VERSION"
  built etcd "$v" && { say "etcd $v: cached"; return; }
  local dir="$HPS_CACHE/src/etcd-$v"
  rm -rf "$dir"; mkdir -p "$dir"
  # etcd's server module has replace directives, so `go install` refuses it; a wrapper main does not.
  cat >"$dir/go.mod" <<MOD
module hps.local/etcd

go 1.24

require go.etcd.io/etcd/server/v3 $v
MOD
  cat >"$dir/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  say "etcd $v: building"
  (cd "$dir" && go mod tidy >/dev/null 2>"$dir/tidy.log") || { cat "$dir/tidy.log" >&2; die "go mod tidy failed for etcd $v (is the Go module proxy reachable?)"; }
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$HPS_BIN/.etcd.tmp" .) \
    || { rm -f "$HPS_BIN/.etcd.tmp"; die "building etcd $v failed"; }
  install_binary etcd "$v" "$HPS_BIN/.etcd.tmp"
}

# Helm's module has no replace directives: its own main package installs straight from the module, with
# the version stamped as its Makefile does (`helm version` would otherwise say only "v4.3").
build_helm() {
  local v="$HELM_VERSION"
  built helm "$v" && { say "helm $v: cached"; return; }
  local gobin="$HPS_CACHE/src/helm-$v-gobin"
  rm -rf "$gobin"
  say "helm $v: building helm.sh/helm/v4/cmd/helm (a few minutes on 2 cores)"
  GOBIN="$gobin" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$v" \
      "helm.sh/helm/v4/cmd/helm@$v" \
    || { rm -rf "$gobin"; die "building helm $v failed (is the Go module proxy reachable?)"; }
  install_binary helm "$v" "$gobin/helm"
  rm -rf "$gobin"
}

build_etcd
build_kubernetes
build_helm
say "go binaries ready in $HPS_BIN"
