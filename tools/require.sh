#!/usr/bin/env bash
# One clear line, not a traceback deep inside pip or go, when a tool is too old:
#     bash tools/require.sh python python3     Python 3.11 or newer
#     bash tools/require.sh go 1.25 consul      Go 1.25 or newer (to build consul)
set -euo pipefail

version_at_least() {  # version_at_least HAVE WANT: true if HAVE >= WANT (dotted numbers)
    [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

case "${1:-}" in
    python)
        program=${2:-python3}
        have=$("$program" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null) || {
            echo "Python 3.11 or newer is needed; '$program' did not run (set PYTHON=/path/to/python3.11)" >&2
            exit 1
        }
        version_at_least "$have" 3.11 || {
            echo "Python 3.11 or newer is needed; $program is $have (set PYTHON=/path/to/python3.11)" >&2
            exit 1
        }
        ;;
    go)
        want=$2 what=${3:-it}
        command -v go >/dev/null || {
            echo "Go $want or newer is needed to build $what, and no go is installed (go.dev/dl, or your package manager)" >&2
            exit 1
        }
        have=$(go env GOVERSION | sed 's/^go//')
        version_at_least "$have" "$want" || {
            echo "Go $want or newer is needed to build $what; this go is $have" >&2
            exit 1
        }
        ;;
    *)
        echo "usage: require.sh python PROGRAM | go VERSION WHAT" >&2
        exit 2
        ;;
esac
