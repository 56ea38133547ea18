//! Keeping connections honest: a connection may not hold one of the server's file
//! descriptors forever. A new connection has `header_timeout` to send its first request
//! head, and a client that has sent part of a later head has as long to finish it
//! (silent sockets, slowloris); between requests, a kept-alive connection with nothing
//! arriving is closed after `idle_timeout` (AWS's load balancers close idle connections
//! after 60 s); a request body must arrive within `body_timeout`. A request
//! being answered is never cut: an agent's long poll holds its connection as long as the
//! poll lasts. Past `max_connections` new connections are closed at once, so the ones
//! being served keep their descriptors.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
}

/// What the watchdog of one connection reads: whether a request is being answered, when
/// the connection last became idle, and since when bytes of a next request have been
/// waiting without a complete head.
pub struct Activity {
    start: Instant,
    /// Whether a request has been read on this connection yet.
    served: std::sync::atomic::AtomicBool,
    in_flight: AtomicUsize,
    idle_since_ms: AtomicI64,
    /// -1: no bytes of a next request yet.
    head_since_ms: AtomicI64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            served: std::sync::atomic::AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicI64::new(0),
            head_since_ms: AtomicI64::new(-1),
        })
    }

    fn now_ms(&self) -> i64 {
        self.start.elapsed().as_millis() as i64
    }

    /// A request's head was read and it is being answered.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.served.store(true, Ordering::SeqCst);
        self.head_since_ms.store(-1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    fn bytes_arrived(&self) {
        if self.in_flight.load(Ordering::SeqCst) == 0 {
            let now = self.now_ms();
            let _ = self.head_since_ms.compare_exchange(-1, now, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    /// Resolves when the connection has broken one of the limits and should be closed.
    pub async fn expired(self: Arc<Self>, limits: Limits) {
        let tick = (limits.header_timeout.min(limits.idle_timeout) / 4).max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(tick).await;
            if self.in_flight.load(Ordering::SeqCst) > 0 {
                continue;
            }
            let now = self.now_ms();
            let head = self.head_since_ms.load(Ordering::SeqCst);
            if !self.served.load(Ordering::SeqCst) {
                // No request yet: the whole first head is due within the header timeout
                // of the connection's opening, whether or not any byte came.
                if now > limits.header_timeout.as_millis() as i64 {
                    return;
                }
            } else if head >= 0 {
                if now - head > limits.header_timeout.as_millis() as i64 {
                    return;
                }
            } else if now - self.idle_since_ms.load(Ordering::SeqCst) > limits.idle_timeout.as_millis() as i64 {
                return;
            }
        }
    }
}

/// Held while a request is answered; the connection is idle again when the last drops.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let now = self.0.now_ms();
        self.0.idle_since_ms.store(now, Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The connection's socket, noting when bytes arrive.
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Open connections, against `max_connections`.
#[derive(Default)]
pub struct Count(AtomicUsize);

impl Count {
    /// A place for one more connection, if there is one.
    pub fn take(self: &Arc<Self>, max: usize) -> Option<Slot> {
        let mut n = self.0.load(Ordering::SeqCst);
        loop {
            if n >= max {
                return None;
            }
            match self.0.compare_exchange(n, n + 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Some(Slot(self.clone())),
                Err(now) => n = now,
            }
        }
    }
}

pub struct Slot(Arc<Count>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0 .0.fetch_sub(1, Ordering::SeqCst);
    }
}
