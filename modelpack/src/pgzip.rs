//! A gzip writer that deflates fixed-size blocks on several threads, as
//! pigz does, and still writes the same bytes for any thread count.
//!
//! The input is cut into blocks of [`BLOCK`] bytes at fixed offsets. Each
//! block is raw-deflated on its own (no dictionary from the block before,
//! which costs well under 1 % on 1 MiB blocks) and ended with a sync flush,
//! so it stops on a byte boundary and the pieces concatenate into one valid
//! deflate stream; the tail (shorter than a block, maybe empty) is the final
//! block. The CRC32 of each block is computed on its thread and combined
//! (`crc32fast::Hasher::combine`). Threads only change how many blocks are
//! in flight, never where blocks start or end, so the output depends on
//! the input and the level alone.

use std::io::{self, Write};

use flate2::write::DeflateEncoder;
use flate2::Compression;

/// Uncompressed bytes per independently deflated block.
pub const BLOCK: usize = 1 << 20;

/// gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS
/// "unknown" (255), as `flate2::GzBuilder` writes with mtime 0.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// Parallel gzip writer; call [`ParallelGzip::finish`] to end the stream.
pub struct ParallelGzip<W: Write> {
    out: W,
    level: Compression,
    threads: usize,
    pending: Vec<u8>,
    crc: crc32fast::Hasher,
    total: u64,
}

/// Deflates one block; `last` ends the deflate stream, otherwise the block
/// ends with a sync flush. Returns the compressed bytes and the block's CRC.
fn deflate_block(data: &[u8], level: Compression, last: bool) -> io::Result<(Vec<u8>, crc32fast::Hasher)> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(data);
    let mut enc = DeflateEncoder::new(Vec::with_capacity(data.len() / 2 + 64), level);
    enc.write_all(data)?;
    let bytes = if last {
        enc.finish()?
    } else {
        enc.flush()?; // Z_SYNC_FLUSH: ends on a byte boundary, stream stays open
        std::mem::take(enc.get_mut())
    };
    Ok((bytes, crc))
}

impl<W: Write> ParallelGzip<W> {
    /// A writer deflating at `level` on up to `threads` threads (at least 1).
    pub fn new(out: W, level: Compression, threads: usize) -> Self {
        let threads = threads.max(1);
        ParallelGzip {
            out,
            level,
            threads,
            pending: Vec::with_capacity(threads * BLOCK),
            crc: crc32fast::Hasher::new(),
            total: 0,
        }
    }

    /// Compresses the whole blocks in `pending` (none of them final) and
    /// writes them in order.
    fn flush_blocks(&mut self) -> io::Result<()> {
        let whole = self.pending.len() / BLOCK * BLOCK;
        if whole == 0 {
            return Ok(());
        }
        if self.total == 0 {
            self.out.write_all(&HEADER)?;
        }
        let level = self.level;
        let results: Vec<io::Result<(Vec<u8>, crc32fast::Hasher)>> = if self.threads == 1 {
            self.pending[..whole].chunks(BLOCK).map(|b| deflate_block(b, level, false)).collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = self.pending[..whole]
                    .chunks(BLOCK)
                    .map(|b| s.spawn(move || deflate_block(b, level, false)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("a gzip worker thread panicked"))))
                    .collect()
            })
        };
        for r in results {
            let (bytes, crc) = r?;
            self.out.write_all(&bytes)?;
            self.crc.combine(&crc);
        }
        self.total += whole as u64;
        self.pending.drain(..whole);
        Ok(())
    }

    /// Writes the final block and the gzip trailer; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_blocks()?;
        if self.total == 0 {
            self.out.write_all(&HEADER)?;
        }
        let (bytes, crc) = deflate_block(&self.pending, self.level, true)?;
        self.out.write_all(&bytes)?;
        self.crc.combine(&crc);
        self.total += self.pending.len() as u64;
        self.out.write_all(&self.crc.clone().finalize().to_le_bytes())?;
        // ISIZE is the length modulo 2^32 (RFC 1952).
        self.out.write_all(&(self.total as u32).to_le_bytes())?;
        Ok(self.out)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.threads * BLOCK - self.pending.len();
        let n = buf.len().min(room);
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() == self.threads * BLOCK {
            self.flush_blocks()?;
        }
        Ok(n)
    }

    /// Whole blocks are written; a partial block waits for more input, as
    /// flushing it would change the block boundaries.
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: text-like runs with a slow drift.
        (0..len).map(|i| b"weights and biases "[(i / 3 + i / 4099) % 19] ^ ((i / 65_537) as u8)).collect()
    }

    fn gzip(data: &[u8], threads: usize, chunk: usize) -> Vec<u8> {
        let mut gz = ParallelGzip::new(Vec::new(), Compression::default(), threads);
        for piece in data.chunks(chunk.max(1)) {
            gz.write_all(piece).unwrap();
        }
        gz.finish().unwrap()
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn same_bytes_for_1_2_and_8_threads_and_any_write_sizes() {
        let data = sample(5 * BLOCK + 12_345);
        let one = gzip(&data, 1, 1 << 16);
        assert_eq!(gzip(&data, 2, 1 << 16), one);
        assert_eq!(gzip(&data, 8, 1 << 16), one);
        assert_eq!(gzip(&data, 8, 777_777), one, "write sizes do not move block boundaries");
        assert_eq!(gunzip(&one), data);
        assert!(one.len() < data.len() / 2, "it compresses");
    }

    #[test]
    fn exact_multiples_and_empty_input_are_valid_streams() {
        for len in [0, 1, BLOCK - 1, BLOCK, 2 * BLOCK, 2 * BLOCK + 1] {
            let data = sample(len);
            let one = gzip(&data, 1, 1 << 20);
            assert_eq!(gzip(&data, 3, 4096), one, "len {len}");
            assert_eq!(gunzip(&one), data, "len {len}");
        }
    }

    #[test]
    fn gzip_t_accepts_the_stream() {
        let Ok(status) = std::process::Command::new("gzip").arg("--version").output() else {
            return; // gzip(1) is not installed; the decoder test above still runs
        };
        if !status.status.success() {
            return;
        }
        let data = sample(3 * BLOCK + 99);
        let path = std::env::temp_dir().join(format!("pgzip-{}.gz", std::process::id()));
        std::fs::write(&path, gzip(&data, 2, 1 << 16)).unwrap();
        let t = std::process::Command::new("gzip").arg("-t").arg(&path).status().unwrap();
        std::fs::remove_file(&path).ok();
        assert!(t.success(), "gzip -t rejected the stream");
    }
}
