//! Where this binary is inside the frontend image: every build step that
//! re-executes it (`steps`'s steps, `emit`'s write-docs step, the
//! Hub's downloads) runs it by this path.

/// Path of this binary inside the frontend image.
pub const BINARY: &str = "/modelpack-frontend";
