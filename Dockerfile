# The frontend image: one static binary on scratch, for the platform being
# built. Build the binaries first (integration/build-binaries.sh puts them in
# dist/linux-amd64/ and dist/linux-arm64/):
#   integration/build-image.sh            amd64 only, with the tests' engine
#   integration/build-image-multiarch.sh  one index for linux/amd64 and linux/arm64
# Nothing runs at build time (the binary is only copied), so building for
# another platform needs no emulation.
FROM scratch
# Set by BuildKit to the target platform's architecture (amd64, arm64). No
# default here: a declared default would win over BuildKit's value, and every
# platform would get the amd64 binary (integration/tests/arm64.rs checks).
# The legacy builder (DOCKER_BUILDKIT=0) sets nothing and is not supported.
ARG TARGETARCH
COPY dist/linux-${TARGETARCH}/modelpack-frontend /modelpack-frontend
# The frontend never needs a network: BuildKit fetches sources itself.
LABEL moby.buildkit.frontend.network.none="true"
# Gateway capabilities this frontend implements (subrequests: --call targets|outline|check;
# contexts and inputs: packager/bundle passes buildx's --build-context on to the app's
# Dockerfile build, with the frontend inputs such a context names).
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts,moby.buildkit.frontend.inputs"
ENTRYPOINT ["/modelpack-frontend"]
