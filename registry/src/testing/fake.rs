//! A scriptable HTTP/1.1 server on 127.0.0.1 for protocol edge cases that
//! a real registry will not produce on demand.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A request as the fake server saw it.
#[derive(Clone, Debug)]
pub struct FakeReq {
    /// Method (`GET`, `PATCH`, …).
    pub method: String,
    /// Path with query.
    pub path: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl FakeReq {
    /// First header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What to answer.
pub enum FakeResp {
    /// A complete response.
    Reply {
        /// Status code.
        status: u16,
        /// Headers (`Content-Length` is added when missing).
        headers: Vec<(String, String)>,
        /// Body (not sent for HEAD).
        body: Vec<u8>,
    },
    /// Send the head (with this Content-Length) and part of the body, then close.
    Truncated {
        /// Status code.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// Announced body length.
        content_length: usize,
        /// The bytes actually sent before closing.
        partial: Vec<u8>,
    },
}

/// Shorthand for [`FakeResp::Reply`].
pub fn reply(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> FakeResp {
    FakeResp::Reply {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.into(),
    }
}

type Handler = dyn Fn(&FakeReq) -> FakeResp + Send + Sync;

/// A fake server thread; stops accepting on drop.
pub struct FakeServer {
    /// Listening address.
    pub addr: SocketAddr,
    /// Every request received.
    pub requests: Arc<Mutex<Vec<FakeReq>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

impl FakeServer {
    /// Starts serving with `handler` (keep-alive; one thread per connection).
    pub fn start(handler: impl Fn(&FakeReq) -> FakeResp + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<FakeReq>>> = Arc::default();
        let stop: Arc<AtomicBool> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let (reqs, stop2) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (h, r) = (handler.clone(), reqs.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &*h, &r);
                });
            }
        });
        FakeServer {
            addr,
            requests,
            stop,
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// A copy of the requests so far.
    pub fn seen(&self) -> Vec<FakeReq> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, handler: &Handler, reqs: &Mutex<Vec<FakeReq>>) -> std::io::Result<()> {
    let mut out = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body)?;
        let req = FakeReq {
            method,
            path,
            headers,
            body,
        };
        reqs.lock().unwrap().push(req.clone());
        let head_only = req.method == "HEAD";
        match handler(&req) {
            FakeResp::Reply {
                status,
                headers,
                body,
            } => {
                let mut s = format!("HTTP/1.1 {status} X\r\n");
                let has_len = headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
                for (k, v) in &headers {
                    s.push_str(&format!("{k}: {v}\r\n"));
                }
                if !has_len {
                    s.push_str(&format!("Content-Length: {}\r\n", body.len()));
                }
                s.push_str("\r\n");
                out.write_all(s.as_bytes())?;
                if !head_only {
                    out.write_all(&body)?;
                }
                out.flush()?;
            }
            FakeResp::Truncated {
                status,
                headers,
                content_length,
                partial,
            } => {
                let mut s = format!("HTTP/1.1 {status} X\r\nContent-Length: {content_length}\r\n");
                for (k, v) in &headers {
                    s.push_str(&format!("{k}: {v}\r\n"));
                }
                s.push_str("\r\n");
                out.write_all(s.as_bytes())?;
                out.write_all(&partial)?;
                out.flush()?;
                std::thread::sleep(std::time::Duration::from_millis(20));
                let _ = out.shutdown(Shutdown::Both);
                return Ok(());
            }
        }
    }
}
