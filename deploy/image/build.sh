#!/usr/bin/env bash
# Build the exporter's container image without Docker: Debian's buildah, no registry, as root.
#
#   sudo deploy/image/build.sh [--tag NAME] [--iidfile FILE] [--refresh-base]
#
#   --tag NAME      the image's name (default conformance-pack-exporter, i.e.
#                   localhost/conformance-pack-exporter:latest)
#   --iidfile FILE  write the image's ID to FILE as well as to stdout (the rest goes to stderr)
#   --refresh-base  make the stand-in base image afresh (new Debian packages)
#
# Environment: CACHE_DIR (default /var/cache/conformance-pack-exporter), DEBIAN_MIRROR
# (default http://deb.debian.org/debian), PYTHON (the interpreter whose pip settings the
# build uses; default python3).
#
# 1. The base image. No registry can be reached, so the Dockerfile's `FROM debian:<suite>-slim`
#    is made here the way Docker's official image is (debuerreotype's examples/debian.sh):
#    debootstrap --variant=minbase, Debian's sources for <suite>, -updates and -security, a
#    full-upgrade, the minimizing and "slim" dpkg/apt configuration, logs, caches and package
#    lists removed. The root file system is kept as a tarball in $CACHE_DIR/<suite>-<arch>/ and
#    committed to buildah's storage as docker.io/library/debian:<suite>-slim; both are reused
#    until --refresh-base. A real debian:<suite>-slim pulled into the same storage is used as is.
# 2. pip's settings on this machine (`pip config list`: its files and PIP_* variables) become
#    build secrets (deploy/image/pip_settings.py): the build stage reaches the package index
#    the way pip does here, and no layer or history entry keeps them.
# 3. buildah build --format docker (the OCI format has no HEALTHCHECK) --layers (unchanged
#    steps are reused) --pull=never, with VERSION and REVISION from the package and git.
#    Untagged images that the build did not use are removed afterwards (vfs copies every
#    layer in full); the images and layers are in buildah's storage, /var/lib/containers.
#
# buildah runs with --storage-driver vfs and --isolation chroot: no daemon, no overlay mount,
# no OCI runtime. Exit status: 0 built, 1 a step failed, 2 bad arguments or missing tools.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tag=conformance-pack-exporter
iidfile=
refresh_base=

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { echo "build.sh: $*" >&2; exit 2; }
say() { echo "build.sh: $*" >&2; }

while [ "$#" -gt 0 ]; do
    case "$1" in
        --tag) tag="${2:?--tag needs a name}"; shift 2 ;;
        --tag=*) tag="${1#*=}"; shift ;;
        --iidfile) iidfile="${2:?--iidfile needs a file}"; shift 2 ;;
        --iidfile=*) iidfile="${1#*=}"; shift ;;
        --refresh-base) refresh_base=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, and buildah's chroot isolation)"
for tool in buildah debootstrap unshare tar; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install buildah debootstrap)"
done
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || die "no $python: set PYTHON to an interpreter with pip"

cache_dir="${CACHE_DIR:-/var/cache/conformance-pack-exporter}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
arch="$(dpkg --print-architecture)"

bah() { buildah --storage-driver vfs "$@"; }

# The base image the Dockerfile names, e.g. `FROM debian:bookworm-slim AS python`.
base="$(sed -n 's/^FROM \(debian:[a-z]*-slim\)\( .*\)\{0,1\}$/\1/p' "$repo/Dockerfile" | sort -u)"
[[ "$base" =~ ^debian:([a-z]+)-slim$ ]] || die "the Dockerfile's FROM lines name no single debian:<suite>-slim"
suite="${BASH_REMATCH[1]}"
base_image="docker.io/library/$base"

# Runs a command chrooted into a root file system, with /proc mounted in a private mount
# namespace (gone when the command ends, whatever happens).
in_root() {
    local root="$1"
    shift
    # shellcheck disable=SC2016 # $1 and $@ are the inner shell's
    unshare --mount --propagation private -- \
        sh -c 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"' sh "$root" "$root" "$@"
}

# debuerreotype-minimizing-config: no service starts, no fsync, no kept .debs, compressed
# package lists, no translations.
minimize() {
    local root="$1"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' \
        >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
    local clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<CLEAN
DPkg::Post-Invoke { $clean };
APT::Update::Post-Invoke { $clean };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CLEAN
    echo 'Acquire::GzipIndexes "true";' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    chmod 0644 "$root"/etc/dpkg/dpkg.cfg.d/docker-* "$root"/etc/apt/apt.conf.d/docker-*
}

# debuerreotype-slimify: documentation, manuals and translations removed, and dpkg told to
# leave them out of every package installed later (copyright files stay).
slimify() {
    local root="$1" pattern
    local excludes=(/usr/share/doc/'*' /usr/share/groff/'*' /usr/share/info/'*'
        /usr/share/linda/'*' /usr/share/lintian/overrides/'*' /usr/share/locale/'*'
        /usr/share/man/'*')
    local includes=(/usr/share/doc/'*'/copyright /usr/share/doc/kde/HTML/C/'*'
        /usr/share/gnome/help/'*'/C/'*' /usr/share/locale/all_languages
        /usr/share/locale/currency/'*' /usr/share/locale/l10n/'*' /usr/share/locale/languages
        /usr/share/locale/locale.alias /usr/share/omf/'*'/'*'-C.emf)
    local keep=()
    for pattern in "${includes[@]}"; do keep+=(${keep[0]+-o} -path "$pattern"); done
    {
        echo '# This is the "slim" variant of the Debian base image.'
        for pattern in "${excludes[@]}"; do echo "path-exclude $pattern"; done
        for pattern in "${includes[@]}"; do echo "path-include $pattern"; done
    } >"$root/etc/dpkg/dpkg.cfg.d/docker"
    for pattern in "${excludes[@]}"; do
        local dir="${pattern%/\*}"
        [ -d "$root$dir" ] || continue
        # Inside the chroot, so absolute symlinks resolve within the image.
        chroot "$root" find "$dir" -depth -mindepth 1 -not \( "${keep[@]}" \) \
            -not \( -type d -o -type l \) -delete
        while [ -n "$(chroot "$root" find "$dir" -depth -mindepth 1 \( -empty -o -xtype l \) \
            -print -delete)" ]; do :; done
    done
}

make_base_tarball() {
    local tarball="$1" root="$1.rootfs"
    rm -rf "$root"
    mkdir -p "$cache_dir/debs"
    say "debootstrap --variant=minbase $suite ($arch) from $mirror"
    debootstrap --variant=minbase --merged-usr --force-check-gpg --arch="$arch" \
        --cache-dir="$cache_dir/debs" \
        "$suite" "$root" "$mirror" >"$tarball.log" 2>&1 \
        || { tail -n 20 "$tarball.log" >&2; return 1; }
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    minimize "$root"
    in_root "$root" apt-mark auto '.*' >/dev/null
    say "apt-get full-upgrade ($suite, $suite-updates, $suite-security)"
    in_root "$root" env DEBIAN_FRONTEND=noninteractive sh -c \
        'apt-get update -qq && apt-get full-upgrade -y -qq' >>"$tarball.log" 2>&1 \
        || { tail -n 20 "$tarball.log" >&2; return 1; }
    slimify "$root"
    # debuerreotype-fixup and its tar excludes: no logs, caches, package lists or machine id.
    rm -rf "${root:?}"/var/log/{dpkg,bootstrap,alternatives}.log "${root:?}"/var/log/apt/*.log \
        "${root:?}/var/cache/ldconfig/aux-cache" "${root:?}"/var/cache/apt/* \
        "${root:?}"/var/lib/apt/lists/* "${root:?}/etc/machine-id" "${root:?}"/dev/* \
        "${root:?}/run/mount"
    mkdir -p "$root/var/lib/apt/lists/partial"
    echo debuerreotype >"$root/etc/hostname"
    printf 'nameserver 1.1.1.1\nnameserver 1.0.0.1\n' >"$root/etc/resolv.conf"
    tar --create --file "$tarball.tmp" --directory "$root" --numeric-owner --sort=name \
        --exclude='./proc/*' --exclude='./sys/*' .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
}

# The stand-in for the Dockerfile's base image, unless buildah's storage has it already.
ensure_base() {
    local key="$cache_dir/$suite-$arch" container mountpoint
    mkdir -p "$key"
    if [ -n "$refresh_base" ]; then
        rm -f "$key/rootfs.tar"
        bah rmi --force "$base_image" >/dev/null 2>&1 || true
    elif bah inspect --type image "$base_image" >/dev/null 2>&1; then
        say "base image $base_image: in buildah's storage"
        return
    fi
    [ -f "$key/rootfs.tar" ] || make_base_tarball "$key/rootfs.tar"
    say "base image $base_image: committing $key/rootfs.tar"
    container="$(bah from --pull=never scratch)"
    mountpoint="$(bah mount "$container")"
    tar --extract --file "$key/rootfs.tar" --directory "$mountpoint" --numeric-owner \
        --preserve-permissions
    bah umount "$container" >/dev/null
    bah config --os linux --arch "$arch" --cmd '["bash"]' \
        --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$container"
    bah commit --quiet --format docker --rm "$container" "$base_image" >/dev/null
}

# One build at a time: builds share the base, the layer cache and the clean-up below.
mkdir -p "$cache_dir"
exec 9>"$cache_dir/lock"
flock 9
ensure_base

secrets="$(mktemp -d)"
trap 'rm -rf "$secrets"' EXIT
secret_args="$("$python" "$here/pip_settings.py" "$secrets")"
mapfile -t secret_args <<<"$secret_args"

version="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$repo/exporter/__init__.py")"
revision="$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)"

say "buildah build $tag (version $version, revision $revision)"
log="$secrets/build.log"
bah build --isolation chroot --format docker --layers --pull=never \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    "${secret_args[@]}" --tag "$tag" --file "$repo/Dockerfile" "$repo" 2>&1 | tee "$log" >&2
image_id="$(bah inspect --type image --format '{{.FromImageID}}' "$tag")"

# With the vfs driver every layer is a full copy of the file system: drop the untagged
# images (older builds' steps and images) that this build did not use, or each build of
# changed sources would keep another ~600 MB. The steps it used, which buildah lists as
# `--> ID` (not with --iidfile), stay as the next build's cache.
used="$(sed -n 's/^--> \(Using cache \)\{0,1\}\([0-9a-f]\{11,\}\)$/\2/p' "$log")"
stale=()
[ -n "$used" ] || say "no \`--> ID\` lines in buildah's output: keeping every untagged image"
untagged() { bah images --all --noheading --no-trunc --format '{{.ID}} {{.Name}}' | awk '$2 == "<none>" { print $1 }'; }
for image in $([ -z "$used" ] || untagged); do
    id="${image#sha256:}"
    in_use=
    for prefix in $used; do
        [[ "$id" == "$prefix"* ]] && in_use=1 && break
    done
    [ -n "$in_use" ] || stale+=("$id")
done
if [ "${#stale[@]}" -gt 0 ]; then
    say "removing ${#stale[@]} untagged images no step of this build used"
    bah rmi "${stale[@]}" >/dev/null 2>&1 || true
fi

[ -z "$iidfile" ] || echo "$image_id" >"$iidfile"
echo "$image_id"
