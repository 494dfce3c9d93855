# The frontend image: one static binary on scratch. Build the binary first
# (integration/build-image.sh does both steps):
#   RUSTFLAGS="-C target-feature=+crt-static" cargo build --release \
#     --target x86_64-unknown-linux-gnu -p modelpack-frontend
#   mkdir -p dist && cp target/x86_64-unknown-linux-gnu/release/modelpack-frontend dist/
#   docker build -t <registry>/modelpack-frontend:<tag> . && docker push <registry>/modelpack-frontend:<tag>
FROM scratch
COPY dist/modelpack-frontend /modelpack-frontend
# The frontend never needs a network: BuildKit fetches sources itself.
LABEL moby.buildkit.frontend.network.none="true"
# Gateway capabilities this frontend implements (subrequests: --call targets|outline|check).
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.subrequests"
ENTRYPOINT ["/modelpack-frontend"]
