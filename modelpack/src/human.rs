//! Sizes for people: the progress names of the frontend's steps and the
//! CLI's lines show byte counts the same way.

/// Bytes as `999 B`, `1.23 MB`, `4.97 GB` (powers of 1000).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(4_970_000_000), "4.97 GB");
    }
}
