//! Generated protobuf types, laid out by proto package.
#![allow(missing_docs, clippy::all)]

/// LLB ops and definitions (`package pb`).
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/pb.rs"));
}

/// `package fsutil.types`.
pub mod fsutil {
    /// File stats returned by ReadDir/StatFile.
    pub mod types {
        include!(concat!(env!("OUT_DIR"), "/fsutil.types.rs"));
    }
}

/// `package google.rpc`.
pub mod google {
    /// The gRPC status model.
    pub mod rpc {
        include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
    }
}

/// `package moby.buildkit.v1.frontend`.
pub mod moby {
    /// BuildKit namespaces.
    pub mod buildkit {
        /// API version 1.
        pub mod v1 {
            /// The gateway (LLBBridge) API spoken by frontends.
            pub mod frontend {
                include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.frontend.rs"));
            }
        }
    }
}

/// Short alias for the gateway package.
pub use moby::buildkit::v1::frontend as gateway;
