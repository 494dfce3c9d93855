//! Compiles our own `.proto` subset with protox (pure Rust, no system
//! `protoc`) and generates prost messages plus a tonic client. Every proto
//! map becomes a `BTreeMap` so marshalling is deterministic.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/pb/ops.proto",
        "proto/gateway/gateway.proto",
        "proto/google/rpc/status.proto",
        "proto/fsutil/stat.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .btree_map(".")
        .compile_fds(descriptors)?;
    Ok(())
}
