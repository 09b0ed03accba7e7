# Sourced by build-consul.sh and build-compose.sh: build a Go program from its module (the Go
# module proxy is reachable, release downloads are not) into a cache outside the checkout.
#
#   go_build_cached NAME MODULE VERSION PACKAGE EXPECT [PREPARE]
# prints the binary's path. EXPECT is a fixed string that `NAME $VERSION_ARGS` (default: version)
# prints for the right build, so a cached binary is reused; PREPARE, if given, is a function run
# inside the module's source.

go_build_cached() {
    local name=$1 module=$2 version=$3 package=$4 expect=$5 prepare=${6:-}
    local cache="${XDG_CACHE_HOME:-$HOME/.cache}/microservices-demo/$name-$version"
    local bin="$cache/$name"
    # grep reads all of it (no -q): quitting at the first match would kill the binary with SIGPIPE
    # mid-output, and under the callers' pipefail a good cached build would be rebuilt.
    if [ -x "$bin" ] && "$bin" ${VERSION_ARGS:-version} 2>&1 | grep -F "$expect" >/dev/null; then
        echo "$bin"
        return 0
    fi
    command -v go >/dev/null || { echo "$name: Go is required to build it (apt-get install golang)" >&2; return 1; }
    echo "build $name $version from its Go module (a few minutes, once)" >&2
    local src work
    src=$(go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    work=$(mktemp -d)
    cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
    (
        cd "$work/src"
        if [ -n "$prepare" ]; then "$prepare"; fi
        mkdir -p "$cache"
        CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w ${GO_LDFLAGS:-}" -o "$bin.tmp" "$package"
    ) >&2 || { chmod -R u+w "$work"; rm -rf "$work"; return 1; }
    chmod -R u+w "$work" && rm -rf "$work"
    mv "$bin.tmp" "$bin"
    "$bin" ${VERSION_ARGS:-version} >&2
    echo "$bin"
}
