#!/bin/sh
# Benchmarks the Tensors building blocks (forward + backward) and the sgemm peak at 1 and 2
# threads. Compiles Sources/Tensors with -O into a throwaway module; no package target needed.
# Usage: bench/tensors.sh [batch]   (from the repository root)
set -eu
out=$(mktemp -d)
flags="-O -I Sources/CBLAS -I Sources/CFFTW $(pkg-config --cflags openblas fftw3f | sed 's/-I/-Xcc -I/g')"
swiftc $flags -parse-as-library -emit-module -emit-library -static -module-name Tensors \
    -emit-module-path "$out/Tensors.swiftmodule" -o "$out/libTensors.a" Sources/Tensors/*.swift
swiftc $flags -I "$out" bench/tensors/main.swift "$out/libTensors.a" \
    $(pkg-config --libs openblas fftw3f) -o "$out/tensors-bench"
"$out/tensors-bench" "$@"
rm -rf "$out"
