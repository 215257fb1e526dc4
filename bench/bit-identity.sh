#!/usr/bin/env bash
# By-hand bit-identity check for refactors (issue 15): runs the same configs with a reference
# mtl-engine and a candidate, compares metrics.json (minus epoch_seconds), progress.jsonl (minus elapsed), every
# artifact byte for byte, and checkpoint.safetensors (tensor bytes + header minus epoch_seconds).
# OPENBLAS_CORETYPE is pinned here only, so both binaries get the same kernels.
# Covers every kind and method (single_task, lora, dora, mtlora, tglora with a measured similarity
# and with given group counts, faar with PDRS / TS-PD / XT-Cons and its ablation, bitfit, adapter),
# PVT-v2 (MTLoRA, TGLoRA, FAAR, BitFit, DoRA), the HRNet, SegFormer and ASPP heads, NYUD tasks,
# the real-data loader (the NYUD test fixture), at the smoke profile, 1 thread, and six of them
# again at 2 threads.
# usage: bench/bit-identity.sh REF_BINARY NEW_BINARY [WORKDIR]   (prints BIT-IDENTICAL or NOT IDENTICAL)
set -u
REF=$1; NEW=$2; WORK=${3:-/tmp/bitid-$$}
export OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1
FIX=$(cd "$(dirname "$0")/.." && pwd)/Tests/EngineTests/Fixtures
mkdir -p "$WORK/shared"
S='"profile": "smoke", "seed": 3'
# Dependencies (a pretrained backbone, a similarity matrix) come from the reference binary once
# and sit at one fixed path, so both binaries see byte-identical configs.
if [ ! -f "$WORK/shared/backbone.safetensors" ]; then
  mkdir -p "$WORK/dep-pre" && echo "{\"kind\": \"pretrain\", $S}" > "$WORK/dep-pre/config.json"
  MTL_THREADS=1 "$REF" --config "$WORK/dep-pre/config.json" --out "$WORK/dep-pre" >/dev/null 2>&1 || { echo "dependency pretrain failed"; exit 1; }
  cp "$WORK/dep-pre/backbone.safetensors" "$WORK/shared/"
  mkdir -p "$WORK/dep-sim" && echo "{\"kind\": \"task_similarity\", $S, \"pretrained\": \"$WORK/shared/backbone.safetensors\"}" > "$WORK/dep-sim/config.json"
  MTL_THREADS=1 "$REF" --config "$WORK/dep-sim/config.json" --out "$WORK/dep-sim" >/dev/null 2>&1 || { echo "dependency similarity failed"; exit 1; }
  cp "$WORK/dep-sim/similarity.json" "$WORK/shared/"
fi
P="\"pretrained\": \"$WORK/shared/backbone.safetensors\""
declare -A C=(
  [pretrain]="{\"kind\": \"pretrain\", $S}"
  [trivial]="{\"kind\": \"trivial\", $S}"
  [single_full]="{\"kind\": \"single_task\", $S, \"task\": \"normals\"}"
  [single_lora]="{\"kind\": \"single_task\", $S, \"task\": \"semseg\", \"method\": \"lora\", \"rank\": 4}"
  [mtl_full]="{\"kind\": \"mtl_full\", $S}"
  [mtl_decoders]="{\"kind\": \"mtl_decoders\", $S, $P}"
  [task_similarity]="{\"kind\": \"task_similarity\", $S, $P}"
  [mtl_lora_dora]="{\"kind\": \"mtl_full\", $S, \"method\": \"lora\", \"adapter\": \"dora\", \"rank\": 4, \"lora_dropout\": 0.1}"
  [mtlora]="{\"kind\": \"mtl_full\", $S, \"method\": \"mtlora\", \"rank\": 4, \"task_rank\": 2, \"adapt_patch_merging\": true}"
  [mtlora_aspp]="{\"kind\": \"mtl_full\", $S, \"method\": \"mtlora\", \"rank\": 4, \"decoder\": \"aspp\"}"
  [tglora]="{\"kind\": \"mtl_full\", $S, \"method\": \"tglora\", \"rank\": 8, \"task_similarity\": \"$WORK/shared/similarity.json\"}"
  [tglora_attn]="{\"kind\": \"mtl_full\", $S, \"method\": \"tglora\", \"rank\": 8, \"groups_per_stage\": [1, 1, 1, 4], \"adapter_locations\": \"attn\"}"
  [faar]="{\"kind\": \"mtl_full\", $S, \"method\": \"faar\", \"rank\": 8, \"epochs\": 3}"
  [faar_segformer]="{\"kind\": \"mtl_full\", $S, \"method\": \"faar\", \"rank\": 8, \"decoder\": \"segformer\", \"epochs\": 3, $P}"
  [faar_lora_nopdrs]="{\"kind\": \"mtl_full\", $S, \"method\": \"faar\", \"adapter\": \"lora\", \"pdrs\": false, \"rank\": 4}"
  [bitfit]="{\"kind\": \"mtl_full\", $S, \"method\": \"bitfit\"}"
  [adapter]="{\"kind\": \"mtl_full\", $S, \"method\": \"adapter\"}"
  [nyud_faar]="{\"kind\": \"mtl_full\", $S, \"dataset\": \"nyud\", \"method\": \"faar\", \"rank\": 4, \"decoder\": \"aspp\"}"
  [nyud_real_mtlora]="{\"kind\": \"mtl_full\", $S, \"dataset\": \"nyud\", \"data_root\": \"$FIX/nyud\", \"method\": \"mtlora\", \"rank\": 4, \"batch_size\": 1}"
  [pvt_mtlora]="{\"kind\": \"mtl_full\", $S, \"backbone\": \"pvt_v2_mini\", \"method\": \"mtlora\", \"rank\": 4, \"task_rank\": 2}"
  [pvt_tglora]="{\"kind\": \"mtl_full\", $S, \"backbone\": \"pvt_v2_mini\", \"method\": \"tglora\", \"rank\": 8, \"groups_per_stage\": [1, 2, 2, 4], \"task_similarity\": \"$WORK/shared/similarity.json\"}"
  [pvt_faar]="{\"kind\": \"mtl_full\", $S, \"backbone\": \"pvt_v2_mini\", \"method\": \"faar\", \"rank\": 8, \"epochs\": 3}"
  [pvt_bitfit]="{\"kind\": \"mtl_full\", $S, \"backbone\": \"pvt_v2_mini\", \"method\": \"bitfit\"}"
  [pvt_dora]="{\"kind\": \"mtl_full\", $S, \"backbone\": \"pvt_v2_mini\", \"method\": \"lora\", \"adapter\": \"dora\", \"rank\": 4, \"lora_dropout\": 0.1}"
  [swin_tglora_dora]="{\"kind\": \"mtl_full\", $S, \"method\": \"tglora\", \"adapter\": \"dora\", \"rank\": 8, \"groups_per_stage\": [1, 2, 3, 4], \"lora_dropout\": 0.1, \"task_similarity\": \"$WORK/shared/similarity.json\"}"
  [swin_mtlora_nopm_noothers]="{\"kind\": \"mtl_full\", $S, \"method\": \"mtlora\", \"rank\": 4, \"others_trainable\": false}"
)
compare() {  # ref-dir new-dir -> prints differences, returns 1 on any
  python3 - "$1" "$2" <<'PY'
import json, os, struct, sys
a, b = sys.argv[1], sys.argv[2]
bad = []
fa, fb = sorted(os.listdir(a)), sorted(os.listdir(b))
if fa != fb: bad.append(f"files differ: {fa} vs {fb}")
def st(path):
    raw = open(path, 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]
    text = raw[8:8 + n].decode().rstrip()
    if text.endswith(',}'): text = text[:-2] + '}'  # a checkpoint without tensors (kind trivial)
    header = json.loads(text); header.get('__metadata__', {}).pop('epoch_seconds', None)
    return header, raw[8 + n:]
for f in fa:
    if f not in fb: continue
    pa, pb = os.path.join(a, f), os.path.join(b, f)
    if f == 'metrics.json':
        ma, mb = json.load(open(pa)), json.load(open(pb))
        ma.pop('epoch_seconds', None); mb.pop('epoch_seconds', None)
        if ma != mb: bad.append(f"{f}: {json.dumps(ma)[:300]} vs {json.dumps(mb)[:300]}")
    elif f == 'progress.jsonl':
        def lines(p):
            out = []
            for line in open(p):
                d = json.loads(line); d.pop('elapsed', None); out.append(d)
            return out
        if lines(pa) != lines(pb): bad.append(f"{f} differs")
    elif f == 'checkpoint.safetensors':
        if st(pa) != st(pb): bad.append(f"{f} differs")
    elif f in ('stdout.log', 'stderr.log'):
        continue
    elif open(pa, 'rb').read() != open(pb, 'rb').read():
        bad.append(f"{f} differs")
for x in bad: print("   ", x)
sys.exit(1 if bad else 0)
PY
}
fail=0
run() {  # name threads
  local name=$1 threads=$2 d
  for side in ref new; do
    d="$WORK/$name-t$threads-$side"; rm -rf "$d"; mkdir -p "$d"
    echo "${C[$name]}" > "$d/config.json"
    bin=$REF; [ $side = new ] && bin=$NEW
    (cd "$d" && MTL_THREADS=$threads OPENBLAS_NUM_THREADS=$threads "$bin" --config "$d/config.json" --out "$d" >"$d/stdout.log" 2>"$d/stderr.log") \
      || { echo "FAIL $name t$threads: $side exited $? ($(tail -1 "$d/stderr.log"))"; fail=1; return; }
  done
  if compare "$WORK/$name-t$threads-ref" "$WORK/$name-t$threads-new"; then
    echo "same $name t$threads ($(ls "$WORK/$name-t$threads-ref" | grep -v log | tr '\n' ' '))"
  else echo "DIFF $name t$threads"; fail=1; fi
}
for name in $(printf '%s\n' "${!C[@]}" | sort); do run "$name" 1; done
for name in faar mtlora_aspp tglora nyud_real_mtlora pvt_tglora pvt_mtlora; do run "$name" 2; done
[ $fail = 0 ] && echo "BIT-IDENTICAL: all configs" || echo "NOT IDENTICAL"
exit $fail
