//! The agent's HTTP/1.1 client: keep-alive connections to its one endpoint, each call
//! driven start to end by the task that makes it.
//!
//! Why not hyper's pooled client: there every call crosses tasks twice (the caller hands
//! the request to the connection's own task through channels, the answer comes back the
//! same way) and checks a connection out of a pool keyed by a hashed scheme and
//! authority. Under a fleet's replies those hops were a queue wait at each step and most
//! of the simulated agents' CPU (BENCHMARKS.md, delivery). An agent sends small JSON
//! bodies to one endpoint and reads small JSON answers: a request is one write, an
//! answer one or two reads, on the caller's task.

use std::io::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use crate::AgentError;

/// Idle connections kept for the next calls (an agent has at most a poll, a reply and a
/// health report in flight).
const MAX_IDLE: usize = 4;
/// An idle connection older than this is closed rather than reused (as hyper's pool did).
const IDLE_FOR: Duration = Duration::from_secs(30);
/// Largest answer read; an agent's answers are a few kilobytes.
const MAX_RESPONSE: usize = 16 << 20;

pub(crate) struct Http {
    host: String,
    port: u16,
    /// The Host header: the endpoint's authority, as the signature covers it.
    authority: HeaderValue,
    /// The request target: the endpoint's path.
    path: String,
    tls: Option<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>)>,
    idle: Mutex<Vec<(Conn, Instant)>>,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

struct Conn {
    stream: Stream,
    buf: Vec<u8>,
}

/// A status and body.
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// How an exchange failed: before the server sent anything (a reused connection the
/// server had closed: the call may be made again on a new one), or otherwise.
enum Failure {
    Unanswered(io::Error),
    Broken(io::Error),
}

impl Failure {
    fn into_error(self) -> io::Error {
        match self {
            Failure::Unanswered(e) | Failure::Broken(e) => e,
        }
    }
}

impl Http {
    /// For an `--endpoint` URL (http or https); https loads the system's root certificates.
    pub(crate) fn new(endpoint_url: &str) -> Result<Arc<Self>, AgentError> {
        let config = |m: String| AgentError::Config(format!("--endpoint {endpoint_url}: {m}"));
        let uri: http::Uri = endpoint_url.parse().map_err(|e: http::uri::InvalidUri| config(e.to_string()))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") | None => false,
            Some(s) => return Err(config(format!("unsupported scheme {s}"))),
        };
        let no_host = || AgentError::Config(format!("--endpoint {endpoint_url} has no host"));
        let authority = uri.authority().ok_or_else(no_host)?;
        let authority = HeaderValue::from_str(authority.as_str()).map_err(|e| config(e.to_string()))?;
        let host = uri.host().ok_or_else(no_host)?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let tls = if https { Some(tls_connector(&host)?) } else { None };
        Ok(Arc::new(Self { host, port, authority, path, tls, idle: Mutex::new(Vec::new()) }))
    }

    pub(crate) fn authority(&self) -> &HeaderValue {
        &self.authority
    }

    /// POST `body` with `headers` (Content-Length is added) and read the answer.
    pub(crate) async fn post(&self, headers: &HeaderMap, body: &[u8]) -> io::Result<Response> {
        let mut request = Vec::with_capacity(256 + body.len() + headers.len() * 64);
        let _ = write!(request, "POST {} HTTP/1.1\r\n", self.path);
        for (name, value) in headers {
            request.extend_from_slice(name.as_str().as_bytes());
            request.extend_from_slice(b": ");
            request.extend_from_slice(value.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        let _ = write!(request, "content-length: {}\r\n\r\n", body.len());
        request.extend_from_slice(body);
        self.exchange(&request).await
    }

    /// Send `request` (a whole HTTP/1.1 request, head and body) and read the answer.
    async fn exchange(&self, request: &[u8]) -> io::Result<Response> {
        if let Some(conn) = self.take_idle() {
            match self.exchange_on(conn, request).await {
                Err(Failure::Unanswered(_)) => {}
                done => return done.map_err(Failure::into_error),
            }
        }
        self.exchange_on(self.connect().await?, request).await.map_err(Failure::into_error)
    }

    /// One exchange on `conn`, which goes back to the idle ones if it may be used again.
    async fn exchange_on(&self, mut conn: Conn, request: &[u8]) -> Result<Response, Failure> {
        let (resp, keep) = conn.exchange(request).await?;
        self.put_back(conn, keep);
        Ok(resp)
    }

    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < IDLE_FOR {
                return Some(conn);
            }
        }
        None
    }

    fn put_back(&self, conn: Conn, keep: bool) {
        if keep {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push((conn, Instant::now()));
            }
        }
    }

    async fn connect(&self) -> io::Result<Conn> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        // A request is written whole; nothing is gained by holding back its last segment.
        tcp.set_nodelay(true)?;
        let stream = match &self.tls {
            None => Stream::Plain(tcp),
            Some((connector, name)) => Stream::Tls(Box::new(connector.connect(name.clone(), tcp).await?)),
        };
        Ok(Conn { stream, buf: Vec::with_capacity(4096) })
    }
}

fn tls_connector(
    host: &str,
) -> Result<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>), AgentError> {
    let config_err = |e: String| AgentError::Config(format!("TLS: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        // A certificate the parser rejects is skipped, as hyper-rustls does.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(config_err(format!("no usable root certificates on this system ({:?})", found.errors)));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| config_err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name =
        rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|e| config_err(format!("{host}: {e}")))?;
    Ok((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
}

impl Stream {
    async fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(b).await,
            Stream::Tls(s) => {
                s.write_all(b).await?;
                s.flush().await
            }
        }
    }

    async fn read_buf(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read_buf(buf).await,
            Stream::Tls(s) => s.read_buf(buf).await,
        }
    }
}

fn invalid(m: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m.into())
}

impl Conn {
    /// One request and its answer; also whether the connection may be used again (only
    /// when the answer ended exactly where what was read ends).
    async fn exchange(&mut self, request: &[u8]) -> Result<(Response, bool), Failure> {
        self.buf.clear();
        self.stream.write_all(request).await.map_err(Failure::Unanswered)?;
        let (status, head_len, length, keep) = loop {
            if let Some(head) = parse_head(&self.buf).map_err(Failure::Broken)? {
                // An interim answer (100 Continue) is skipped.
                if (100..200).contains(&head.0) {
                    self.buf.drain(..head.1);
                    continue;
                }
                break head;
            }
            let read = self.more().await;
            // Nothing at all from the server: a kept connection it had closed.
            let fail = if self.buf.is_empty() { Failure::Unanswered } else { Failure::Broken };
            match read {
                Ok(0) => return Err(fail(io::ErrorKind::UnexpectedEof.into())),
                Ok(_) => {}
                Err(e) => return Err(fail(e)),
            }
        };
        let (body, end) = self.body(head_len, length).await.map_err(Failure::Broken)?;
        let keep = keep && length != BodyLength::UntilClose && end == self.buf.len();
        Ok((Response { status, body }, keep))
    }

    /// The body that starts at `at`, and where the message ends in the buffer.
    async fn body(&mut self, at: usize, length: BodyLength) -> io::Result<(Vec<u8>, usize)> {
        match length {
            BodyLength::Known(n) => {
                let end = at.checked_add(n).filter(|_| n <= MAX_RESPONSE).ok_or_else(|| invalid("answer too large"))?;
                while self.buf.len() < end {
                    self.read_some().await?;
                }
                Ok((self.buf[at..end].to_vec(), end))
            }
            BodyLength::Chunked => self.chunked(at).await,
            BodyLength::UntilClose => {
                while self.more().await? > 0 {}
                Ok((self.buf[at..].to_vec(), self.buf.len()))
            }
        }
    }

    /// Read what the server sent next into the buffer; 0 at its end.
    async fn more(&mut self) -> io::Result<usize> {
        if self.buf.len() > MAX_RESPONSE + 64 * 1024 {
            return Err(invalid("answer too large"));
        }
        self.buf.reserve(8192);
        self.stream.read_buf(&mut self.buf).await
    }

    /// A chunked body starting at `at`, decoded, and where it ends; the trailer is read
    /// and dropped.
    async fn chunked(&mut self, mut at: usize) -> io::Result<(Vec<u8>, usize)> {
        let mut body = Vec::new();
        loop {
            let (size_len, size) = loop {
                match httparse::parse_chunk_size(&self.buf[at..]) {
                    Ok(httparse::Status::Complete(c)) => break c,
                    Ok(httparse::Status::Partial) => self.read_some().await?,
                    Err(_) => return Err(invalid("bad chunk size")),
                }
            };
            at += size_len;
            let size = usize::try_from(size).ok().filter(|s| body.len() + s <= MAX_RESPONSE);
            let size = size.ok_or_else(|| invalid("answer too large"))?;
            if size == 0 {
                // Trailer fields, then the empty line.
                loop {
                    match self.buf[at..].windows(2).position(|w| w == b"\r\n") {
                        Some(0) => return Ok((body, at + 2)),
                        Some(i) => at += i + 2,
                        None => self.read_some().await?,
                    }
                }
            }
            while self.buf.len() < at + size + 2 {
                self.read_some().await?;
            }
            body.extend_from_slice(&self.buf[at..at + size]);
            at += size + 2;
        }
    }

    async fn read_some(&mut self) -> io::Result<()> {
        match self.more().await? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyLength {
    Known(usize),
    Chunked,
    UntilClose,
}

/// The answer's head, once whole: status, head length, how the body is delimited, and
/// whether the connection stays open.
fn parse_head(buf: &[u8]) -> io::Result<Option<(u16, usize, BodyLength, bool)>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(invalid(format!("bad answer: {e}"))),
    };
    let status = resp.code.unwrap_or(0);
    let mut keep = resp.version == Some(1);
    let mut length = BodyLength::UntilClose;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse().ok());
            length = BodyLength::Known(n.ok_or_else(|| invalid("bad Content-Length"))?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if h.value.split(|b| *b == b',').any(|v| v.trim_ascii().eq_ignore_ascii_case(b"chunked")) {
                length = BodyLength::Chunked;
            }
        } else if h.name.eq_ignore_ascii_case("connection") && h.value.trim_ascii().eq_ignore_ascii_case(b"close") {
            keep = false;
        }
    }
    // No body, whatever the headers say.
    if status == 204 || status == 304 {
        length = BodyLength::Known(0);
    }
    Ok(Some((status, head_len, length, keep)))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A server that answers each request on a connection with the next canned answer,
    /// then (if `close_after_each`) closes it.
    async fn serve(answers: Vec<&'static [u8]>, close_after_each: bool) -> (String, tokio::task::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut connections = 0;
            let mut answers = answers.into_iter();
            'accept: while answers.len() > 0 {
                let Ok((mut s, _)) = listener.accept().await else { break };
                connections += 1;
                while answers.len() > 0 {
                    let mut buf = vec![0u8; REQ.len()];
                    if s.read_exact(&mut buf).await.is_err() {
                        continue 'accept;
                    }
                    let Some(a) = answers.next() else { break 'accept };
                    s.write_all(a).await.unwrap();
                    s.flush().await.unwrap();
                    if close_after_each {
                        continue 'accept;
                    }
                }
            }
            connections
        });
        (uri, task)
    }

    const REQ: &[u8] = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\nx";

    #[tokio::test]
    async fn keeps_the_connection_for_the_next_call() {
        let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        let (uri, server) = serve(vec![ok, ok, ok], false).await;
        let http = Http::new(&uri).unwrap();
        for _ in 0..3 {
            let r = http.exchange(REQ).await.unwrap();
            assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        }
        drop(http);
        assert_eq!(server.await.unwrap(), 1, "three calls on one connection");
    }

    /// A kept connection the server closed is replaced, and the call still answers.
    #[tokio::test]
    async fn a_closed_idle_connection_is_replaced() {
        let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        let (uri, server) = serve(vec![ok, ok], true).await;
        let http = Http::new(&uri).unwrap();
        assert_eq!(http.exchange(REQ).await.unwrap().status, 200);
        assert_eq!(http.exchange(REQ).await.unwrap().status, 200);
        drop(http);
        assert_eq!(server.await.unwrap(), 2);
    }

    #[tokio::test]
    async fn chunked_and_error_answers() {
        let chunked: &[u8] =
            b"HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\nt: v\r\n\r\n";
        let (uri, _server) = serve(vec![chunked], false).await;
        let r = Http::new(&uri).unwrap().exchange(REQ).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (400, &br#"{"a":1}"#[..]));
    }

    #[tokio::test]
    async fn a_body_until_close_and_a_cut_answer() {
        let until_close: &[u8] = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nhello";
        let (uri, _server) = serve(vec![until_close], true).await;
        let r = Http::new(&uri).unwrap().exchange(REQ).await.unwrap();
        assert_eq!(r.body, b"hello");

        let cut: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc";
        let (uri, _server) = serve(vec![cut], true).await;
        let e = Http::new(&uri).unwrap().exchange(REQ).await.err().expect("a cut answer is an error");
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn heads() {
        let h = parse_head(b"HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n").unwrap().unwrap();
        assert_eq!((h.0, h.2, h.3), (204, BodyLength::Known(0), true));
        let h = parse_head(b"HTTP/1.0 200 OK\r\ncontent-length: 5\r\n\r\n").unwrap().unwrap();
        assert_eq!((h.2, h.3), (BodyLength::Known(5), false));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-le").unwrap().is_none());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n").is_err());
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }
}
