# Sourced by the build-*.sh scripts: build a Go program from its module (the Go module proxy is
# reachable, release downloads are not) into a cache outside the checkout.
#
#   go_build_cached NAME MODULE VERSION PACKAGE EXPECT [PREPARE]
# prints the binary's path. EXPECT is a fixed string that `NAME $VERSION_ARGS` (default: version)
# prints for the right build: a program of that version already on PATH is used as it is, and a
# cached build is reused. PREPARE, if given, is a function run inside the module's source.

go_build_cached() {
    local name=$1 module=$2 version=$3 package=$4 expect=$5 prepare=${6:-}
    local cache="${XDG_CACHE_HOME:-$HOME/.cache}/microservices-demo/$name-$version"
    local bin="$cache/$name" found
    # grep reads all of it (no -q): quitting at the first match would kill the binary with SIGPIPE
    # mid-output, and under the callers' pipefail a good build would be built again.
    for found in "$(command -v "$name" 2>/dev/null || true)" "$bin"; do
        if [ -n "$found" ] && [ -x "$found" ] \
            && "$found" ${VERSION_ARGS:-version} 2>&1 | grep -F "$expect" >/dev/null; then
            echo "$found"
            return 0
        fi
    done
    local src work started=$SECONDS
    command -v go >/dev/null || {  # else: "go: command not found", then a traceback from the JSON read
        echo "$name: Go is needed to build $name $version from its module (first run only), and no go is" \
            "installed (go.dev/dl, or your package manager; 1.25 or newer)" >&2
        return 1
    }
    src=$(go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') \
        || { echo "$name: could not download $module@$version from the Go module proxy" >&2; return 1; }
    bash "$(dirname "${BASH_SOURCE[0]}")/require.sh" go "$(awk '$1 == "go" {print $2; exit}' "$src/go.mod")" \
        "$name $version" || return 1
    echo "first run: building $name $version from its Go module (once; a few minutes)..." >&2
    work=$(mktemp -d)
    cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
    (
        cd "$work/src"
        if [ -n "$prepare" ]; then "$prepare"; fi
        mkdir -p "$cache"
        CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w ${GO_LDFLAGS:-}" -o "$bin.tmp" "$package"
    ) >&2 || { chmod -R u+w "$work"; rm -rf "$work"; echo "$name: the build failed (above)" >&2; return 1; }
    chmod -R u+w "$work" && rm -rf "$work"
    mv "$bin.tmp" "$bin"
    echo "built $name $version in $((SECONDS - started)) s: $bin" >&2
    echo "$bin"
}
