//! [`StallBounded`]: a reader whose reads give up when the source sends
//! nothing for a while. The streamed publish reads Hub and URL bodies
//! through it, so a server that stops sending fails the file after
//! [`crate::download::STALL`] instead of holding the publish forever, as
//! the in-build downloader's watchdog does.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

/// Bytes the reading thread reads at a time.
const CHUNK: usize = 256 * 1024;

/// A [`Read`] read on a thread of its own: a read that gets no byte for
/// `stall` fails with [`io::ErrorKind::TimedOut`]. At most two chunks of
/// [`CHUNK`] bytes wait between the thread and the reader. After a stall
/// the thread stays blocked in its read until the process exits (a stalled
/// socket cannot be interrupted from outside); dropping the reader ends a
/// thread that is not blocked.
pub struct StallBounded {
    chunks: Receiver<io::Result<Vec<u8>>>,
    pending: Vec<u8>,
    at: usize,
    ended: bool,
    stall: Duration,
    what: String,
}

impl StallBounded {
    /// Reads `inner` (named `what` in errors) with the stall bound `stall`.
    pub fn new<R: Read + Send + 'static>(inner: R, what: &str, stall: Duration) -> Self {
        let (tx, rx) = mpsc::sync_channel(1);
        std::thread::spawn(move || pump(inner, tx));
        StallBounded {
            chunks: rx,
            pending: Vec::new(),
            at: 0,
            ended: false,
            stall,
            what: what.to_string(),
        }
    }
}

/// The reading thread: chunks of `inner` into `tx` until its end, an error
/// or a dropped receiver.
fn pump<R: Read>(mut inner: R, tx: SyncSender<io::Result<Vec<u8>>>) {
    loop {
        let mut buf = vec![0u8; CHUNK];
        match inner.read(&mut buf) {
            Ok(0) => {
                let _ = tx.send(Ok(Vec::new()));
                return;
            }
            Ok(n) => {
                buf.truncate(n);
                if tx.send(Ok(buf)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

impl Read for StallBounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.pending.len() {
            if self.ended || buf.is_empty() {
                return Ok(0);
            }
            match self.chunks.recv_timeout(self.stall) {
                Ok(Ok(chunk)) if chunk.is_empty() => {
                    self.ended = true;
                    return Ok(0);
                }
                Ok(Ok(chunk)) => {
                    self.pending = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "{}: nothing received for {} s (the stall bound); the server stalled, try again later",
                            self.what,
                            self.stall.as_secs_f64()
                        ),
                    ))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::other(format!(
                        "{}: the reading thread stopped unexpectedly",
                        self.what
                    )))
                }
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives `bytes`, then blocks until `hold` is dropped or sent to.
    struct ThenStall {
        bytes: Option<Vec<u8>>,
        hold: Receiver<()>,
    }

    impl Read for ThenStall {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if let Some(b) = self.bytes.take() {
                buf[..b.len()].copy_from_slice(&b);
                return Ok(b.len());
            }
            let _ = self.hold.recv();
            Ok(0)
        }
    }

    #[test]
    fn every_byte_passes_through_in_order() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let mut r = StallBounded::new(io::Cursor::new(data.clone()), "f", Duration::from_secs(60));
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, data);
        assert_eq!(r.read(&mut [0u8; 8]).unwrap(), 0);
    }

    #[test]
    fn a_source_that_stops_sending_fails_after_the_bound() {
        let (release, hold) = mpsc::channel();
        let inner = ThenStall {
            bytes: Some(b"head".to_vec()),
            hold,
        };
        let mut r = StallBounded::new(inner, "model.safetensors", Duration::from_millis(100));
        let mut got = [0u8; 4];
        r.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"head");
        let e = r.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(
            e.to_string()
                .starts_with("model.safetensors: nothing received for 0.1 s"),
            "{e}"
        );
        drop(release);
    }

    #[test]
    fn the_sources_error_is_passed_on() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "reset by peer",
                ))
            }
        }
        let mut r = StallBounded::new(Broken, "f", Duration::from_secs(60));
        let e = r.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    }
}
