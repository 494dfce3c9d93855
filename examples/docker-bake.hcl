# Three models as bake targets, each from a recipe in examples/recipes
# (run from the repository root):
#   docker buildx bake -f examples/docker-bake.hcl                 # all three, to out/<target>
#   HF_TOKEN=hf_… docker buildx bake -f examples/docker-bake.hcl gated
# Each result is an OCI layout; push it with skopeo or oras (see the
# README, "Pushing the layout"), e.g.
#   skopeo copy oci:out/hub:qwen3 docker://registry.example.com/models/qwen3:v1
# The recipe is the target's dockerfile, relative to its context.
# BUILDKIT_SYNTAX selects the frontend image and wins over the recipes'
# `# syntax=` line, so one variable switches every target.

variable "FRONTEND" { default = "localhost:5000/modelpack-frontend:dev" }
variable "HF_ENDPOINT" { default = "https://huggingface.co" }
variable "HUB_REPO" { default = "Qwen/Qwen3-0.6B" }
variable "GATED_REPO" { default = "meta-llama/Llama-3.2-1B" }
variable "LOCAL_DIR" { default = "examples/tiny-model" }
variable "RECIPES" { default = "examples/recipes" }
# Network of the in-build token downloads (gated target): "default", or
# "host" on engines without a default network. "host" needs the
# network.host entitlement, which only buildx >= 0.19 bake can grant:
#   DOWNLOAD_NETWORK=host docker buildx bake --allow network.host gated
# (buildx 0.13 bake ignores `entitlements` and has no --allow).
variable "DOWNLOAD_NETWORK" { default = "default" }
# Results go to OUT/<target>.
variable "OUT" { default = "out" }
# The local target's recipe, relative to LOCAL_DIR (or absolute).
variable "LOCAL_RECIPE" { default = "../recipes/tiny.yaml" }

group "default" {
  targets = ["hub", "gated", "local"]
}

target "_modelpack" {
  target = "packager/modelpack"
  args = {
    BUILDKIT_SYNTAX = FRONTEND
    hf_endpoint = HF_ENDPOINT
    download_network = DOWNLOAD_NETWORK
  }
}

# A public Hub repo; the recipe reads the build arg `repo`.
target "hub" {
  inherits = ["_modelpack"]
  context = RECIPES
  dockerfile = "hub.yaml"
  args = { repo = HUB_REPO }
  output = ["type=local,dest=${OUT}/hub"]
}

# A gated repo: the token comes from the environment as the hf-token secret.
target "gated" {
  inherits = ["_modelpack"]
  context = RECIPES
  dockerfile = "gated.yaml"
  args = { repo = GATED_REPO }
  secret = ["id=hf-token,env=HF_TOKEN"]
  entitlements = DOWNLOAD_NETWORK == "host" ? ["network.host"] : []
  output = ["type=local,dest=${OUT}/gated"]
}

# A local directory (the build context).
target "local" {
  inherits = ["_modelpack"]
  context = LOCAL_DIR
  dockerfile = LOCAL_RECIPE
  output = ["type=local,dest=${OUT}/local"]
}
