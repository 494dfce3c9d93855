# Several models in several layer formats in one `docker buildx bake`, with
# one shared build cache: every target exports its own cache and imports
# all of them, so the formats of one model share its downloads and a fresh
# runner takes them from the cache instead of the Hub.
#
# Run it through examples/ci/publish.sh (MODE=bake), which sets these
# variables from its environment and then pushes each target's layout to
# its tag with the frontend's command line:
#
#   MODE=bake FRONTEND=ghcr.io/you/modelpack-frontend:v0.1.0 \
#   MODELS="minilm=huggingface://sentence-transformers/all-MiniLM-L6-v2 qwen=huggingface://Qwen/Qwen3-0.6B" \
#   FORMATS=raw,tar+zstd REGISTRY=registry.example.com/models TAG=v1 CACHE=registry \
#   examples/ci/publish.sh
#
# gives the targets minilm-raw, minilm-tar-zstd, qwen-raw and qwen-tar-zstd,
# pushed to registry.example.com/models/minilm:v1-raw, …:v1-tar-zstd, ….

variable "FRONTEND" { default = "" }
# Space-separated NAME=SOURCE pairs.
variable "MODELS" { default = "" }
# Comma-separated layer formats: raw, tar, tar+gzip, tar+zstd.
variable "FORMATS" { default = "raw" }
variable "HF_ENDPOINT" { default = "https://huggingface.co" }
# Only tested for emptiness: the token itself goes in as the hf-token secret.
variable "HF_TOKEN" { default = "" }
variable "DOWNLOAD_NETWORK" { default = "default" }
# The build context: the build args say what to package, so no file of it is read.
variable "CONTEXT" { default = "." }
variable "OUT" { default = "out" }
variable "REGISTRY" { default = "" }
variable "TAG" { default = "latest" }
# Cache: CACHE_TO and CACHE_FROM are cache specs in which @KEY@ stands for
# CACHE_KEY:<target> (CACHE_KIND=registry) or CACHE_KEY/<target> (local).
variable "CACHE_KIND" { default = "none" }
variable "CACHE_KEY" { default = "" }
variable "CACHE_TO" { default = "" }
variable "CACHE_FROM" { default = "" }

function "models" {
  params = []
  result = compact(split(" ", MODELS))
}
function "formats" {
  params = []
  result = compact(split(",", FORMATS))
}
function "model_name" {
  params = [m]
  result = split("=", m)[0]
}
function "model_source" {
  params = [m]
  result = join("=", slice(split("=", m), 1, length(split("=", m))))
}
function "format_tag" {
  params = [f]
  result = replace(f, "+", "-")
}
function "target_name" {
  params = [m, f]
  result = "${model_name(m)}-${format_tag(f)}"
}
function "cache_key" {
  params = [name]
  result = CACHE_KIND == "local" ? "${CACHE_KEY}/${name}" : "${CACHE_KEY}:${name}"
}

group "default" {
  targets = ["model"]
}

target "model" {
  name = target_name(m, f)
  matrix = {
    m = models()
    f = formats()
  }
  context = CONTEXT
  target = "packager/modelpack"
  args = {
    BUILDKIT_SYNTAX = FRONTEND
    source = model_source(m)
    layer_packaging = f
    hf_endpoint = HF_ENDPOINT
    download_network = DOWNLOAD_NETWORK
  }
  secret = HF_TOKEN == "" ? [] : ["id=hf-token,env=HF_TOKEN"]
  entitlements = DOWNLOAD_NETWORK == "host" ? ["network.host"] : []
  # Where publish.sh pushes the layout (the local output ignores tags).
  tags = REGISTRY == "" ? [] : ["${REGISTRY}/${model_name(m)}:${TAG}-${format_tag(f)}"]
  output = ["type=local,dest=${OUT}/${target_name(m, f)}"]
  cache-to = CACHE_TO == "" ? [] : [replace(CACHE_TO, "@KEY@", cache_key(target_name(m, f)))]
  cache-from = CACHE_FROM == "" ? [] : flatten([
    for mm in models() : [
      for ff in formats() : replace(CACHE_FROM, "@KEY@", cache_key(target_name(mm, ff)))
    ]
  ])
}
