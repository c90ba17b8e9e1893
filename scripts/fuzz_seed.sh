#!/usr/bin/env bash
# Seeds each fuzz target's corpus (fuzz/corpus/<target>/, ignored by git except its
# regressions/ folder) from the shared real-world corpus and the project's own fixtures.
#
# Usage: scripts/fuzz_seed.sh
#   FUZZ_SHARED_CORPUS  the real-world corpus (default: ../shared/corpus/real beside the repo)
#
# The shared corpus is referenced, never committed: its files are copied into the ignored
# corpus folders only. Idempotent: a seed file is named after its source, so seeding twice
# rewrites the same files. Images go to decode (three times, once per op: the first byte
# selects it), probe and the decoder target of their sniffed format; event JSON goes to
# s3_event; key strings go to naming.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${FUZZ_SHARED_CORPUS:-$root/../shared/corpus/real}"
corpus="$root/fuzz/corpus"

targets=(decode probe decode_jpeg decode_png decode_webp encode_webp s3_event naming)
for t in "${targets[@]}"; do
  mkdir -p "$corpus/$t"
done

# The format by magic bytes, as src/core/format.rs sniffs it: jpeg, png, webp or other.
sniff() {
  local head
  head="$(head -c 12 "$1" | od -An -tx1 | tr -d ' \n')"
  case "$head" in
    ffd8ff*) echo jpeg ;;
    89504e470d0a1a0a*) echo png ;;
    52494646????????57454250) echo webp ;;
    *) echo other ;;
  esac
}

# A file name for a seed: the source's path below its root, flattened.
seed_name() {
  local rel="$1"
  rel="${rel//\//__}"
  echo "seed-${rel// /_}"
}

images=0
add_image() {
  local file="$1" name="$2" fmt
  fmt="$(sniff "$file")"
  cp -f "$file" "$corpus/probe/$name"
  # decode: one copy per op, behind the selector byte (0 fit, 1 thumb, 2 grayscale).
  local sel
  for sel in 0 1 2; do
    { printf '%b' "\\x0$sel"; cat "$file"; } > "$corpus/decode/$name.op$sel"
  done
  case "$fmt" in
    jpeg|png|webp) cp -f "$file" "$corpus/decode_$fmt/$name" ;;
  esac
  images=$((images + 1))
}

# 1. The real-world corpus, when it is there (CI and developers have it beside the repo).
if [[ -d "$shared" ]]; then
  while IFS= read -r -d '' f; do
    add_image "$f" "$(seed_name "real/${f#"$shared"/}")"
  done < <(find "$shared" -type f -size -2M -print0 | sort -z)
else
  echo "fuzz_seed.sh: no shared corpus at $shared (seeding from the project's files only)" >&2
fi

# 2. The project's own images: samples/ and tests/fixtures/ (whatever exists of them).
#    Every file in samples/ is an input (its hostile/ ones too); tests/fixtures/ holds other
#    kinds of fixture as well, so only what sniffs as an image is taken from there.
for dir in "$root/samples" "$root/tests/fixtures"; do
  [[ -d "$dir" ]] || continue
  while IFS= read -r -d '' f; do
    if [[ "$dir" == "$root/samples" || "$(sniff "$f")" != other ]]; then
      add_image "$f" "$(seed_name "${f#"$root"/}")"
    fi
  done < <(find "$dir" -type f -size -2M -print0 | sort -z)
done

# 3. s3_event: the project's event fixtures, and a few events made here that exercise the
#    key decoding (plus, percent escapes, UTF-8, traversal, a non-upload prefix).
events=0
if [[ -d "$root/tests/fixtures/events" ]]; then
  while IFS= read -r -d '' f; do
    cp -f "$f" "$corpus/s3_event/$(seed_name "${f#"$root"/}")"
    events=$((events + 1))
  done < <(find "$root/tests/fixtures/events" -type f -name '*.json' -print0 | sort -z)
fi
keys=(
  "uploads/cat.jpg"
  "uploads/a+b_thumb.png"
  "uploads/caf%C3%A9+%E2%98%83_grayscale.webp"
  "uploads/%2e%2e/escape.jpg"
  "uploads/a%2Fb/..%2F..%2Fx.jpg"
  "uploads/%00.jpg"
  "uploads/%FF.jpg"
  "uploads/deep/dir/photo_thumb.jpeg"
  "other/x.jpg"
  "uploads/"
)
i=0
for k in "${keys[@]}"; do
  cat > "$corpus/s3_event/seed-event-$i.json" <<EOF
{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1",
"eventTime":"2024-05-01T12:00:00.000Z","eventName":"ObjectCreated:Put",
"userIdentity":{"principalId":"AWS:EXAMPLE"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},
"responseElements":{"x-amz-request-id":"R","x-amz-id-2":"I"},
"s3":{"s3SchemaVersion":"1.0","configurationId":"uploads",
"bucket":{"name":"image-uploads","ownerIdentity":{"principalId":"EXAMPLE"},"arn":"arn:aws:s3:::image-uploads"},
"object":{"key":"$k","size":1024,"eTag":"0123456789abcdef0123456789abcdef","versionId":"v1","sequencer":"0055AED6DCD90281E5"}}}]}
EOF
  i=$((i + 1))
  events=$((events + 1))
done

# 4. naming: key strings, raw (the target also tries each under uploads/).
names=(
  "uploads/cat.jpg" "cat_thumb.jpg" "dir/cat_grayscale.png" "uploads/a..b.jpg"
  "uploads/../x.jpg" "uploads//x.jpg" "uploads/./x" "processed/x.jpg" "a\\b.jpg"
  "uploads/x_thumb/cat.jpg" "uploads/日本/写真_thumb.webp" "_thumb.jpg" "uploads/"
)
i=0
for k in "${names[@]}"; do
  printf '%s' "$k" > "$corpus/naming/seed-key-$i"
  i=$((i + 1))
done

echo "fuzz_seed.sh: $images images, $events events, ${#names[@]} keys into fuzz/corpus/"
