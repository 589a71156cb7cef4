#!/usr/bin/env bash
# CI: the whole test suite on Debian 12's own kernel (6.1), booted under qemu.
#
#   scripts/ci-kernels.sh [BUILD] [-R REGEX] [-E REGEX]
#
# BUILD: a build dir made by scripts/build.sh (default: build, relative to the
# repository). -R and -E go to ctest. Run as root. Exit status: the suite's
# (ctest's); 100 when the suite passed and the demo failed; 124 when the run
# timed out; 1 when the guest never reached the suite (then the console log
# says why).
#
# .ci/run runs it (every executable scripts/ci-*.sh). In the guest: the
# whole ctest suite (unit, integration, the differential test, portwatch,
# docs; -R/-E narrow it), then the demo (scripts/demo.sh), unless -R or -E
# was given. Tests that need a kernel feature 6.1 lacks skip with the reason.
#
# The host stays untouched: the kernel package (linux-image-amd64's 6.1 image:
# the cloud flavour has no 9p) and busybox-static are fetched with
# `apt-get download` and unpacked into a temp dir with `dpkg-deb -x`; nothing
# lands in /boot or /lib/modules and no initramfs or bootloader hook runs. Only
# qemu-system-x86 is installed (apt-get), when qemu-system-x86_64 is missing.
#
# The guest: a busybox initramfs loads the virtio and 9p modules and mounts
#   - the host's / read-only over 9p as the lower layer of an overlay whose
#     upper layer is a tmpfs, so the guest may write anywhere and nothing
#     reaches the host;
#   - BUILD read-write over 9p at the host's absolute path (CMake baked
#     absolute paths into the tests), so ctest's logs land in BUILD/Testing;
#   - proc, sysfs, devtmpfs, devpts, cgroup2, bpffs, tmpfs on /tmp, /run and
#     /dev/shm; the kernel's own modules on /lib/modules of the initramfs, where
#     the kernel's module loader (request_module) finds busybox modprobe;
# brings lo up, loads inet_diag, tcp_diag and udp_diag (on Debian they load on
# demand; here they are loaded up front so that no test depends on the
# loader), and runs `ctest -j1 --output-on-failure` as root in a chroot of the
# overlay; then powers off.
#
# Environment:
#   CI_KERNEL_PACKAGE  kernel package (default: what linux-image-amd64 depends on)
#   CI_KERNEL_TIMEOUT  seconds for the whole qemu run (default 2400)
#   CI_KERNEL_MEM      guest memory in MiB (default 4096)
#   CI_KERNEL_CPUS     guest vCPUs (default: the host's, at most 4)
#   CI_KERNEL_KEEP     a directory to copy the console log to
set -euo pipefail

self=$(readlink -f "$0")
src=$(cd "$(dirname "$self")/.." && pwd)
log() { echo "ci-kernel: $*"; }
fail() { echo "ci-kernel: FAIL: $*" >&2; exit 1; }
usage() { echo "usage: ci-kernels.sh [BUILD] [-R REGEX] [-E REGEX]" >&2; exit 2; }

build=build
ctest_filter=()
while (($#)); do
  case $1 in
    -R|-E) (($# >= 2)) || usage; ctest_filter+=("$1" "$2"); shift 2 ;;
    -h|--help) usage ;;
    -*) echo "ci-kernel: unknown option '$1'" >&2; usage ;;
    *) build=$1; shift ;;
  esac
done
cd "$src"
[ "$(id -u)" = 0 ] || fail "must run as root (the suite's integration tests need root in the guest, qemu's 9p passthrough needs it on the host)"
[ -f "$build/CTestTestfile.cmake" ] || fail "'$build' is not a build dir (no CTestTestfile.cmake); run: BUILD_DIR=$build ./scripts/build.sh"
build=$(cd "$build" && pwd -P)
timeout_s=${CI_KERNEL_TIMEOUT:-2400}
mem=${CI_KERNEL_MEM:-4096}
cpus=${CI_KERNEL_CPUS:-$(( $(nproc) < 4 ? $(nproc) : 4 ))}
for n in "$timeout_s" "$mem" "$cpus"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || fail "CI_KERNEL_TIMEOUT, CI_KERNEL_MEM and CI_KERNEL_CPUS must be positive integers, got '$n'"
done

started=$SECONDS
work=$(mktemp -d /tmp/ci-kernel.XXXXXX)
cleanup() {
  local pid pidfile
  for pidfile in "$work/probe.pid" "$work/qemu.pid"; do
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    # Only our qemu: the pid file's process, still running qemu.
    [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */qemu-system-x86_64 ]] || continue
    kill "$pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- packages --------------------------------------------------------------
apt_updated=false
apt_update_once() {
  $apt_updated && return 1
  log "apt-get update"
  apt-get update -qq || fail "apt-get update failed"
  apt_updated=true
}
if ! command -v qemu-system-x86_64 >/dev/null; then
  log "installing qemu-system-x86"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null ||
    { apt_update_once && apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null; } ||
    fail "cannot install qemu-system-x86 with apt-get"
fi

kernel_pkg=${CI_KERNEL_PACKAGE:-}
if [ -z "$kernel_pkg" ]; then
  resolve() { apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'; }
  kernel_pkg=$(resolve) || true
  if [ -z "$kernel_pkg" ]; then apt_update_once || true; kernel_pkg=$(resolve) || true; fi
  [ -n "$kernel_pkg" ] || fail "cannot find the kernel package linux-image-amd64 depends on (apt-cache depends linux-image-amd64)"
fi
mkdir -p "$work/debs"
chmod 755 "$work"
# apt-get download drops to _apt; let it write here.
if id _apt >/dev/null 2>&1; then chown _apt "$work/debs"; fi
download() {
  (cd "$work/debs" && apt-get download -qq "$@")
}
log "downloading $kernel_pkg and busybox-static (apt-get download)"
download "$kernel_pkg" busybox-static ||
  { apt_update_once && download "$kernel_pkg" busybox-static; } ||
  fail "cannot download $kernel_pkg and busybox-static with apt-get download"
kernel_deb=$(compgen -G "$work/debs/${kernel_pkg}_*.deb" | head -n1) || true
busybox_deb=$(compgen -G "$work/debs/busybox-static_*.deb" | head -n1) || true
[ -n "$kernel_deb" ] && [ -n "$busybox_deb" ] || fail "apt-get download left no .deb for $kernel_pkg or busybox-static in $work/debs"
kernel_version=$(dpkg-deb -f "$kernel_deb" Version)
mkdir -p "$work/ci"
dpkg-deb -x "$kernel_deb" "$work/ci/kernel" || fail "cannot unpack $kernel_deb"
dpkg-deb -x "$busybox_deb" "$work/busybox" || fail "cannot unpack $busybox_deb"
rm -rf "$work/debs"
busybox=$work/busybox/bin/busybox
[ -x "$busybox" ] || fail "busybox-static has no bin/busybox"
kver=$(cd "$work/ci/kernel/lib/modules" && ls)
[ -n "$kver" ] && [ "$(wc -w <<<"$kver")" = 1 ] || fail "expected one kernel release in $kernel_pkg's /lib/modules, found '$kver'"
vmlinuz=$work/ci/kernel/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || fail "$kernel_pkg has no /boot/vmlinuz-$kver"
case $kver in 6.1.*) ;; *) log "warning: $kernel_pkg is kernel $kver, not 6.1 (Debian 12's)" ;; esac
log "kernel: $kernel_pkg $kernel_version ($kver)"
moddir=$work/ci/kernel/lib/modules/$kver
# The package ships no modules.dep (its postinst runs depmod): make one, in the temp dir.
"$busybox" depmod -b "$work/ci/kernel" "$kver" || fail "busybox depmod failed on $moddir"

# --- initramfs -------------------------------------------------------------
initramfs=$work/initramfs
mkdir -p "$initramfs"/{bin,sbin,proc,sys,dev,ci,lower,upper,newroot} "$initramfs/lib/modules/$kver"
cp "$busybox" "$initramfs/bin/busybox"
ln -s busybox "$initramfs/bin/sh"
ln -s ../bin/busybox "$initramfs/sbin/modprobe"   # the kernel's module loader calls /sbin/modprobe
cp "$moddir"/modules.{dep,alias,symbols,builtin,order} "$initramfs/lib/modules/$kver/"
# The modules that make 9p over virtio-pci, with everything they depend on.
for m in virtio_pci 9pnet_virtio 9p; do
  line=$(grep -E "(^|/)$m\.ko(\.[a-z]+)?:" "$moddir/modules.dep") || fail "$m is not in $kver's modules.dep"
  for f in ${line/:/}; do
    mkdir -p "$initramfs/lib/modules/$kver/$(dirname "$f")"
    cp "$moddir/$f" "$initramfs/lib/modules/$kver/$f"
  done
done
cat >"$initramfs/init" <<'EOF'
#!/bin/sh
# PID 1 of the ci-kernel guest: mounts, then the suite in a chroot, then poweroff.
export PATH=/bin:/sbin
/bin/busybox --install -s /bin
say() { echo "ci-kernel guest: $*"; }
die() { say "FAIL: $*"; sync; poweroff -f; sleep 5; echo o >/proc/sysrq-trigger; sleep 60; }
mount9p() {  # TAG DIR [OPTIONS]: the virtio device can come up after modprobe returns
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    mount -t 9p -o "trans=virtio,version=9p2000.L,msize=262144${3:+,$3}" "$1" "$2" 2>/dev/null && return 0
    sleep 0.5
  done
  mount -t 9p -o "trans=virtio,version=9p2000.L,msize=262144${3:+,$3}" "$1" "$2"
}
mount -t proc proc /proc && mount -t sysfs sysfs /sys && mount -t devtmpfs devtmpfs /dev || die "cannot mount proc, sysfs, devtmpfs"
# The accelerator probe: the kernel got this far.
if grep -qw ci_kernel_probe /proc/cmdline; then say "probe ok"; poweroff -f; sleep 60; fi
modprobe virtio_pci && modprobe 9pnet_virtio && modprobe 9p || die "cannot load virtio_pci, 9pnet_virtio, 9p"
mount9p ci /ci || die "cannot mount the ci share"
mount --bind /ci/kernel/lib/modules /lib/modules || die "cannot bind the kernel's modules onto /lib/modules"
for m in overlay inet_diag tcp_diag udp_diag; do modprobe "$m" || die "cannot load $m"; done
mount9p hostroot /lower ro,cache=loose || die "cannot mount the host's / (9p)"
mount -t tmpfs -o mode=0755 upper /upper && mkdir /upper/data /upper/work || die "cannot mount the overlay's tmpfs"
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /newroot || die "cannot mount the overlay root"
r=/newroot
mount -t proc proc $r/proc && mount -t sysfs sysfs $r/sys && mount -t devtmpfs devtmpfs $r/dev || die "cannot mount proc, sysfs, devtmpfs in the root"
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $r/dev/pts && mount -t tmpfs -o mode=1777 shm $r/dev/shm || die "cannot mount devpts, /dev/shm"
mount -t cgroup2 cgroup2 $r/sys/fs/cgroup || die "cannot mount cgroup2"
mount -t bpf bpf $r/sys/fs/bpf || die "cannot mount bpffs"
mount -t tmpfs -o mode=1777 tmp $r/tmp && mount -t tmpfs -o mode=0755 run $r/run || die "cannot mount /tmp, /run"
mkdir -p $r/run/ci-kernel && mount --bind /ci $r/run/ci-kernel || die "cannot bind the ci share into the root"
build=$(cat /ci/build-dir)
mkdir -p "$r$build" && mount9p build "$r$build" || die "cannot mount the build dir at $build"
ip link set lo up || die "cannot bring lo up"
say "up after $(cut -d' ' -f1 /proc/uptime) s"
chroot $r /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  /bin/bash /run/ci-kernel/run.sh
say "modules loaded: $(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')"
sync
umount "$r$build" 2>/dev/null
poweroff -f
EOF
chmod 755 "$initramfs/init"
(cd "$initramfs" && find . | "$busybox" cpio -o -H newc 2>/dev/null | gzip -1 >"$work/initrd.gz") ||
  fail "cannot pack the initramfs"

# --- the share the guest reads its job from and writes its results to -------
mkdir -p "$work/ci"
printf '%s\n' "$build" >"$work/ci/build-dir"
{
  echo '#!/bin/bash'
  echo '# Runs in the guest, as root, in the overlay root.'
  echo 'set -u'
  echo 'echo "ci-kernel guest: uname -r: $(uname -r)"; uname -r >/run/ci-kernel/uname'
  echo 'echo "ci-kernel guest: suite starts at uptime $(cut -d" " -f1 /proc/uptime) s"'
  printf 'ctest --test-dir %q -j1 --output-on-failure --timeout 600' "$build"
  ((${#ctest_filter[@]} == 0)) || printf ' %q' "${ctest_filter[@]}"
  echo
  echo 'status=$?'
  echo 'echo "ci-kernel guest: suite ends at uptime $(cut -d" " -f1 /proc/uptime) s, ctest exit status $status"'
  if ((${#ctest_filter[@]} == 0)); then
    printf 'cd %q && BUILD_DIR=%q ./scripts/demo.sh\n' "$src" "$(realpath --relative-to="$src" "$build")"
    echo 'demo=$?'
    echo 'echo "ci-kernel guest: demo exit status $demo at uptime $(cut -d" " -f1 /proc/uptime) s"'
    echo '[ "$status" = 0 ] && [ "$demo" != 0 ] && status=100'
  fi
  echo 'echo "$status" >/run/ci-kernel/status'
} >"$work/ci/run.sh"

# --- boot ------------------------------------------------------------------
qemu_base=(qemu-system-x86_64 -machine q35 -smp "$cpus" -m "$mem" -nographic -no-reboot -nic none
  -kernel "$vmlinuz" -initrd "$work/initrd.gz")
kernel_args="console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init"
# KVM when this kernel boots under it: /dev/kvm can be there and still not
# run it (in a nested VM the kernel may hang in its decompressor; -cpu host
# alone fails there on the IA32_ARCH_CAPABILITIES MSR, hence
# -arch-capabilities), so a probe boot decides: the initramfs says "probe ok"
# and powers off at once (about 2 s). Otherwise TCG.
accel=(-accel tcg -cpu max)
accel_name="TCG (software emulation, no KVM)"
if [ -c /dev/kvm ]; then
  probe_started=$SECONDS
  if timeout --kill-after=5 30 "${qemu_base[@]}" -accel kvm -cpu "host,-arch-capabilities" -pidfile "$work/probe.pid" \
      -append "$kernel_args ci_kernel_probe" </dev/null 2>&1 | tr -d '\r' >"$work/probe.log" &&
      grep -q '^ci-kernel guest: probe ok' "$work/probe.log"; then
    accel=(-accel kvm -cpu "host,-arch-capabilities")
    accel_name=KVM
  else
    log "warning: /dev/kvm is there but $kver does not boot under KVM within 30 s here ($(grep -m1 -E '^qemu(-system-x86_64)?: ' "$work/probe.log" || echo 'no output from the kernel')): using TCG"
  fi
  log "KVM probe took $((SECONDS - probe_started))s"
else
  log "warning: no /dev/kvm: using TCG"
fi
log "booting $kver under qemu ($accel_name, $cpus vCPUs, $mem MiB), timeout ${timeout_s}s; build dir $build"
boot_started=$SECONDS
qemu_status=0
timeout --kill-after=30 "$timeout_s" "${qemu_base[@]}" "${accel[@]}" -pidfile "$work/qemu.pid" \
  -append "$kernel_args" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
  -virtfs "local,path=$build,mount_tag=build,security_model=passthrough,multidevs=remap" \
  -virtfs "local,path=$work/ci,mount_tag=ci,security_model=passthrough" \
  </dev/null 2>&1 | tee "$work/console.log" || qemu_status=${PIPESTATUS[0]}
elapsed=$((SECONDS - boot_started))
if [ -n "${CI_KERNEL_KEEP:-}" ]; then
  mkdir -p "$CI_KERNEL_KEEP" && cp "$work/console.log" "$CI_KERNEL_KEEP/ci-kernel-console.log" ||
    log "warning: cannot copy the console log to $CI_KERNEL_KEEP"
fi

# --- verdict ---------------------------------------------------------------
echo
log "kernel package: $kernel_pkg $kernel_version"
[ -s "$work/ci/uname" ] && log "guest uname -r: $(cat "$work/ci/uname")"
log "qemu ($accel_name) ran ${elapsed}s; whole run (downloads included) $((SECONDS - started))s"
if ((qemu_status == 124 || qemu_status == 137)); then
  log "FAIL: timed out after ${timeout_s}s (CI_KERNEL_TIMEOUT); qemu killed"
  exit 124
fi
if [ ! -s "$work/ci/status" ]; then
  ((qemu_status == 0)) || log "qemu exited with status $qemu_status"
  fail "the guest did not run the suite to the end (see the console output above)"
fi
status=$(cat "$work/ci/status")
summary=$(sed -n 's/\r$//; /tests passed, .* tests failed out of/,$p' "$work/console.log" |
  grep -v '^ci-kernel guest: modules loaded' || true)
[ -n "$summary" ] && printf '%s\n' "$summary"
if [ "$status" = 0 ]; then
  log "the suite passes on $(cat "$work/ci/uname")"
else
  log "FAIL: the suite or the demo fails on $(cat "$work/ci/uname") (exit status $status; 100: the demo)"
fi
exit "$status"
